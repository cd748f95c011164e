"""The authorization request's use case: check it, then decide for the signed-in user (or ask for a sign-in or
consent), and issue the code. The sign-in log records every decision that ends the request (its rows are
``sign_in_events.py``'s)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, bindparam, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.ca_evaluation import Decision as AccessDecision
from hospes.domain.ids import new_id
from hospes.services import sign_in_log
from hospes.services.access_decision import (
    AccessRequest,
    authorize_access,
    home_mfa_trusted,
    terms_required,
)
from hospes.services.guest_policy import load_guest_policy
from hospes.services.memberships import transitive_groups
from hospes.services.oidc.authorize import (
    CODE_LIFETIME,
    AuthorizationRequest,
    PageError,
    RedirectError,
    check_client,
    check_request,
    needs_login,
    new_code,
    scopes_of,
)
from hospes.services.oidc.claims import OidcTokens, is_assigned, is_guest, sign_in_name
from hospes.services.oidc.clients import RelyingParty, load_relying_party
from hospes.services.oidc.consent import grant_for_user, has_admin_consent, missing_consent
from hospes.services.oidc.hints import subject_of_hint
from hospes.services.oidc.sign_in_events import Caller, oidc_event, record_failure, record_request_failure
from hospes.services.redemption import MFA_METHODS
from hospes.storage.engine import raw_write
from hospes.storage.tables import Domain, Tenant, User
from hospes.storage.tables_sso import AuthorizationCode, SsoParticipant


@dataclass(frozen=True)
class SignedIn:
    """The browser's session at this tenant, as the page layer read it."""

    user: User
    sid: str
    auth_time: datetime
    amr: tuple[str, ...]


@dataclass(frozen=True)
class NeedLogin:
    hint: str | None


@dataclass(frozen=True)
class NeedConsent:
    app_name: str
    scopes: tuple[str, ...]  # what the page lists
    may_consent: bool  # False: a guest of a tenant whose administrator consented to nothing for this app


@dataclass(frozen=True)
class NeedMfa:
    """Conditional access wants a second factor the session lacks: ask for it, then come back."""


@dataclass(frozen=True)
class NeedTerms:
    """Conditional access wants these agreements accepted: show them, then come back."""

    agreements: tuple[str, ...]


@dataclass(frozen=True)
class Issued:
    code: str


Decision = NeedLogin | NeedConsent | NeedMfa | NeedTerms | Issued
AddressKind = Literal["member", "guest", "disabled", "tenant_domain", "external"]


@dataclass(frozen=True)
class AddressInfo:
    kind: AddressKind
    idp: str  # for the "not in this tenant" message: the address's home issuer, or its domain


_CODE_INSERT = insert(AuthorizationCode)
_PARTICIPANT = select(SsoParticipant.sid).where(
    SsoParticipant.sid == bindparam("sid"),
    SsoParticipant.app_id == bindparam("app_id"),
    SsoParticipant.protocol == bindparam("protocol"),
)
_PARTICIPANT_INSERT = insert(SsoParticipant)


class Authorizer:
    def __init__(self, sessions: sessionmaker[Session], tokens: OidcTokens) -> None:
        self.sessions, self.tokens = sessions, tokens
        self.engine: Engine = sessions.kw["bind"]

    # --- steps 1-5 ---------------------------------------------------------------------------------------------

    def check(
        self, tenant_id: str, params: dict[str, str], now: datetime, caller: Caller | None = None
    ) -> AuthorizationRequest:
        """Steps 2-5; a failure for a known client goes to the sign-in log (``caller`` given)."""
        try:
            with self.sessions() as session:
                request = check_request(session, tenant_id, params, now)
        except PageError as problem:
            if problem.client is not None and caller is not None:
                record_request_failure(
                    self.sessions, problem.client, params, now, caller, problem.code, problem.message
                )
            raise
        except RedirectError as problem:
            if caller is not None:
                with self.sessions() as session:
                    rp = load_relying_party(session, tenant_id, params.get("client_id", "")[:64])
                if rp is not None:
                    record_request_failure(self.sessions, rp, params, now, caller, problem.code, problem.message)
            raise
        hint = params.get("id_token_hint")
        if hint:
            sub = subject_of_hint(self.tokens.issuer, hint[:8192], tenant_id, request.client_id)
            if sub is None:
                raise RedirectError(
                    "invalid_request", 50133, "The id_token_hint is not a valid ID token of this tenant."
                )
            request = replace(request, hint_sub=sub)
        return request

    def trusted_target(self, tenant_id: str, params: dict[str, str]) -> str | None:
        """The redirect URI a failed request may be answered at (steps 2-3 passed), or None."""
        try:
            with self.sessions() as session:
                return check_client(session, tenant_id, params)[1]
        except PageError:
            return None

    def recheck(self, request: AuthorizationRequest) -> RelyingParty:
        """A sealed request coming back from a sign-in or consent page: the registration may have changed."""
        with self.sessions() as session:
            rp = load_relying_party(session, request.tenant_id, request.client_id)
        if rp is None:
            raise PageError(
                700016, f"Application with identifier '{request.client_id}' was not found in the directory."
            )
        if rp.platform_of(request.redirect_uri) is None:
            raise PageError(50011, "The redirect URI of the request is no longer registered for the application.")
        if not rp.account_enabled:
            raise RedirectError("unauthorized_client", 7000112, f"Application '{rp.client_id}' is disabled.")
        return rp

    # --- steps 6-11 --------------------------------------------------------------------------------------------

    def decide(
        self, request: AuthorizationRequest, signed_in: SignedIn | None, now: datetime, caller: Caller
    ) -> Decision:
        rp = self.recheck(request)
        try:
            return self._decide(rp, request, signed_in, now, caller)
        except RedirectError as problem:
            user = signed_in.user if signed_in is not None else None
            access = getattr(problem, "access", None)
            record_failure(self.sessions, rp, request, user, now, caller, problem.code, problem.message, access)
            raise

    def _decide(
        self, rp: RelyingParty, request: AuthorizationRequest, signed_in: SignedIn | None, now: datetime, caller: Caller
    ) -> Decision:
        login = signed_in is None or needs_login(request, signed_in.auth_time, now)
        if signed_in is not None and not login:
            login = self._other_account(request, rp, signed_in)
        if signed_in is not None and not login and is_guest(signed_in.user):
            login = signed_in.user.external_user_state not in (None, "Accepted")  # redeem on the way
        if login:
            if request.prompt == "none":
                raise RedirectError(
                    "login_required", 50058, "A silent sign-in request was sent but no user is signed in."
                )
            return NeedLogin(request.login_hint)
        assert signed_in is not None
        user = signed_in.user
        if not user.account_enabled or user.deleted_at is not None:
            raise PageError(50057, "The user account is disabled.")
        with self.sessions() as session:
            principals = {user.id, *transitive_groups(session, request.tenant_id, user.id)}
            if rp.assignment_required and not is_assigned(session, request.tenant_id, principals, rp.sp_id):
                raise RedirectError(
                    "access_denied",
                    50105,
                    f"The signed in user '{sign_in_name(user)}' is not assigned to a role for the application "
                    f"'{rp.client_id}' ({rp.display_name}).",
                )
            needed = self._consent(session, rp, request, user)
        if needed is not None:
            if request.prompt == "none":
                raise RedirectError(
                    "consent_required", 65001, "The user or administrator has not consented to use the application."
                )
            return needed
        with self.sessions() as session:  # step 12: conditional access
            access = authorize_access(
                session,
                AccessRequest(
                    request.tenant_id,
                    user,
                    now,
                    signed_in.amr,
                    signed_in.auth_time,
                    app_id=rp.client_id,
                    ip_address=caller.address,
                ),
                silent=request.prompt == "none",
            )
        if access.reauthenticate:
            return NeedLogin(request.login_hint)
        if "mfa" in access.required:
            return NeedMfa()
        if access.required:
            return NeedTerms(tuple(terms_required(access)))
        return Issued(self._issue(rp, request, signed_in, now, caller, access))

    def _consent(
        self, session: Session, rp: RelyingParty, request: AuthorizationRequest, user: User
    ) -> NeedConsent | None:
        scopes = scopes_of(session, request)
        needed = scopes.consent_needed()
        missing = missing_consent(session, request.tenant_id, rp.sp_id, user.id, needed)
        if not missing and not (request.prompt == "consent" and not request.consented):
            return None
        admin = has_admin_consent(session, request.tenant_id, rp.sp_id)
        listed = sorted({s for values in (missing or needed).values() for s in values})
        return NeedConsent(rp.display_name, tuple(listed), may_consent=not is_guest(user) or admin)

    def consent_needed(self, request: AuthorizationRequest, signed_in: SignedIn) -> NeedConsent | None:
        """What the consent page asks the signed-in user (None: nothing to ask)."""
        rp = self.recheck(request)
        with self.sessions() as session:
            return self._consent(session, rp, request, signed_in.user)

    def app_name(self, request: AuthorizationRequest) -> str:
        with self.sessions() as session:
            rp = load_relying_party(session, request.tenant_id, request.client_id)
        return rp.display_name if rp is not None else request.client_id

    def tenant_domains(self, tenant_id: str) -> set[str]:
        with self.sessions() as session:
            return set(session.scalars(select(Domain.name).where(Domain.tenant_id == tenant_id)))

    def _other_account(self, request: AuthorizationRequest, rp: RelyingParty, signed_in: SignedIn) -> bool:
        user = signed_in.user
        if (
            request.hint_sub is not None
            and self.tokens.pairwise(request.tenant_id, rp.client_id, user.id) != request.hint_sub
        ):
            return True
        hint = (request.login_hint or "").lower()
        return bool(hint) and hint not in {user.upn_key, (user.mail_key or ""), sign_in_name(user).lower()}

    def _issue(
        self,
        rp: RelyingParty,
        request: AuthorizationRequest,
        signed_in: SignedIn,
        now: datetime,
        caller: Caller,
        access: AccessDecision | None = None,
    ) -> str:
        code = new_code()
        user = signed_in.user
        # One raw write (compiled statements, no ORM unit of work): the code, the session's participation, the
        # sign-in row and the user's last sign-in.
        with raw_write(self.engine) as write:
            write.execute(
                _CODE_INSERT,
                {
                    "code_hash": hashlib.sha256(code.encode()).hexdigest(),
                    "tenant_id": request.tenant_id,
                    "client_id": rp.client_id,
                    "user_id": user.id,
                    "sid": signed_in.sid,
                    "redirect_uri": request.redirect_uri,
                    "scope": request.scope,
                    "nonce": request.nonce,
                    "code_challenge": request.code_challenge,
                    "auth_time": signed_in.auth_time,
                    "amr": list(signed_in.amr),
                    "family_id": new_id(),
                    "created_at": now,
                    "expires_at": now + CODE_LIFETIME,
                    "used_at": None,
                },
            )
            key = {"sid": signed_in.sid, "app_id": rp.client_id, "protocol": "oidc"}
            if write.one(_PARTICIPANT, key) is None:
                write.execute(
                    _PARTICIPANT_INSERT,
                    {
                        **key,
                        "tenant_id": request.tenant_id,
                        "user_id": user.id,
                        "name_id": None,
                        "name_id_format": None,
                        "session_index": None,
                        "created_at": now,
                    },
                )
            sign_in_log.add_raw(write, oidc_event(rp, request, user, now, caller, access=access))
        return code

    def consent(self, request: AuthorizationRequest, signed_in: SignedIn, now: datetime) -> AuthorizationRequest:
        """The user accepted the consent page: their own grant for what the request asks (never a tenant-wide one).
        A guest may do so only for an app an administrator consented to."""
        rp = self.recheck(request)
        user = signed_in.user
        with self.sessions.begin() as session:
            if is_guest(user) and not has_admin_consent(session, request.tenant_id, rp.sp_id):
                raise PageError(
                    90094,
                    "The application needs permissions that only an administrator of this organization can grant. "
                    "Ask your host's administrator to grant them.",
                )
            scopes = scopes_of(session, request)
            grant_for_user(session, request.tenant_id, rp.sp_id, user.id, scopes.consent_needed(), now)
        return replace(request, consented=True)

    def declined(
        self, request: AuthorizationRequest, signed_in: SignedIn, now: datetime, caller: Caller
    ) -> RedirectError:
        rp = self.recheck(request)
        problem = RedirectError("access_denied", 65004, "The user declined to consent to access the app.")
        record_failure(self.sessions, rp, request, signed_in.user, now, caller, problem.code, problem.message)
        return problem

    # --- a guest signed in at home ---------------------------------------------------------------------------------

    def guest_signed_in_at_home(self, tenant_id: str, home: SignedIn) -> SignedIn | None:
        """Single sign-on for guests: the browser's session is at the guest's home tenant (in this deployment), and
        this tenant has an accepted guest who redeemed with exactly that account. The guest is signed in here
        without a page, unless this tenant wants MFA from guests that the home session cannot vouch for (then the
        guest sign-in asks for it)."""
        home_user = home.user
        if home_user.tenant_id == tenant_id:
            return None
        wanted = {"signInType": "federated", "issuer": "ExternalAzureAD"}
        assigned = f"{home_user.tenant_id}/{home_user.id}"
        key = (home_user.mail_key or home_user.upn_key or "").lower()
        with self.sessions() as session:
            candidates = session.scalars(
                select(User).where(
                    User.tenant_id == tenant_id,
                    User.deleted_at.is_(None),
                    or_(User.mail_key == key, User.upn_key == key, User.mail_key == home_user.upn_key),
                )
            )
            guest = next(
                (
                    u
                    for u in candidates
                    if u.external_user_state == "Accepted"
                    and u.account_enabled
                    and any(
                        i.get("signInType") == wanted["signInType"]
                        and i.get("issuer") == wanted["issuer"]
                        and i.get("issuerAssignedId") == assigned
                        for i in u.identities or []
                    )
                ),
                None,
            )
            if guest is None:
                return None
            policy = load_guest_policy(session, tenant_id)
            trusted = home_mfa_trusted(session, tenant_id, home_user.tenant_id, setting=policy.trust_home_mfa)
        if policy.require_guest_mfa and not (trusted and MFA_METHODS & set(home.amr)):
            return None
        # The home tenant's second factor counts here only when this tenant trusts it (conditional access reads
        # the methods); otherwise the guest is asked for one here.
        amr = home.amr if trusted else tuple(m for m in home.amr if m not in MFA_METHODS)
        return SignedIn(guest, home.sid, home.auth_time, amr)

    # --- who is typing an address --------------------------------------------------------------------------------

    def classify(self, tenant_id: str, address: str, public_url: str) -> AddressInfo:
        key = address.strip().lower()[:256]
        domain = key.rpartition("@")[2]
        with self.sessions() as session:
            user = session.scalar(
                select(User)
                .where(
                    User.tenant_id == tenant_id,
                    User.deleted_at.is_(None),
                    or_(User.upn_key == key, User.mail_key == key),
                )
                .order_by(User.created_at)
                .limit(1)
            )
            home = session.get(Domain, domain) if domain else None
        if user is not None:
            if not user.account_enabled:
                return AddressInfo("disabled", domain)
            guest = is_guest(user) or user.creation_type == "Invitation"
            return AddressInfo("guest" if guest else "member", domain)
        if home is not None and home.tenant_id == tenant_id:
            return AddressInfo("tenant_domain", domain)
        idp = f"{public_url}/{home.tenant_id}/v2.0" if home is not None else domain
        return AddressInfo("external", idp)

    def not_in_tenant(
        self, request: AuthorizationRequest, address: str, info: AddressInfo, now: datetime, caller: Caller
    ) -> PageError:
        with self.sessions() as session:
            tenant = session.get(Tenant, request.tenant_id)
            rp = load_relying_party(session, request.tenant_id, request.client_id)
        name = tenant.display_name if tenant else request.tenant_id
        problem = PageError(
            50020,
            f"User account '{address}' from identity provider '{info.idp}' does not exist in tenant '{name}' and "
            f"cannot access the application '{request.client_id}'({rp.display_name if rp else ''}) in that tenant. "
            "The account needs to be added as an external user in the tenant first. Sign out and sign in again "
            "with a different account.",
        )
        if rp is not None:
            event = oidc_event(rp, request, None, now, caller, problem.code, problem.message, login_name=address)
            sign_in_log.record(self.sessions, event)
        return problem
