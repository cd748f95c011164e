"""The token grants (client credentials, password): authenticate the caller and mint an access token."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.passwords import hash_password, verify_password, verify_secret
from hospes.auth.tokens import GRAPH_AUDIENCE, TokenIssuer
from hospes.services.apps import granted_permissions
from hospes.services.tenants import resolve_tenant
from hospes.storage.tables import Application, ClientSecret, ServicePrincipal, User


def tenant_id_of(sessions: sessionmaker[Session], tenant_key: str) -> str:
    """The tenant an OAuth URL names, by id or by a verified domain; NotFoundError when none (the discovery
    documents answer 404, where the grants answer an unknown tenant with an OAuth error)."""
    with sessions() as session:
        return resolve_tenant(session, tenant_key).id


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def client_credentials(
    sessions: sessionmaker[Session],
    issuer: TokenIssuer,
    tenant_key: str,
    client_id: str,
    client_secret: str,
    scope: str,
) -> tuple[str, int]:
    audience = _audience(issuer, scope)
    with sessions() as session:
        try:
            tenant = resolve_tenant(session, tenant_key)
        except Exception:
            raise OAuthError("invalid_request", f"Tenant '{tenant_key}' not found.") from None
        app = session.scalar(select(Application).where(Application.app_id == client_id))
        sp = session.scalar(
            select(ServicePrincipal).where(
                ServicePrincipal.app_id == client_id, ServicePrincipal.tenant_id == tenant.id
            )
        )
        if app is None or sp is None or app.tenant_id != tenant.id:
            raise OAuthError(
                "unauthorized_client",
                f"Application with identifier '{client_id}' was not found in the directory.",
                400,
            )
        now = dt.datetime.now(dt.UTC)
        secrets = session.scalars(select(ClientSecret).where(ClientSecret.application_id == app.id))
        if not any(verify_secret(s.secret_hash, client_secret) and s.start_at <= now < s.end_at for s in secrets):
            raise OAuthError("invalid_client", "Invalid client secret provided.", 401)
        if not sp.account_enabled:
            raise OAuthError("unauthorized_client", "The application is disabled.", 400)
        roles = granted_permissions(session, tenant.id, sp.id)
    return issuer.issue_app_token(tenant.id, app.app_id, sp.id, app.display_name, roles, audience)


# The delegated permissions a resource-owner password token carries. Deliberately narrow: ROPC exists so scripts
# and tests can act as a given user (admin, Guest Inviter, member, guest); what that user may do is decided by
# the endpoint from the user's roles and the tenant's policies, never by the scope list alone.
DELEGATED_SCOPES = ["User.Invite.All", "User.Read"]
_DUMMY_HASH = hash_password("hospes-timing-equalizer")


def password_grant(
    sessions: sessionmaker[Session],
    issuer: TokenIssuer,
    tenant_key: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    scope: str,
) -> tuple[str, int]:
    """OAuth 2.0 resource-owner password credentials (RFC 6749 4.3), for scripts and tests. Interactive sign-in
    arrives with the redemption pages."""
    audience = _audience(issuer, scope)
    with sessions() as session:
        try:
            tenant = resolve_tenant(session, tenant_key)
        except Exception:
            raise OAuthError("invalid_request", f"Tenant '{tenant_key}' not found.") from None
        app = session.scalar(select(Application).where(Application.app_id == client_id))
        if app is None or app.tenant_id != tenant.id:
            raise OAuthError(
                "unauthorized_client", f"Application with identifier '{client_id}' was not found in the directory."
            )
        if client_secret:
            now = dt.datetime.now(dt.UTC)
            secrets = session.scalars(select(ClientSecret).where(ClientSecret.application_id == app.id))
            if not any(verify_secret(s.secret_hash, client_secret) and s.start_at <= now < s.end_at for s in secrets):
                raise OAuthError("invalid_client", "Invalid client secret provided.", 401)
        user = session.scalar(select(User).where(User.tenant_id == tenant.id, User.upn_key == username.strip().lower()))
    # Verify against a dummy hash when the user is unknown, so timing does not reveal which usernames exist.
    ok = verify_password(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
    if user is None or not user.password_hash or not ok or user.deleted_at is not None or not user.account_enabled:
        raise OAuthError("invalid_grant", "Error validating credentials due to invalid username or password.")
    return issuer.issue_user_token(
        tenant.id,
        app.app_id,
        user.id,
        user.display_name or user.user_principal_name,
        user.user_principal_name,
        DELEGATED_SCOPES,
        audience,
    )


def _audience(issuer: TokenIssuer, scope: str) -> str:
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise OAuthError(
            "invalid_scope",
            "The client credentials flow needs exactly one scope of the form '{resource}/.default'.",
        )
    resource = scopes[0].removesuffix("/.default").rstrip("/")
    if resource == GRAPH_AUDIENCE:
        return resource
    # Kiota's token provider derives the scope from scheme and host only (no port), so match on those.
    ours, theirs = urlsplit(issuer.public_url), urlsplit(resource)
    if (theirs.scheme, theirs.hostname) == (ours.scheme, ours.hostname) and theirs.path in ("", "/"):
        return issuer.public_url
    raise OAuthError("invalid_resource", f"The resource '{resource}' is not known to this server.")
