"""Users another tenant synchronizes into this one (cross-tenant synchronization), written in this tenant's own
transactions: rows, change log and audit like any other write, the actor a system principal that names the source
tenant. Each write checks again, inside its transaction, that the pair still allows synchronization
(``sync_refusal``), so a target that withdraws its permission stops the next write, not only the next cycle.

A synchronized user is an already-redeemed B2B user: ``externalUserState`` Accepted, no invitation, no email, no
consent page; it signs in at its home tenant (its identity names the source tenant and user). ``alt_sec_id`` is
its anchor, the source user's immutable id; it never changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hospes.domain.alt_sec_id import HOME_ISSUER
from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.errors import ConflictError, DomainError, ForbiddenError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.principals import Principal
from hospes.domain.schema import USER
from hospes.services.base import Services, Write
from hospes.services.cross_tenant_policy import POLICY_CHECK_FAILURE, inbound_refusal, sync_refusal
from hospes.services.invitations.guests import guest_upn, initial_domain
from hospes.services.users import UPN_CONFLICT, UserService
from hospes.services.web_sessions import revoke_user_sessions
from hospes.storage.tables import Domain, Tenant, User

MANAGER_ANCHOR = "manager_anchor"  # in ``values``: the manager by its anchor, resolved inside the write


class SyncRefusedError(ForbiddenError):
    """The target tenant does not (or no longer) allow the source to synchronize users into it."""

    code = POLICY_CHECK_FAILURE


class DeletedInTargetError(DomainError):
    """The target tenant's admin deleted the synchronized user: synchronization does not bring it back (a user
    that synchronization itself soft-deleted is restored when it returns into scope)."""

    code = "Request_ResourceNotFound"


def sync_actor(target_tenant_id: str, source_name: str) -> Principal:
    return Principal(
        tenant_id=target_tenant_id,
        kind="system",
        id="",
        display_name=f"Cross-tenant synchronization from {source_name}"[:256],
    )


def is_synchronized(user: User) -> bool:
    return user.alt_sec_id is not None


@dataclass
class SyncedUsers(Services):
    """Acts in the target tenant (``actor.tenant_id``) for ``source_tenant``."""

    source_tenant: str = ""
    # The source tenant lives in another deployment (its invitations come over Graph): only this tenant's half of
    # the policy is checked here, the source checks its own.
    remote: bool = False

    def check(self) -> None:
        """Raise ``SyncRefusedError`` unless the pair allows synchronization now."""
        with self.read() as session:
            self._check(session)

    def _check(self, session: Session) -> None:
        if session.get(Tenant, self.tenant_id) is None:
            raise NotFoundError(self.tenant_id)
        if self.remote:
            refusal = inbound_refusal(session, self.source_tenant, self.tenant_id)
        else:
            refusal = sync_refusal(session, self.source_tenant, self.tenant_id)
        if refusal is not None:
            raise SyncRefusedError(refusal)

    # -- reads --------------------------------------------------------------------------------------------------

    def by_anchor(self, session: Session, anchor: str) -> User | None:
        """The user synchronized for ``anchor``, soft-deleted ones included (a return restores it)."""
        return session.scalar(select(User).where(User.tenant_id == self.tenant_id, User.alt_sec_id == anchor))

    def by_id(self, session: Session, user_id: str) -> User | None:
        return session.scalar(select(User).where(User.tenant_id == self.tenant_id, User.id == user_id))

    def guest_for_mail(self, session: Session, mail: str, source_user_id: str) -> User | None:
        """An existing B2B user of this tenant with ``mail`` that no synchronization owns yet: synchronization
        links it instead of creating a second user. Internal members are never matched, and only a guest that is
        the source's own person: redeemed at the source as that user, or never redeemed with an address in a
        verified domain of the source. (A source administrator chooses its users' mail: matching on it alone
        would hand the source, and its later updates and deletions, any guest of this tenant.)"""
        rows = session.scalars(
            select(User)
            .where(
                User.tenant_id == self.tenant_id,
                User.mail_key == mail.lower(),
                User.alt_sec_id.is_(None),
                User.deleted_at.is_(None),
                (User.user_type == "Guest") | (User.creation_type == "Invitation"),
            )
            .order_by(User.created_at)
        )
        home = f"{self.source_tenant}/{source_user_id}"
        domain = mail.rpartition("@")[2].lower()
        source_domain = session.scalar(
            select(Domain.name).where(
                Domain.tenant_id == self.source_tenant, Domain.name == domain, Domain.is_verified.is_(True)
            )
        )
        for user in rows:
            federated = [i for i in user.identities or [] if i.get("signInType") == "federated"]
            if any(i.get("issuer") == HOME_ISSUER and i.get("issuerAssignedId") == home for i in federated):
                return user
            if not federated and user.external_user_state != "Accepted" and source_domain is not None:
                return user
        return None

    def synchronized(self, session: Session) -> Iterator[User]:
        yield from session.scalars(
            select(User)
            .where(User.tenant_id == self.tenant_id, User.alt_sec_id.is_not(None))
            .execution_options(yield_per=500)
        )

    # -- writes -------------------------------------------------------------------------------------------------

    def _begin(self, op: Write) -> None:
        """Checks and reads of a write run after the tenant's writer lock: a manager and its report created by
        two concurrent writes then always see each other (one of them resolves the reference)."""
        op.order_now()
        # Group-committed writes share a transaction: the pair's policy is read once for all of them.
        allowed = op.session.info.setdefault("hospes.sync_allowed", set())
        key = (self.source_tenant, self.tenant_id, self.remote)
        if key not in allowed:
            self._check(op.session)
            allowed.add(key)

    def _manager(self, session: Session, values: dict[str, Any]) -> None:
        """``manager_anchor`` (the manager's anchor, or None to clear) -> ``manager_id``; a manager that is not
        synchronized (yet) leaves the reference as it is."""
        if MANAGER_ANCHOR not in values:
            return
        anchor = values.pop(MANAGER_ANCHOR)
        if anchor is None:
            values["manager_id"] = None
            return
        manager = self.by_anchor(session, anchor)
        if manager is not None and manager.deleted_at is None:
            values["manager_id"] = manager.id

    def create(
        self, anchor: str, source_user_id: str, values: dict[str, Any], reports: list[str] | None = None
    ) -> User:
        """A new, already-redeemed B2B user. ``values``: storage attributes; ``user_principal_name`` is the
        source's, from which (or from the mail) the guest UPN of this tenant is made. ``reports``: the anchors of
        the source user's direct reports; those already synchronized without a manager get this user as theirs
        (a manager synchronized after its reports)."""
        values = dict(values)
        with self.write("UserManagement", "Add user") as op:
            self._begin(op)
            self._manager(op.session, values)
            address = values.get("mail") or values.get("user_principal_name")
            if not address or "@" not in str(address):
                raise InvalidInputError("A synchronized user needs a mail or userPrincipalName.", target="mail")
            domain = initial_domain(op.session, self.tenant_id)
            upn = guest_upn(str(address), domain)
            fields = {k: v for k, v in values.items() if k not in ("user_principal_name", "user_type")}
            fields.setdefault("account_enabled", True)
            user = User(
                id=new_id(),
                tenant_id=self.tenant_id,
                created_at=op.now,
                user_principal_name=upn,
                upn_key=upn.lower(),
                mail_nickname=str(address).replace("@", "_")[:59] + "#EXT#",
                user_type=values.get("user_type") or "Member",
                external_user_state="Accepted",
                external_user_state_changed_at=op.now,
                creation_type="Invitation",
                identities=[
                    {
                        "signInType": "federated",
                        "issuer": HOME_ISSUER,
                        "issuerAssignedId": f"{self.source_tenant}/{source_user_id}",
                    }
                ],
                alt_sec_id=anchor,
                **fields,
            )
            if user.user_type not in ("Member", "Guest"):
                raise InvalidInputError("Invalid value specified for property 'userType'.", target="userType")
            user.mail_key = user.mail.lower() if user.mail else None
            user.display_name = user.display_name or str(address).partition("@")[0]
            taken = op.session.scalar(
                select(User.id).where(User.tenant_id == self.tenant_id, User.upn_key == upn.lower())
            )
            if taken:
                raise ConflictError(UPN_CONFLICT, target="userPrincipalName")
            try:
                with op.session.begin_nested():
                    op.session.add(user)
                    op.session.flush()
            except IntegrityError:
                # The unique (tenant, UPN) and (tenant, anchor) indexes decide a race of two creates of the same
                # user (a cycle and an on-demand run): the loser matches and links the winner's user.
                raise ConflictError(UPN_CONFLICT, target="userPrincipalName") from None
            op.target("User", user.id, upn)
            op.details["source"] = self.source_tenant
            op.change(ObjectType.USER, user.id, ChangeType.CREATED, [p.name for p in USER.props])
            if reports:
                waiting = op.session.scalars(
                    select(User).where(
                        User.tenant_id == self.tenant_id,
                        User.alt_sec_id.in_(reports),
                        User.manager_id.is_(None),
                        User.deleted_at.is_(None),
                    )
                )
                for report in waiting:
                    report.manager_id = user.id
                    op.change(ObjectType.USER, report.id, ChangeType.UPDATED, ["manager"])
            return user

    def update(self, user_id: str, values: dict[str, Any], *, anchor: str | None = None, restore: bool = False) -> User:
        """Apply ``values`` (storage attributes); ``anchor`` links a matched guest; ``restore`` brings a
        soft-deleted synchronized user back first (a soft-deleted user is otherwise not found)."""
        values = dict(values)
        with self.write("UserManagement", "Update user") as op:
            self._begin(op)
            self._manager(op.session, values)
            user = self.by_id(op.session, user_id)
            if user is None:
                raise NotFoundError(user_id)
            if user.deleted_at is not None and not restore:
                raise DeletedInTargetError(
                    f"User '{user.user_principal_name}' was deleted in the target tenant; synchronization does not "
                    "restore it."
                )
            changed: list[str] = []
            if user.deleted_at is not None:
                UserService(self.sessions, self.actor).restore(op, user)
                changed.append("deletedDateTime")
            op.target("User", user.id, user.user_principal_name)
            changed += op.record_changes(user, values, {p.attr: p.name for p in USER.props if p.attr})
            for attr, value in values.items():
                setattr(user, attr, value)
            if "mail" in values:
                user.mail_key = user.mail.lower() if user.mail else None
            if anchor is not None and user.alt_sec_id is None:
                user.alt_sec_id = anchor
            if user.external_user_state != "Accepted":
                user.external_user_state, user.external_user_state_changed_at = "Accepted", op.now
                changed.append("externalUserState")
            if not user.account_enabled:
                revoke_user_sessions(op.session, user.id, op.now)
            op.details["modifiedProperties"] = changed
            op.details["source"] = self.source_tenant
            if changed:
                op.change(ObjectType.USER, user.id, ChangeType.UPDATED, changed)
            return user

    def soft_delete(self, user_id: str) -> None:
        """Into deleted items: a return of the source user within the retention restores the same user."""
        with self.write("UserManagement", "Delete user") as op:
            self._begin(op)
            user = self.by_id(op.session, user_id)
            if user is None or user.deleted_at is not None:
                return  # already gone: deleting again is not an error for synchronization
            self._delete(op, user)

    @staticmethod
    def _delete(op: Write, user: User) -> None:
        op.target("User", user.id, user.user_principal_name)
        user.deleted_at = op.now
        revoke_user_sessions(op.session, user.id, op.now)
        op.change(ObjectType.USER, user.id, ChangeType.DELETED)
