"""People outside the directory who ask for an access package: they sign in with their own identity (their home
tenant, or a one-time passcode to their address) before any guest account exists; the request is kept against a
subject row with their address and identity, matched to a connected organization. When the request is approved
the guest is created already redeemed with that identity, in the delivery's transaction, and no invitation email
is sent: the person proved who they are when they asked. Under ``allExternalUsers`` an organization nobody
configured gets a ``proposed`` connected organization.

Self-service sign-up is the same path: a package whose policy (connected organization or all external users,
without approval for pre-authorised domains) bundles the groups and apps the sign-up grants; a policy with
approval stages is the approval queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.entitlements import EXTERNAL_SCOPES
from hospes.domain.errors import InvalidInputError, InvitationError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.invitation import InvitationRequest
from hospes.domain.principals import Principal
from hospes.services.b2b_policy import check_domain, load_policy
from hospes.services.base import Services, Write
from hospes.services.entitlement.audience import in_scope, org_for
from hospes.services.entitlement.common import CATEGORY, find, request_wire
from hospes.services.entitlement.notify import EmConfig
from hospes.services.invitations.guests import create_guest, initial_domain
from hospes.storage.tables import User
from hospes.storage.tables_entitlement import EmCatalog, EmConnectedOrg, EmPackage, EmPolicy, EmRequest, EmSubject


@dataclass(frozen=True)
class ExternalIdentity:
    """Who signed in on the request page: their address, and their home tenant or their organization's identity
    provider when they came through one."""

    email: str
    display_name: str | None
    home_tenant_id: str | None = None
    home_user_id: str | None = None
    federated: dict[str, Any] | None = None  # the identity an organization's own provider asserted

    @property
    def identity(self) -> dict[str, Any]:
        if self.federated:
            return self.federated
        if self.home_tenant_id and self.home_user_id:
            return {
                "signInType": "federated",
                "issuer": "ExternalAzureAD",
                "issuerAssignedId": f"{self.home_tenant_id}/{self.home_user_id}",
            }
        return {"signInType": "federated", "issuer": "mail", "issuerAssignedId": self.email.lower()}


def subject_for_email(op: Write, email: str, who: ExternalIdentity | None, org: EmConnectedOrg | None) -> EmSubject:
    """The subject of a person known by address: their guest's, if one exists, else a pre-guest row."""
    key = email.lower()
    tenant = op.actor.tenant_id
    guest = op.session.scalar(
        select(User).where(User.tenant_id == tenant, User.mail_key == key, User.deleted_at.is_(None))
    )
    if guest is not None:
        row = op.session.scalar(select(EmSubject).where(EmSubject.tenant_id == tenant, EmSubject.object_id == guest.id))
    else:
        row = op.session.scalar(
            select(EmSubject).where(
                EmSubject.tenant_id == tenant, EmSubject.object_id.is_(None), EmSubject.email == key
            )
        )
    if org is None:
        org = org_for(op.session, tenant, key, who.home_tenant_id if who else None)
    if row is None:
        row = EmSubject(
            id=new_id(),
            tenant_id=tenant,
            object_id=guest.id if guest is not None else None,
            email=key,
            display_name=(who.display_name if who else None) or (guest.display_name if guest else None) or key,
            principal_name=guest.user_principal_name if guest is not None else key,
            subject_type="user",
            lifecycle="notGoverned" if guest is not None else "notDefined",
            created_at=op.now,
        )
        op.session.add(row)
    if who is not None:
        row.identity, row.home_tenant_id = who.identity, who.home_tenant_id
        row.display_name = who.display_name or row.display_name
    row.connected_org_id = org.id if org is not None else row.connected_org_id
    op.session.flush()
    return row


def create_guest_for(op: Write, subject: EmSubject, request: EmRequest) -> User:
    """The guest of an approved external request, created redeemed with the identity the person signed in with
    (no invitation email; an administrator's add by address stays pending); the subject becomes governed. The
    tenant's allow and deny lists apply, and a tenant where nobody may invite fails the delivery with that reason."""
    tenant = op.actor.tenant_id
    email = subject.email or ""
    policy = load_policy(op.session, tenant)
    if policy.allow_invites_from == "none":
        raise InvitationError("DeliveryFailed: invitations are disabled in this tenant.")
    check_domain(op.session, tenant, email, policy=policy)
    changes: list[tuple[ChangeType, list[str]]] = []
    req = InvitationRequest(email=email, redirect_url="", display_name=subject.display_name)
    user = create_guest(op, req, initial_domain(op.session, tenant), changes)
    if subject.identity:
        # The person signed in to ask: that proof redeems the account. An administrator's add by address leaves it
        # pending until the person signs in (just in time, through any of the tenant's pages).
        user.external_user_state, user.external_user_state_changed_at = "Accepted", op.now
        user.identities = [*(user.identities or []), subject.identity]
    for change, properties in changes:
        op.change(ObjectType.USER, user.id, change, properties)
    subject.object_id, subject.lifecycle = user.id, "governed"
    subject.principal_name = user.user_principal_name
    if subject.connected_org_id is None:
        subject.connected_org_id = _proposed_org(op, email).id
    op.details["guestId"] = user.id
    return user


def _proposed_org(op: Write, email: str) -> EmConnectedOrg:
    domain = email.rpartition("@")[2].lower()
    org = EmConnectedOrg(
        id=new_id(),
        tenant_id=op.actor.tenant_id,
        display_name=domain,
        description="Proposed when a user of this domain was approved for an access package.",
        state="proposed",
        identity_sources=[
            {"@odata.type": "#microsoft.graph.domainIdentitySource", "domainName": domain, "displayName": domain}
        ],
        created_at=op.now,
        modified_at=op.now,
    )
    op.session.add(org)
    return org


class ExternalRequests(Services):
    """The request page of a package for people outside the directory (the Services actor is the system)."""

    def __init__(self, sessions: Any, tenant_id: str, config: EmConfig | None) -> None:
        super().__init__(sessions, Principal(tenant_id, "system", "", "My Access"))
        self.config = config

    def package(self, package_id: str) -> tuple[EmPackage, list[EmPolicy]]:
        """The package and its policies for people outside the directory; NotFound when it offers none (or its
        catalog is not visible outside)."""
        with self.read() as session:
            package = find(session, EmPackage, self.tenant_id, package_id)
            catalog = session.get(EmCatalog, package.catalog_id)
            policies = [
                p
                for p in session.scalars(select(EmPolicy).where(EmPolicy.package_id == package.id))
                if p.allowed_target_scope in EXTERNAL_SCOPES
                and p.settings["requestorSettings"].get("enableTargetsToSelfAddAccess")
            ]
            if catalog is None or not catalog.is_externally_visible or catalog.state != "published" or not policies:
                raise NotFoundError(package_id)
            return package, policies

    def applicable(self, package_id: str, who: ExternalIdentity) -> EmPolicy | None:
        from hospes.services.entitlement.requests import view

        _, policies = self.package(package_id)
        with self.read() as session:
            org = org_for(session, self.tenant_id, who.email, who.home_tenant_id)
            probe = EmSubject(
                id="",
                tenant_id=self.tenant_id,
                object_id=None,
                email=who.email,
                connected_org_id=org.id if org else None,
            )
            guest = session.scalar(
                select(User).where(
                    User.tenant_id == self.tenant_id, User.mail_key == who.email.lower(), User.deleted_at.is_(None)
                )
            )
            if guest is not None:
                if not guest.account_enabled:
                    return None  # a blocked guest cannot come back through a request
                probe.object_id = guest.id
            for policy in policies:
                if in_scope(session, self.tenant_id, view(policy), probe):
                    return policy
        return None

    def request(
        self, package_id: str, who: ExternalIdentity, justification: str | None, answers: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from hospes.domain.entitlements import RequestForm
        from hospes.services.entitlement.requests import RequestService

        policy = self.applicable(package_id, who)
        if policy is None:
            raise InvalidInputError("This access package cannot be requested with this account.")
        requests = RequestService(self.sessions, self.actor, config=self.config)
        with self.write(CATEGORY, "User requests access package assignment") as op:
            package = find(op.session, EmPackage, self.tenant_id, package_id)
            subject = subject_for_email(op, who.email, who, None)
            form = RequestForm(
                "userAdd",
                None,
                subject.object_id,
                who.email,
                package.id,
                policy.id,
                justification,
                answers,
                None,
                None,
                None,
            )
            request = requests.file(op, package, subject, form, policy)
            request.created_by_id, request.created_by_name = subject.object_id, subject.display_name
            op.target("AccessPackageAssignmentRequest", request.id)
            op.details.update(requestor=who.email, state=request.state)
            return request_wire(request, op.session)

    def mine(self, email: str) -> list[dict[str, Any]]:
        with self.read() as session:
            rows = session.scalars(
                select(EmRequest)
                .join(EmSubject, EmSubject.id == EmRequest.subject_id)
                .where(EmRequest.tenant_id == self.tenant_id, EmSubject.email == email.lower())
                .order_by(EmRequest.created_at.desc())
            )
            return [request_wire(r, session) for r in rows]
