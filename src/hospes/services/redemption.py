"""Redeeming an invitation, and guests signing in later (just-in-time redemption). No HTTP here.

A *flow* is one browser's way through: it starts from a redeem link (``start_from_link``, which never consumes the
link) or from a guest giving their address on a tenant's page (``start_signin``). The guest then proves the
address, either at their home tenant (when the address's domain is a verified domain of another tenant of this
deployment: a signed, short-lived, single-use *return assertion* brings them back) or with an email one-time
passcode. A tenant may require MFA of guests; then ``accept`` records the redemption: ``externalUserState``
Accepted with its timestamp, the redeeming identity in ``identities``, the change log, the ticket consumed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import DecryptionError, SecretBox
from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.errors import InvitationError
from hospes.domain.ids import new_id
from hospes.domain.principals import Principal
from hospes.mail.i18n import choose_language
from hospes.mail.otp_mail import OtpMailData, build_otp_mail
from hospes.mail.outbox import enqueue
from hospes.services.b2b_policy import check_domain, load_policy
from hospes.services.base import Services
from hospes.services.email_otp import EmailOtpService, SendOutcome, VerifyOutcome
from hospes.services.invitations import tickets
from hospes.services.signin import audit_failure
from hospes.settings import Settings
from hospes.storage.tables import (
    AppRoleAssignment,
    B2BPolicy,
    Domain,
    GroupMember,
    Invitation,
    RedemptionTicket,
    ServicePrincipal,
    Tenant,
    User,
)
from hospes.storage.tables_redemption import GuestAccessPolicy, GuestFlow, UsedAssertion

FLOW_LIFETIME = timedelta(minutes=30)
ASSERTION_LIFETIME = timedelta(seconds=120)
_ASSERTION = "home-assertion"
MFA_METHODS = frozenset({"otp", "rc", "mfa"})

LinkStatus = Literal["ok", "unknown", "used", "expired", "revoked", "redeemed"]
Step = Literal["signin", "mfa", "consent", "finish"]


def flow_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def safe_redirect(url: str | None) -> str | None:
    """``inviteRedirectUrl`` checked again before the browser goes there: absolute http(s), a host, no
    credentials, no control characters or backslashes (``javascript:``, ``data:``, ``//evil`` are refused)."""
    if not url or len(url) > 2048 or any(ord(c) < 33 or c == "\\" for c in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    if not url.lower().startswith(("http://", "https://")):
        return None
    return url


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass(frozen=True)
class OrgView:
    id: str
    name: str
    domain: str
    privacy_url: str | None


@dataclass(frozen=True)
class LinkInfo:
    status: LinkStatus
    org: OrgView | None = None
    inviter: str | None = None  # who to ask for a new link
    email: str | None = None


@dataclass(frozen=True)
class GuestPolicy:
    email_otp: bool
    email_method_state: str
    allow_external_id_email_otp: str
    require_guest_mfa: bool
    trust_home_mfa: bool


@dataclass
class FlowView:
    """A detached copy of a flow row for the pages."""

    token_hash: str
    flow_id: str
    kind: str
    tenant_id: str | None
    user_id: str | None
    email: str
    invitation_id: str | None
    ticket_hash: str | None
    next_url: str | None
    verified_method: str | None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def amr(self) -> list[str]:
        return list(self.data.get("amr", []))


@dataclass(frozen=True)
class AppTile:
    id: str
    name: str
    launch: bool


class RedemptionRefusedError(Exception):
    """Accepting is not possible; ``reason`` picks the page's explanation."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def _view(row: GuestFlow) -> FlowView:
    return FlowView(
        row.token_hash,
        row.flow_id,
        row.kind,
        row.tenant_id,
        row.user_id,
        row.email,
        row.invitation_id,
        row.ticket_hash,
        row.next_url,
        row.verified_method,
        dict(row.data or {}),
    )


def org_view(session: Session, tenant: Tenant) -> OrgView:
    domains = list(session.scalars(select(Domain).where(Domain.tenant_id == tenant.id)))
    default = next((d.name for d in domains if d.is_default), None)
    initial = next((d.name for d in domains if d.is_initial), None)
    return OrgView(tenant.id, tenant.display_name, default or initial or "", tenant.privacy_statement_url)


def load_guest_policy(session: Session, tenant_id: str) -> GuestPolicy:
    row = session.get(GuestAccessPolicy, tenant_id)
    b2b = load_policy(session, tenant_id)
    allow = row.allow_external_id_email_otp if row else "default"
    # b2b_policies.email_otp_enabled is the one switch (the portal flips it too); this row only remembers how Graph
    # spelled "on" (default or enabled).
    if b2b.email_otp_enabled is False:  # None: no row yet, the default (on)
        allow = "disabled"
    elif allow == "disabled":
        allow = "enabled"
    return GuestPolicy(
        email_otp=allow != "disabled",
        email_method_state=row.email_method_state if row else "enabled",
        allow_external_id_email_otp=allow,
        require_guest_mfa=bool(row and row.require_guest_mfa),
        trust_home_mfa=bool(row and row.trust_home_mfa),
    )


def guest_policy_row(session: Session, tenant_id: str, now: datetime) -> GuestAccessPolicy:
    row = session.get(GuestAccessPolicy, tenant_id, with_for_update=True)
    if row is None:
        row = GuestAccessPolicy(
            tenant_id=tenant_id,
            email_method_state="enabled",
            allow_external_id_email_otp="default",
            require_guest_mfa=False,
            trust_home_mfa=False,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            found = session.get(GuestAccessPolicy, tenant_id, with_for_update=True)
            assert found is not None
            row = found
    return row


class GuestPolicyService(Services):
    """Guest sign-in settings of a tenant: for the Graph email method configuration and the admin portal."""

    def get(self) -> GuestPolicy:
        with self.read() as session:
            return load_guest_policy(session, self.tenant_id)

    def update(
        self,
        *,
        email_otp: str | None = None,
        email_method_state: str | None = None,
        require_guest_mfa: bool | None = None,
        trust_home_mfa: bool | None = None,
    ) -> GuestPolicy:
        """``email_otp``: allowExternalIdToUseEmailOtp (default | enabled | disabled)."""
        with self.write("Policy", "Update guest sign-in policy") as op:
            row = guest_policy_row(op.session, self.tenant_id, op.now)
            changed: list[str] = []
            if email_otp is not None:
                row.allow_external_id_email_otp = email_otp
                b2b = op.session.get(B2BPolicy, self.tenant_id)
                if b2b is None:
                    b2b = B2BPolicy(
                        tenant_id=self.tenant_id, allow_invites_from="everyone", domains=[], authorization_extra={}
                    )
                    op.session.add(b2b)
                b2b.email_otp_enabled = email_otp != "disabled"
                b2b.updated_at = op.now
                changed.append("allowExternalIdToUseEmailOtp")
            if email_method_state is not None:
                row.email_method_state = email_method_state
                changed.append("state")
            if require_guest_mfa is not None:
                row.require_guest_mfa = require_guest_mfa
                changed.append("requireGuestMfa")
            if trust_home_mfa is not None:
                row.trust_home_mfa = trust_home_mfa
                changed.append("trustHomeTenantMfa")
            row.updated_at = op.now
            op.target("Policy", "guestAccess", "Guest sign-in")
            op.details["modifiedProperties"] = changed
            op.session.flush()
            return load_guest_policy(op.session, self.tenant_id)


class RedemptionService:
    def __init__(
        self, sessions: sessionmaker[Session], box: SecretBox, otp: EmailOtpService, settings: Settings
    ) -> None:
        self.sessions, self.box, self.otp, self.settings = sessions, box, otp, settings

    # --- the link ------------------------------------------------------------------------------------------------

    def inspect_link(self, tenant_id: str, invitation_id: str, token: str, now: datetime) -> LinkInfo:
        """What a redeem link is now, without consuming it (a GET, or a mail scanner, changes nothing)."""
        if not token or len(token) > 128 or len(invitation_id) > 64:
            return LinkInfo("unknown")
        with self.sessions() as session:
            tenant = session.get(Tenant, tenant_id)
            row = session.scalar(
                select(RedemptionTicket).where(RedemptionTicket.token_hash == tickets.token_hash(token))
            )
            if tenant is None or row is None or row.tenant_id != tenant_id or row.invitation_id != invitation_id:
                return LinkInfo("unknown", org_view(session, tenant) if tenant else None)
            org = org_view(session, tenant)
            invitation = session.get(Invitation, invitation_id)
            inviter = self._inviter_name(session, invitation) if invitation else None
            email = invitation.email if invitation else None
            user = session.get(User, row.user_id)
            if user is None or user.deleted_at is not None or not user.account_enabled:
                return LinkInfo("unknown", org, inviter)
            if row.used_at is not None:
                return LinkInfo("used", org, inviter, email)
            if row.revoked_at is not None:
                return LinkInfo("revoked", org, inviter, email)
            if row.expires_at <= now:
                return LinkInfo("expired", org, inviter, email)
            return LinkInfo("ok", org, inviter, email)

    @staticmethod
    def _inviter_name(session: Session, invitation: Invitation) -> str | None:
        if invitation.inviter_type == "user" and invitation.inviter_id:
            inviter = session.get(User, invitation.inviter_id)
            if inviter is not None and inviter.deleted_at is None:
                name = inviter.display_name or inviter.user_principal_name
                return f"{name} <{inviter.mail}>" if inviter.mail else name
        return None

    def start_from_link(self, tenant_id: str, invitation_id: str, token: str, now: datetime) -> str | LinkInfo:
        """A new flow for a live link (the clear flow token for the cookie), or the link's state."""
        info = self.inspect_link(tenant_id, invitation_id, token, now)
        if info.status != "ok":
            return info
        with self.sessions.begin() as session:
            ticket = tickets.find_valid(session, tenant_id, invitation_id, token, now)
            invitation = session.get(Invitation, invitation_id)
            if ticket is None or invitation is None:
                return LinkInfo("unknown", info.org)
            return self._new_flow(
                session,
                kind="redeem",
                tenant_id=tenant_id,
                user_id=ticket.user_id,
                email=invitation.email,
                invitation_id=invitation.id,
                ticket_hash=ticket.token_hash,
                next_url=invitation.redirect_url,
                now=now,
            )

    def start_signin(self, tenant_id: str, email: str, next_url: str, now: datetime) -> str:
        """Just-in-time: a guest names their address on a tenant's page. An unknown address gets a flow too (and
        later a code page, but no email), so the page never tells whether the address has access."""
        email = email.strip()[:256]
        with self.sessions.begin() as session:
            user = self._guest_by_email(session, tenant_id, email)
            invitation_id = None
            if user is not None:
                invitation_id = session.scalar(
                    select(Invitation.id)
                    .where(Invitation.tenant_id == tenant_id, Invitation.invited_user_id == user.id)
                    .order_by(Invitation.created_at.desc())
                    .limit(1)
                )
            return self._new_flow(
                session,
                kind="signin",
                tenant_id=tenant_id,
                user_id=user.id if user else None,
                email=(user.mail if user and user.mail else email),
                invitation_id=invitation_id,
                ticket_hash=None,
                next_url=next_url,
                now=now,
            )

    def start_unsubscribe(self, email: str, now: datetime) -> str:
        with self.sessions.begin() as session:
            return self._new_flow(
                session,
                kind="unsubscribe",
                tenant_id=None,
                user_id=None,
                email=email.strip()[:256],
                invitation_id=None,
                ticket_hash=None,
                next_url=None,
                now=now,
            )

    @staticmethod
    def _guest_by_email(session: Session, tenant_id: str, email: str) -> User | None:
        key = email.lower()
        if "@" not in key:
            return None
        rows = session.scalars(
            select(User).where(
                User.tenant_id == tenant_id,
                User.deleted_at.is_(None),
                User.account_enabled.is_(True),
                or_(User.user_type == "Guest", User.creation_type == "Invitation"),
                or_(User.mail_key == key, User.upn_key == key),
            )
        )
        return next(iter(rows), None)

    @staticmethod
    def _new_flow(session: Session, *, now: datetime, **values: Any) -> str:
        token = secrets.token_urlsafe(32)
        # Opportunistic cleanup keeps the table small without a job.
        session.execute(delete(GuestFlow).where(GuestFlow.expires_at <= now))
        session.add(
            GuestFlow(
                token_hash=flow_hash(token),
                flow_id=new_id(),
                data={},
                created_at=now,
                expires_at=now + FLOW_LIFETIME,
                **values,
            )
        )
        return token

    # --- the flow ------------------------------------------------------------------------------------------------

    def load(self, token: str | None, now: datetime) -> FlowView | None:
        if not token or len(token) > 128:
            return None
        with self.sessions() as session:
            row = session.get(GuestFlow, flow_hash(token))
            if row is None or row.expires_at <= now:
                return None
            return _view(row)

    def by_flow_id(self, flow_id: str, now: datetime) -> FlowView | None:
        with self.sessions() as session:
            row = session.scalar(select(GuestFlow).where(GuestFlow.flow_id == flow_id[:64]))
            if row is None or row.expires_at <= now:
                return None
            return _view(row)

    def end(self, flow: FlowView) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(GuestFlow).where(GuestFlow.token_hash == flow.token_hash))

    def org(self, tenant_id: str) -> OrgView | None:
        with self.sessions() as session:
            tenant = session.get(Tenant, tenant_id)
            return org_view(session, tenant) if tenant else None

    def policy(self, tenant_id: str) -> GuestPolicy:
        with self.sessions() as session:
            return load_guest_policy(session, tenant_id)

    def user(self, user_id: str | None) -> User | None:
        if not user_id:
            return None
        with self.sessions() as session:
            return session.get(User, user_id)

    def home_tenant(self, email: str, resource_tenant_id: str | None) -> OrgView | None:
        """The tenant of this deployment owning the address's domain (verified), other than the resource tenant."""
        domain = email.rpartition("@")[2].lower()
        if not domain:
            return None
        with self.sessions() as session:
            owner = session.scalar(select(Domain.tenant_id).where(Domain.name == domain, Domain.is_verified))
            if owner is None or owner == resource_tenant_id:
                return None
            tenant = session.get(Tenant, owner)
            return org_view(session, tenant) if tenant else None

    def method(self, flow: FlowView) -> Literal["home", "otp"]:
        """How this flow proves the address. An accepted guest keeps the identity it redeemed with."""
        user = self.user(flow.user_id)
        issuers = {i.get("issuer") for i in (user.identities or [])} if user else set()
        if user is not None and user.external_user_state == "Accepted":
            if "mail" in issuers:
                return "otp"
            if "ExternalAzureAD" in issuers:
                return "home"
        return "home" if self.home_tenant(flow.email, flow.tenant_id) else "otp"

    def next_step(self, flow: FlowView) -> Step:
        if flow.verified_method is None:
            return "signin"
        user = self.user(flow.user_id)
        if user is None or flow.tenant_id is None:
            return "finish"  # signed in somewhere, but no guest of this tenant: finishing refuses it
        policy = self.policy(flow.tenant_id)
        if policy.require_guest_mfa and not flow.data.get("mfa"):
            trusted = flow.verified_method == "home" and policy.trust_home_mfa and bool(MFA_METHODS & set(flow.amr))
            if not trusted:
                return "mfa"
        if user.external_user_state != "Accepted":
            return "consent"
        return "finish"

    def _update(self, flow: FlowView, **values: Any) -> None:
        with self.sessions.begin() as session:
            row = session.get(GuestFlow, flow.token_hash, with_for_update=True)
            if row is None:
                return
            for key, value in values.items():
                setattr(row, key, value)

    def mark_mfa(self, flow: FlowView, method: str) -> None:
        self._update(flow, data={**flow.data, "mfa": True, "amr": [*flow.amr, method]})

    # --- email one-time passcode ---------------------------------------------------------------------------------

    def send_code(self, flow: FlowView, address: str, now: datetime) -> SendOutcome:
        """Issue a code and queue its email in one transaction. Unknown addresses get no email (same answer)."""
        with self.sessions.begin() as session:
            tenant = session.get(Tenant, flow.tenant_id) if flow.tenant_id else None
            user = session.get(User, flow.user_id) if flow.user_id else None
            deliverable = self._deliverable(session, flow, tenant, user)
            issued = self.otp.issue(
                session,
                flow_hash=flow.token_hash,
                tenant_id=flow.tenant_id,
                email=flow.email,
                deliverable=deliverable,
                address=address,
                now=now,
            )
            if issued.outcome != "sent" or issued.code is None or issued.code_id is None:
                return issued.outcome
            # From here on, known and unknown addresses take the same path (rendering included) so that the answer's
            # timing says little about whether the address has access; only the outbox row differs.
            invitation = session.get(Invitation, flow.invitation_id) if flow.invitation_id else None
            # The invitation email's order (seed 004): messageLanguage, the invitee's preferredLanguage, then the
            # inviting tenant's language.
            language = choose_language(
                invitation.language if invitation else None,
                (invitation.message_info or {}).get("messageLanguage") if invitation else None,
                user.preferred_language if user else None,
                tenant.preferred_language if tenant else None,
            )
            data = OtpMailData(
                code_id=issued.code_id,
                language=language,
                platform=self.settings.mail_platform_name,
                sender_address=self.settings.mail_from,
                org_name=tenant.display_name if tenant else self.settings.mail_platform_name,
                recipient=flow.email,
                code=issued.code,
                minutes=self.settings.email_otp_lifetime_minutes,
            )
            message = build_otp_mail(data, now)
            if not issued.deliver:
                return "sent"
            enqueue(
                session,
                message,
                envelope_from=self.settings.mail_from,
                recipients=[flow.email],
                kind="otp",
                tenant_id=flow.tenant_id,
                related_id=issued.code_id,
                now=now,
            )
            return "sent"

    @staticmethod
    def _deliverable(session: Session, flow: FlowView, tenant: Tenant | None, user: User | None) -> bool:
        if flow.kind == "unsubscribe":
            return "@" in flow.email and len(flow.email) <= 256 and not any(ord(c) < 33 for c in flow.email)
        return (
            tenant is not None
            and user is not None
            and user.tenant_id == tenant.id
            and user.deleted_at is None
            and user.account_enabled
            and load_guest_policy(session, tenant.id).email_otp
        )

    def verify_code(self, flow: FlowView, code: str, address: str, now: datetime) -> VerifyOutcome:
        outcome = self.otp.verify(flow.token_hash, flow.email, code, address, now)
        if outcome != "ok" and flow.tenant_id is not None:
            # Like failed passwords: the tenant's audit log shows guessing against its guests.
            audit_failure(
                self.sessions,
                flow.tenant_id,
                now,
                "Redeem external user invite" if flow.kind == "redeem" else "Sign in",
                f"email one-time passcode: {outcome}",
                login_name=flow.email,
                address=address,
            )
        if outcome == "ok":
            self._update(flow, verified_method="mail", verified_at=now, data={**flow.data, "amr": ["email"]})
        return outcome

    # --- home tenant round trip ----------------------------------------------------------------------------------

    def issue_assertion(self, flow: FlowView, home_user: User, amr: list[str], now: datetime) -> str | None:
        """Called on the home tenant's side for its signed-in user: a sealed statement "this flow's address signed
        in here, with these methods", for the resource tenant only, valid two minutes, usable once. None when the
        signed-in user is not the invited address."""
        email = flow.email.lower()
        if email not in {home_user.upn_key, (home_user.mail_key or "")} or flow.tenant_id is None:
            return None
        payload = {
            "flow": flow.flow_id,
            "home": home_user.tenant_id,
            "sub": home_user.id,
            "email": email,
            "amr": amr,
            "jti": secrets.token_hex(16),
            "exp": int((now + ASSERTION_LIFETIME).timestamp()),
        }
        return self.box.encrypt(_ASSERTION, json.dumps(payload).encode(), flow.tenant_id)

    def accept_assertion(self, flow: FlowView, assertion: str, now: datetime) -> bool:
        """Back at the resource tenant: the assertion must open with this tenant as context, name this browser's
        flow, be fresh and unused."""
        if flow.tenant_id is None or len(assertion) > 4096:
            return False
        try:
            payload = json.loads(self.box.decrypt(_ASSERTION, assertion, flow.tenant_id))
        except (DecryptionError, ValueError):
            return False
        if payload.get("flow") != flow.flow_id or payload.get("email") != flow.email.lower():
            return False
        expires = datetime.fromtimestamp(int(payload.get("exp", 0)), tz=now.tzinfo)
        if expires <= now:
            return False
        home = self.home_tenant(flow.email, flow.tenant_id)
        if home is None or home.id != payload.get("home"):
            return False
        try:
            with self.sessions.begin() as session:
                session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at <= now))
                session.add(UsedAssertion(jti=str(payload["jti"])[:64], expires_at=expires))
        except IntegrityError:
            return False  # replayed
        amr = [str(m) for m in payload.get("amr", [])][:8]
        self._update(
            flow,
            verified_method="home",
            verified_at=now,
            data={**flow.data, "amr": amr, "home": {"tenant": payload["home"], "user": payload["sub"]}},
        )
        return True

    # --- consent -------------------------------------------------------------------------------------------------

    def identity_of(self, flow: FlowView) -> dict[str, Any]:
        if flow.verified_method == "home":
            home = flow.data.get("home", {})
            return {
                "signInType": "federated",
                "issuer": "ExternalAzureAD",
                "issuerAssignedId": f"{home.get('tenant')}/{home.get('user')}",
            }
        return {"signInType": "federated", "issuer": "mail", "issuerAssignedId": flow.email.lower()}

    def redirect_target(self, flow: FlowView, fallback: str) -> str:
        if flow.kind == "redeem":
            return safe_redirect(flow.next_url) or fallback
        return flow.next_url or fallback

    def accept(self, flow: FlowView, now: datetime) -> User:
        """Record the redemption (one transaction: user, ticket, invitation, change log, audit)."""
        if flow.user_id is None or flow.tenant_id is None or flow.verified_method is None:
            raise RedemptionRefusedError("unknown")
        identity = self.identity_of(flow)
        actor = Principal(flow.tenant_id, "user", flow.user_id, flow.email)
        services = Services(self.sessions, actor, clock=lambda: now)
        with services.write("Invitation", "Redeem external user invite") as op:
            s = op.session
            user = s.get(User, flow.user_id, with_for_update=True)
            if user is None or user.tenant_id != flow.tenant_id or user.deleted_at is not None:
                raise RedemptionRefusedError("unknown")
            if not user.account_enabled:
                raise RedemptionRefusedError("disabled")
            # Collaboration restrictions may have changed since the invitation was sent.
            try:
                check_domain(s, flow.tenant_id, flow.email)
            except InvitationError as exc:
                raise RedemptionRefusedError("domain", exc.message) from None
            external = [i for i in user.identities or [] if i.get("signInType") == "federated"]
            same = any(
                i.get("issuer") == identity["issuer"] and i.get("issuerAssignedId") == identity["issuerAssignedId"]
                for i in external
            )
            if user.external_user_state == "Accepted" and external and not same:
                raise RedemptionRefusedError("other_identity")
            if flow.ticket_hash is not None:
                ticket = s.get(RedemptionTicket, flow.ticket_hash)
                if ticket is None or ticket.user_id != user.id or ticket.tenant_id != flow.tenant_id:
                    raise RedemptionRefusedError("unknown")
                if not tickets.consume_hash(s, flow.ticket_hash, now):
                    raise RedemptionRefusedError("used")
            else:
                # Just-in-time redemption: the emailed link has served its purpose.
                tickets.revoke_for_user(s, flow.tenant_id, user.id, now)
            changed: list[str] = []
            if user.external_user_state != "Accepted":
                user.external_user_state, user.external_user_state_changed_at = "Accepted", now
                changed += ["externalUserState", "externalUserStateChangeDateTime"]
            if not same:
                user.identities = [*(user.identities or []), identity]
                changed.append("identities")
            if changed:
                op.change(ObjectType.USER, user.id, ChangeType.UPDATED, changed)
            if flow.invitation_id:
                invitation = s.get(Invitation, flow.invitation_id)
                if invitation is not None and invitation.tenant_id == flow.tenant_id:
                    invitation.status, invitation.updated_at = "Completed", now
            op.target("User", user.id, user.user_principal_name)
            op.details.update({"identityIssuer": identity["issuer"], "invitationId": flow.invitation_id})
            s.execute(delete(GuestFlow).where(GuestFlow.token_hash == flow.token_hash))
            s.flush()
            s.expunge(user)
            return user

    def finish_signin(self, flow: FlowView, now: datetime) -> User:
        """An accepted guest signed in again (no consent): check the identity is the one recorded."""
        user = self.user(flow.user_id)
        if user is None or user.deleted_at is not None or not user.account_enabled:
            raise RedemptionRefusedError("unknown")
        if flow.ticket_hash is not None:
            return self.accept(flow, now)  # a newer link of an accepted guest: consume it, refresh nothing else
        identity = self.identity_of(flow)
        external = [i for i in user.identities or [] if i.get("signInType") == "federated"]
        if external and not any(
            i.get("issuer") == identity["issuer"] and i.get("issuerAssignedId") == identity["issuerAssignedId"]
            for i in external
        ):
            raise RedemptionRefusedError("other_identity")
        self.end(flow)
        return user

    # --- My Apps -------------------------------------------------------------------------------------------------

    def my_apps(self, tenant_id: str, user_id: str) -> list[AppTile]:
        """Applications assigned to the user directly or through groups (nested groups included)."""
        with self.sessions() as session:
            principals = {user_id}
            frontier = {user_id}
            while frontier:  # walk up nested group memberships
                parents = set(
                    session.scalars(
                        select(GroupMember.group_id).where(
                            GroupMember.tenant_id == tenant_id,
                            GroupMember.relation == "member",
                            GroupMember.member_id.in_(frontier),
                        )
                    )
                )
                frontier = parents - principals
                principals |= parents
            rows = session.scalars(
                select(ServicePrincipal)
                .join(AppRoleAssignment, AppRoleAssignment.resource_id == ServicePrincipal.id)
                .where(
                    AppRoleAssignment.tenant_id == tenant_id,
                    AppRoleAssignment.principal_id.in_(principals),
                    ServicePrincipal.tenant_id == tenant_id,
                    ServicePrincipal.account_enabled.is_(True),
                )
                .order_by(ServicePrincipal.display_name, ServicePrincipal.id)
            )
            seen: dict[str, AppTile] = {}
            for sp in rows:
                seen.setdefault(sp.id, AppTile(sp.id, sp.display_name, safe_redirect(sp.login_url) is not None))
            return list(seen.values())

    def launch_url(self, tenant_id: str, user_id: str, sp_id: str) -> str | None:
        if sp_id not in {tile.id for tile in self.my_apps(tenant_id, user_id)}:
            return None
        with self.sessions() as session:
            sp = session.get(ServicePrincipal, sp_id)
            return safe_redirect(sp.login_url) if sp else None
