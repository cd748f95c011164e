"""The token grants (client credentials, password): authenticate the caller and mint an access token.

Passwords and client secrets are checked only by ``hospes.services.signin``, which owns the lockout and the audit
rows of failures; the errors here carry the AADSTS codes Entra answers with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy import Engine, bindparam, select, union_all
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.tokens import GRAPH_AUDIENCE, TokenIssuer
from hospes.services import sign_in_log
from hospes.services.access_decision import AccessRequest, decide
from hospes.services.access_rules import rules_of
from hospes.services.graph_permissions import read_granted_permissions
from hospes.services.signin import ClientIdentity, ClientSecretSignIn, PasswordSignIn
from hospes.services.tenants import resolve_tenant
from hospes.services.token_access import refusal, token_log
from hospes.storage.engine import RawReads, raw_reads
from hospes.storage.tables import Application, ClientSecret, Domain, ServicePrincipal, Tenant, User

_TENANT = union_all(
    select(Tenant.id).where(Tenant.id == bindparam("key")),
    select(Domain.tenant_id).where(Domain.name == bindparam("name"), Domain.is_verified.is_(True)),
)
# The client of a client-credentials grant: its app and service principal in the tenant, one row per secret.
_CLIENT = (
    select(
        Application.app_id,
        Application.display_name,
        ServicePrincipal.id,
        ServicePrincipal.account_enabled,
        ClientSecret.secret_hash,
        ClientSecret.start_at,
        ClientSecret.end_at,
    )
    .join(
        ServicePrincipal,
        (ServicePrincipal.app_id == Application.app_id) & (ServicePrincipal.tenant_id == Application.tenant_id),
    )
    .outerjoin(ClientSecret, ClientSecret.application_id == Application.id)
    .where(Application.app_id == bindparam("client_id"), Application.tenant_id == bindparam("tenant_id"))
)

# Entra's multi-tenant aliases. Hospes has no personal-account tenant and a guest must name the resource tenant
# anyway, so every protocol URL names one tenant, by id or verified domain.
RESERVED_TENANT_KEYS = frozenset({"common", "organizations", "consumers"})


def tenant_id_of(sessions: sessionmaker[Session], tenant_key: str) -> str:
    """The tenant an OAuth URL names, by id or by a verified domain; NotFoundError when none."""
    with sessions() as session:
        return resolve_tenant(session, tenant_key).id


def protocol_tenant_id(sessions: sessionmaker[Session], tenant_key: str) -> str:
    """``tenant_id_of`` for the protocol endpoints (discovery, keys, grants): an unknown tenant or one of the
    multi-tenant aliases is an OAuthError (AADSTS90002), as Entra answers. One raw read (``read_one``): every
    token request and discovery fetch asks."""
    with raw_reads(sessions.kw["bind"]) as reads:
        return _tenant_id(reads, tenant_key)


def protocol_tenant_id_in(reads: RawReads, tenant_key: str) -> str:
    """``protocol_tenant_id`` on the caller's raw connection."""
    return _tenant_id(reads, tenant_key)


def _tenant_id(reads: RawReads, tenant_key: str) -> str:
    if tenant_key.lower() in RESERVED_TENANT_KEYS:
        raise OAuthError(
            "invalid_request",
            f"Tenant '{tenant_key}' is not served by this server: name the tenant by its id or a verified domain.",
            code=90002,
        )
    row = reads.one(_TENANT, {"key": tenant_key, "name": tenant_key.lower()})
    if row is None:
        raise OAuthError(
            "invalid_request",
            f"Tenant '{tenant_key}' not found. Check that the tenant id or domain is correct.",
            code=90002,
        )
    tenant_id: str = row[0]
    return tenant_id


class OAuthError(Exception):
    """``code``: the AADSTS number (``error_codes`` and the description's prefix); ``retry_after``: seconds, for a
    lockout."""

    def __init__(
        self, error: str, description: str, status: int = 400, code: int | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(description)
        self.error, self.status, self.code, self.retry_after = error, status, code, retry_after
        self.description = f"AADSTS{code}: {description}" if code else description


@dataclass(frozen=True)
class TokenRequest:
    tenant_key: str
    client_id: str
    client_secret: str
    scope: str
    address: str  # the caller's, for the lockout and the audit
    now: datetime
    # ``private_key_jwt``: a JWT signed with the key of one of the app's certificates, instead of a secret
    assertion_type: str = ""
    assertion: str = ""


class AssertionCheck(Protocol):
    """Proves the client of ``request`` by its client assertion (``services/oidc``); OAuthError when it does not."""

    def __call__(self, tenant_id: str, request: TokenRequest) -> None: ...


# The delegated permissions a resource-owner password token carries. Deliberately narrow: ROPC exists so scripts
# and tests can act as a given user (admin, Guest Inviter, member, guest); what that user may do is decided by
# the endpoint from the user's roles and the tenant's policies, never by the scope list alone.
DELEGATED_SCOPES = ["EntitlementManagement.ReadWrite.All", "User.Invite.All", "User.Read"]


@dataclass
class _Client:
    """What the grant learnt of its client, for the sign-in row."""

    tenant_id: str | None = None
    app_id: str | None = None
    name: str | None = None
    sp_id: str | None = None


def _seconds_until(end: datetime | None, now: datetime) -> int:
    return max(1, math.ceil((end - now).total_seconds())) if end else 1


class TokenGrants:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        issuer: TokenIssuer,
        passwords: PasswordSignIn,
        secrets: ClientSecretSignIn,
        assertions: AssertionCheck | None = None,
        sign_ins: sign_in_log.SignInBuffer | None = None,
    ) -> None:
        """``sign_ins``: where each client-credentials grant's sign-in row goes (none: not recorded)."""
        self.sessions, self.issuer, self.passwords, self.secrets = sessions, issuer, passwords, secrets
        self.assertions, self.sign_ins = assertions, sign_ins
        self.engine: Engine = sessions.kw["bind"]

    def client_credentials(self, request: TokenRequest) -> tuple[str, int]:
        """Four small raw reads on one pooled connection (tenant, client with its secrets, lockout counters,
        granted roles) and one RSA signature: the grant machines call most, so no ORM session on this path (a
        session read costs ~25 times a raw one on SQLite)."""
        issued = self._client_credentials(request, writes=True)
        assert issued is not None  # with writes allowed, every outcome is an answer or an OAuthError
        return issued

    def client_credentials_without_writes(self, request: TokenRequest) -> tuple[str, int] | None:
        """The same grant when answering it writes nothing: a right secret with no failures on record for the app
        or the address. None whenever something would be written (a wrong secret to count and audit, a count to
        clear, a client assertion to record): then call ``client_credentials``. On SQLite (WAL: reads never wait
        for writers) the token endpoint runs this on the event loop, saving the thread hop (a fifth of a grant's
        CPU); an OAuthError raised here needed no write either (unknown tenant or client, bad scope, app disabled
        after its right secret)."""
        return self._client_credentials(request, writes=False)

    def _client_credentials(self, request: TokenRequest, writes: bool) -> tuple[str, int] | None:
        """Every answer, token or OAuthError, is a service-principal sign-in (None is no answer yet)."""
        client = _Client()
        try:
            issued = self._issue(request, writes, client)
        except OAuthError as exc:
            self._record(request, client, exc)
            raise
        if issued is not None:
            self._record(request, client, None)
        return issued

    def _record(self, request: TokenRequest, client: _Client, exc: OAuthError | None) -> None:
        if self.sign_ins is None or client.tenant_id is None:  # no log, or no tenant to log in
            return
        event = sign_in_log.token_event(
            client.tenant_id,
            request.now,
            "clientCredentials",
            request.address,
            app_id=client.app_id or request.client_id,
            app_display_name=client.name,
            error=(exc.code or sign_in_log.TOKEN_ERROR, str(exc)) if exc is not None else None,
            details={"grantType": "client_credentials", "servicePrincipalId": client.sp_id},
        )
        self.sign_ins.add(event)

    def _issue(self, request: TokenRequest, writes: bool, trail: _Client) -> tuple[str, int] | None:
        with raw_reads(self.engine) as reads:
            tenant_id = trail.tenant_id = _tenant_id(reads, request.tenant_key)
            audience = _audience(self.issuer, request.scope)
            rows = reads.rows(_CLIENT, {"client_id": request.client_id, "tenant_id": tenant_id})
            if not rows:
                raise _unknown_client(request.client_id)
            app_id, name, sp_id, enabled = rows[0][:4]
            trail.app_id, trail.name, trail.sp_id = app_id, name, sp_id
            secrets = tuple((stored, start, end) for *_, stored, start, end in rows if stored is not None)
            client = ClientIdentity(tenant_id, app_id, name, sp_id, secrets)
            if request.assertion or request.assertion_type:
                if not writes:
                    return None
                if self.assertions is None:
                    raise OAuthError("invalid_client", "Client assertions are not accepted here.", 401, code=7000218)
                self.assertions(tenant_id, request)  # a certificate: rarer, and its own reads
            elif writes:
                self._check_secret(client, request, "client_credentials", reads)
            elif not self.secrets.accepted_quietly(client, request.client_secret, request.address, request.now, reads):
                return None
            if not enabled:
                raise OAuthError("unauthorized_client", f"Application '{app_id}'({name}) is disabled.", code=7000112)
            roles = read_granted_permissions(reads, tenant_id, sp_id)
        return self.issuer.issue_app_token(tenant_id, app_id, sp_id, name, roles, audience)

    def password(self, request: TokenRequest, username: str, password: str) -> tuple[str, int]:
        """OAuth 2.0 resource-owner password credentials (RFC 6749 4.3), for scripts and tests. A confidential
        client may send its secret too; a public one sends none."""
        tenant_id = protocol_tenant_id(self.sessions, request.tenant_key)
        audience = _audience(self.issuer, request.scope)
        with self.sessions() as session:
            app = session.scalar(select(Application).where(Application.app_id == request.client_id))
            if app is None or app.tenant_id != tenant_id:
                raise _unknown_client(request.client_id)
            app_id = app.app_id
            client = _identity(session, tenant_id, app, None) if request.client_secret else None
        if client is not None:
            self._check_secret(client, request, "password")
        details = {"grantType": "password", "clientId": app_id}
        check = self.passwords.check(tenant_id, username, password, request.address, request.now, details)
        if check.outcome == "locked":
            raise OAuthError(
                "invalid_grant",
                "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.",
                code=50053,
                retry_after=_seconds_until(check.locked_until, request.now),
            )
        user = check.user
        if check.outcome != "ok" or user is None:
            raise OAuthError(
                "invalid_grant", "Error validating credentials due to invalid username or password.", code=50126
            )
        self._conditional_access(tenant_id, app_id, user, request)
        return self.issuer.issue_user_token(
            tenant_id,
            app_id,
            user.id,
            user.display_name or user.user_principal_name,
            user.user_principal_name,
            DELEGATED_SCOPES,
            audience,
        )

    def _conditional_access(self, tenant_id: str, app_id: str, user: User, request: TokenRequest) -> None:
        """The password grant is a sign-in with one factor from a native client: conditional access decides it
        (``token_access``); once the tenant has policies, each grant past the password is logged with them."""
        with self.sessions() as session:
            empty = rules_of(session, tenant_id).empty
        if empty:
            sign_in_log.note_activity(self.sessions, user.id, request.now)
            return
        with self.sessions() as session:
            access = decide(
                session,
                AccessRequest(
                    tenant_id,
                    user,
                    request.now,
                    ["pwd"],
                    request.now,
                    app_id=app_id,
                    client_app_type="mobileAppsAndDesktopClients",
                    ip_address=request.address,
                ),
            )
        refused = refusal(access)
        status, details = token_log(access)
        event = sign_in_log.token_event(
            tenant_id, request.now, "ropc", request.address, app_id=app_id, app_display_name=None, user=user,
            error=(refused[1], refused[2]) if refused else None, details={"grantType": "password", **details},
            conditional_access_status=status,
        )  # fmt: skip
        sign_in_log.record(self.sessions, event)
        if refused is not None:
            raise OAuthError(refused[0], refused[2], code=refused[1])

    def _check_secret(
        self, client: ClientIdentity, request: TokenRequest, grant: str, reads: RawReads | None = None
    ) -> None:
        check_client_secret(self.secrets, client, request.client_secret, request.address, request.now, grant, reads)


def check_client_secret(
    secrets: ClientSecretSignIn,
    client: ClientIdentity,
    secret: str,
    address: str,
    now: datetime,
    grant: str,
    reads: RawReads | None = None,
) -> None:
    """OAuthError unless ``secret`` is one of the client's valid secrets (lockout and audit by ``signin``)."""
    check = secrets.check(client, secret, address, now, {"grantType": grant}, reads)
    if check.outcome == "locked":
        raise OAuthError(
            "temporarily_unavailable",
            "Too many failed client authentications from this client or address. Retry later.",
            429,
            code=50196,
            retry_after=_seconds_until(check.locked_until, now),
        )
    if check.outcome != "ok":
        raise OAuthError(
            "invalid_client",
            f"Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{client.client_id}'.",
            401,
            code=7000215,
        )


def _unknown_client(client_id: str) -> OAuthError:
    return OAuthError(
        "unauthorized_client",
        f"Application with identifier '{client_id}' was not found in the directory.",
        code=700016,
    )


def _identity(session: Session, tenant_id: str, app: Application, sp: ServicePrincipal | None) -> ClientIdentity:
    if sp is None:
        sp = session.scalar(
            select(ServicePrincipal).where(
                ServicePrincipal.app_id == app.app_id, ServicePrincipal.tenant_id == tenant_id
            )
        )
    rows = session.scalars(select(ClientSecret).where(ClientSecret.application_id == app.id))
    return ClientIdentity(
        tenant_id,
        app.app_id,
        app.display_name,
        sp.id if sp is not None else None,
        tuple((r.secret_hash, r.start_at, r.end_at) for r in rows),
    )


def _audience(issuer: TokenIssuer, scope: str) -> str:
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise OAuthError(
            "invalid_scope",
            f"The provided value for scope '{scope[:200]}' is not valid. Client credential flows must have a scope "
            "value with /.default suffixed to the resource identifier (application ID URI).",
            code=1002012,
        )
    resource = scopes[0].removesuffix("/.default").rstrip("/")
    if resource == GRAPH_AUDIENCE:
        return resource
    # Kiota's token provider derives the scope from scheme and host only (no port), so match on those.
    ours, theirs = urlsplit(issuer.public_url), urlsplit(resource)
    if (theirs.scheme, theirs.hostname) == (ours.scheme, ours.hostname) and theirs.path in ("", "/"):
        return issuer.public_url
    raise OAuthError(
        "invalid_resource", f"The resource principal named {resource} was not found in the tenant.", code=500011
    )
