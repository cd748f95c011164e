"""The client-credentials grant: authenticate an app by its secret and mint an access token."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.passwords import verify_secret
from hospes.auth.tokens import GRAPH_AUDIENCE, TokenIssuer
from hospes.services.apps import granted_permissions
from hospes.services.tenants import resolve_tenant
from hospes.storage.tables import Application, ClientSecret, ServicePrincipal


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
