"""Redeeming an invitation, and guests signing in later (just-in-time redemption). No HTTP here.

A *flow* (``services.guest_flows``) is one browser's way through: it starts from a redeem link (``start_from_link``,
which never consumes the link) or from a guest giving their address on a tenant's page (``start_signin``). The
guest then proves the address, either at their home tenant (when the address's domain is a verified domain of
another tenant of this deployment: ``services.home_assertion``) or with an email one-time passcode. A tenant may
require MFA of guests (``verify_guest_mfa``); then ``accept`` records the redemption: ``externalUserState``
Accepted with its timestamp, the redeeming identity in ``identities``, the change log, the ticket consumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import DecryptionError, SecretBox
from hospes.domain.ca_evaluation import BLOCKED, Decision
from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.clock import utcnow
from hospes.domain.errors import ConflictError, InvitationError
from hospes.domain.principals import Principal
from hospes.services import guest_signin_log
from hospes.services.access_decision import AccessRequest, decide, home_mfa_trusted
from hospes.services.b2b_policy import check_domain
from hospes.services.base import Services
from hospes.services.email_otp import EmailOtpService, SendOutcome, VerifyOutcome
from hospes.services.federated_signin import FederatedSignIn
from hospes.services.guest_flows import (
    FlowView,
    GuestFlows,
    GuestView,
    OrgView,
    guest_by_email,
    guest_view,
    org_view,
    safe_redirect,
)
from hospes.services.guest_passcode import GuestPasscodes
from hospes.services.guest_policy import GuestPolicy, load_guest_policy
from hospes.services.home_assertion import HomeAssertions
from hospes.services.invitations import tickets
from hospes.services.mfa import MfaService, new_totp_secret, provisioning_uri
from hospes.services.oidc_federation import OidcRelyingParty
from hospes.services.web_sessions import user_principal
from hospes.settings import Settings
from hospes.storage.tables import Invitation, RedemptionTicket, Tenant, User
from hospes.storage.tables_redemption import GuestFlow

MFA_METHODS = frozenset({"otp", "rc", "mfa"})
_ENROL = "guest-totp-enrol"

LinkStatus = Literal["ok", "unknown", "used", "expired", "revoked", "redeemed"]
Step = Literal["signin", "mfa", "consent", "finish", "blocked"]
# not_due: the flow is not at its MFA step (go on to where it is); restart: show the step again from the start (a
# set-up form of another flow, or an authenticator enrolled meanwhile in another tab).
MfaStatus = Literal["not_due", "locked", "verified", "enrolled", "invalid", "invalid_setup", "restart"]


@dataclass(frozen=True)
class LinkInfo:
    status: LinkStatus
    org: OrgView | None = None
    inviter: str | None = None  # who to ask for a new link
    email: str | None = None
    language: str | None = None  # the invitation's: its pages speak it until the guest picks another


def invitation_language(invitation: Invitation | None) -> str | None:
    """The language the invitation was written in (its email's, else the messageLanguage asked for)."""
    if invitation is None:
        return None
    asked = (invitation.message_info or {}).get("messageLanguage")
    return invitation.language or (asked if isinstance(asked, str) else None)


@dataclass(frozen=True)
class GuestEnrolment:
    secret: str
    sealed: str  # the secret sealed to the flow, carried by the set-up form
    uri: str  # otpauth:// URI for the QR code


@dataclass(frozen=True)
class MfaOutcome:
    status: MfaStatus
    recovery_codes: list[str] = field(default_factory=list)  # shown once, after a first enrolment


class RedemptionRefusedError(Exception):
    """Accepting is not possible; ``reason`` picks the page's explanation."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


class RedemptionService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox,
        otp: EmailOtpService,
        settings: Settings,
        mfa: MfaService,
        rp: OidcRelyingParty | None = None,
    ) -> None:
        self.sessions, self.box, self.otp, self.settings, self.mfa = sessions, box, otp, settings, mfa
        self.throttle = otp.throttle
        self.flows = GuestFlows(sessions)
        self.home = HomeAssertions(sessions, box, self.flows)
        self.passcodes = GuestPasscodes(sessions, otp, settings, self.flows)
        self.federation = FederatedSignIn(sessions, box, self.flows, settings.public_url, rp or OidcRelyingParty())

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
            lang = invitation_language(invitation)
            user = session.get(User, row.user_id)
            if user is None or user.deleted_at is not None or not user.account_enabled:
                return LinkInfo("unknown", org, inviter, language=lang)
            if row.used_at is not None:
                return LinkInfo("used", org, inviter, email, lang)
            if row.revoked_at is not None:
                return LinkInfo("revoked", org, inviter, email, lang)
            if row.expires_at <= now:
                return LinkInfo("expired", org, inviter, email, lang)
            return LinkInfo("ok", org, inviter, email, lang)

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
            return self.flows.start(
                session,
                kind="redeem",
                tenant_id=tenant_id,
                user_id=ticket.user_id,
                email=invitation.email,
                invitation_id=invitation.id,
                ticket_hash=ticket.token_hash,
                next_url=invitation.redirect_url,
                data={"lang": invitation_language(invitation)},
                now=now,
            )

    def start_signin(self, tenant_id: str, email: str, next_url: str, now: datetime) -> str:
        """Just-in-time: a guest names their address on a tenant's page. An unknown address gets a flow too (and
        later a code page, but no email), so the page never tells whether the address has access."""
        email = email.strip()[:256]
        with self.sessions.begin() as session:
            user = guest_by_email(session, tenant_id, email)
            invitation_id = None
            if user is not None:
                invitation_id = session.scalar(
                    select(Invitation.id)
                    .where(Invitation.tenant_id == tenant_id, Invitation.invited_user_id == user.id)
                    .order_by(Invitation.created_at.desc())
                    .limit(1)
                )
            return self.flows.start(
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
            return self.flows.start(
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

    # --- the flow ------------------------------------------------------------------------------------------------

    def load(self, token: str | None, now: datetime) -> FlowView | None:
        return self.flows.load(token, now)

    def end(self, flow: FlowView) -> None:
        self.flows.end(flow)

    def org(self, tenant_id: str) -> OrgView | None:
        with self.sessions() as session:
            tenant = session.get(Tenant, tenant_id)
            return org_view(session, tenant) if tenant else None

    def policy(self, tenant_id: str) -> GuestPolicy:
        with self.sessions() as session:
            return load_guest_policy(session, tenant_id)

    def guest(self, user_id: str | None) -> GuestView | None:
        user = self._user(user_id)
        return guest_view(user) if user else None

    def guest_language(self, tenant_id: str, user_id: str) -> str | None:
        """The language of the guest's latest invitation, for the pages after they sign in."""
        with self.sessions() as session:
            invitation = session.scalar(
                select(Invitation)
                .where(Invitation.tenant_id == tenant_id, Invitation.invited_user_id == user_id)
                .order_by(Invitation.created_at.desc())
                .limit(1)
            )
            return invitation_language(invitation)

    def _user(self, user_id: str | None) -> User | None:
        if not user_id:
            return None
        with self.sessions() as session:
            return session.get(User, user_id)

    def method(self, flow: FlowView) -> Literal["home", "federation", "otp"]:
        """How this flow proves the address. An accepted guest keeps the identity it redeemed with; others follow
        the tenant's redemption order (a tenant of this deployment, the federation of the address's domain)."""
        user = self._user(flow.user_id)
        issuers = {i.get("issuer") for i in (user.identities or [])} if user else set()
        assert flow.tenant_id is not None
        if user is not None and user.external_user_state == "Accepted":
            if "mail" in issuers:
                return "otp"
            if "ExternalAzureAD" in issuers:
                return "home"
            if any(self.federation.by_issuer(flow.tenant_id, str(i)) for i in issuers if i):
                return "federation"
        for step in self.federation.precedence(flow.tenant_id):
            if step == "azureActiveDirectory" and self.home.home_tenant(flow.email, flow.tenant_id):
                return "home"
            if step == "externalFederation" and self.federation.for_address(flow.tenant_id, flow.email):
                return "federation"
        return "otp"

    def methods_here(self, flow: FlowView) -> list[str]:
        """What this tenant counts of the guest's sign-in, as a session's methods: the first factor, a second
        factor given here (``otp``), and ``mfa`` when the home tenant's or the provider's MFA is trusted. Factors
        done at home that this tenant doesn't trust are left out, so no later sign-in in the session counts them."""
        assert flow.tenant_id is not None
        methods = ["email" if flow.verified_method == "mail" else "pwd"]
        if flow.data.get("mfa"):
            methods.append("otp")
        if flow.verified_method == "oidc" and "mfa" in flow.amr:
            methods.append("mfa")
        home_mfa = flow.verified_method == "home" and bool(MFA_METHODS & set(flow.amr))
        setting = self.policy(flow.tenant_id).trust_home_mfa
        home = self.home.home_tenant(flow.email, flow.tenant_id) if home_mfa and not setting else None
        with self.sessions() as session:
            if home_mfa and home_mfa_trusted(session, flow.tenant_id, home.id if home else None, setting=setting):
                methods.append("mfa")
        return methods

    def access(self, flow: FlowView, user: User, address: str | None = None) -> Decision:
        """The tenant's conditional access for this guest's sign-in. The home tenant's MFA counts only when the
        tenant trusts it (a federated claim was weighed when it arrived: ``mfa`` in the flow's methods)."""
        assert flow.tenant_id is not None
        now = utcnow()  # the flow knows no earlier time of its methods: they count as just done
        methods = self.methods_here(flow)
        with self.sessions() as session:
            signed_home = guest_signin_log.signed_home(flow)
            request = AccessRequest(flow.tenant_id, user, now, methods, now, ip_address=address, home=signed_home)
            return decide(session, request)

    def log_sign_in(self, flow: FlowView, address: str | None, user_agent: str | None) -> int:
        """The sign-in log row of a guest's sign-in here: refused by conditional access (``next_step`` said
        "blocked"), or about to finish. The refusal's AADSTS code (0 for a success)."""
        user = self._user(flow.user_id)
        if user is None or flow.tenant_id is None:
            return BLOCKED
        decision = self.access(flow, user, address)
        guest_signin_log.record(
            self.sessions, flow, user, decision, at=utcnow(), address=address, user_agent=user_agent
        )
        return (decision.error_code or BLOCKED) if decision.blocked else 0

    def next_step(self, flow: FlowView, address: str | None = None) -> Step:
        if flow.verified_method is None:
            return "signin"
        user = self._user(flow.user_id)
        if user is None or flow.tenant_id is None:
            return "finish"  # signed in somewhere, but no guest of this tenant: finishing refuses it
        decision = self.access(flow, user, address)
        if decision.blocked:
            return "blocked"
        if "mfa" in decision.required:
            return "mfa"
        if user.external_user_state != "Accepted":
            return "consent"
        return "finish"

    # --- email one-time passcode ---------------------------------------------------------------------------------

    def send_code(self, flow: FlowView, address: str, now: datetime) -> SendOutcome:
        return self.passcodes.send_code(flow, address, now)

    def verify_code(self, flow: FlowView, code: str, address: str, now: datetime) -> VerifyOutcome:
        return self.passcodes.verify_code(flow, code, address, now)

    # --- MFA for guests -------------------------------------------------------------------------------------------

    def guest_enrolment(self, flow: FlowView, sealed: str | None, issuer: str) -> GuestEnrolment | None:
        """The authenticator set-up shown to a guest without one; None when the guest has one (the step asks for its
        code). Nothing is stored before the first code works: the secret travels in the page's form, sealed to this
        flow; ``sealed`` (sent back by a form) shows the same secret again. Raises ``DecryptionError`` for a sealed
        secret of another flow."""
        if flow.user_id is None or self.mfa.is_enrolled(flow.user_id):
            return None
        if sealed is None:
            secret = new_totp_secret()
            sealed = self.box.encrypt(_ENROL, secret.encode(), flow.token_hash)
        else:
            secret = self.box.decrypt(_ENROL, sealed, flow.token_hash).decode()
        return GuestEnrolment(secret, sealed, provisioning_uri(secret, flow.email, issuer))

    def verify_guest_mfa(
        self, flow: FlowView, code: str, address: str, now: datetime, sealed: str | None = None
    ) -> MfaOutcome:
        """The MFA step: the code of the guest's authenticator (or a recovery code), or, with ``sealed`` from the
        set-up form, the first code of a new authenticator. Failures count against the guest and the client address
        like second-factor failures at sign-in."""
        if self.next_step(flow, address) != "mfa" or flow.user_id is None:
            return MfaOutcome("not_due")
        scopes = (self.throttle.codes(flow.user_id), self.throttle.address(address))
        if self.throttle.locked_until(now, *scopes) is not None:
            return MfaOutcome("locked")
        if self.mfa.is_enrolled(flow.user_id):
            method = self.mfa.verify_any(flow.user_id, code, now)
            if method is None:
                self.throttle.failure(now, *scopes)
                return MfaOutcome("invalid")
            self.throttle.success(*scopes)
            self._mark_mfa(flow, method)
            return MfaOutcome("verified")
        user = self._user(flow.user_id)
        if sealed is None or user is None:
            return MfaOutcome("restart")
        try:
            secret = self.box.decrypt(_ENROL, sealed, flow.token_hash).decode()
            codes = self.mfa.enrol(user_principal(user), secret, code, now)
        except (DecryptionError, ConflictError):  # a set-up form of another flow; enrolled meanwhile
            return MfaOutcome("restart")
        if codes is None:
            self.throttle.failure(now, *scopes)
            return MfaOutcome("invalid_setup")
        self.throttle.success(*scopes)
        self._mark_mfa(flow, "otp")
        return MfaOutcome("enrolled", codes)

    def _mark_mfa(self, flow: FlowView, method: str) -> None:
        self.flows.update(flow, data={**flow.data, "mfa": True, "amr": [*flow.amr, method]})

    # --- consent -------------------------------------------------------------------------------------------------

    def identity_of(self, flow: FlowView) -> dict[str, Any]:
        if flow.verified_method in ("saml", "oidc"):
            federated = flow.data.get("federated") or {}
            return {
                "signInType": "federated",
                "issuer": federated.get("issuer"),
                "issuerAssignedId": federated.get("sub"),
            }
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

    def accept(self, flow: FlowView, now: datetime) -> GuestView:
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
            return guest_view(user)

    def finish_signin(self, flow: FlowView, now: datetime) -> GuestView:
        """An accepted guest signed in again (no consent): check the identity is the one recorded."""
        user = self._user(flow.user_id)
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
        return guest_view(user)
