"""The relying party a request names: its registration (redirect URIs per platform, public or confidential, logout
URL, claim options) and its service principal in the tenant, read in one go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hospes.storage.engine import RawReads
from hospes.storage.tables import Application, ClientSecret, ServicePrincipal

Platform = Literal["web", "spa", "publicClient"]


@dataclass(frozen=True)
class RelyingParty:
    tenant_id: str
    client_id: str  # the app id
    application_id: str  # the application row
    sp_id: str
    display_name: str
    web: tuple[str, ...]
    spa: tuple[str, ...]
    public: tuple[str, ...]
    fallback_public: bool
    account_enabled: bool
    assignment_required: bool
    logout_url: str | None
    group_membership_claims: str | None
    app_roles: tuple[dict[str, Any], ...]
    identifier_uris: tuple[str, ...]
    scopes: tuple[dict[str, Any], ...]  # the delegated permissions its own API exposes

    @property
    def redirect_uris(self) -> tuple[str, ...]:
        return self.web + self.spa + self.public

    def platform_of(self, uri: str) -> Platform | None:
        """Exact match only (no wildcard, no case folding, no trailing-slash tolerance)."""
        if uri in self.spa:
            return "spa"
        if uri in self.public:
            return "publicClient"
        if uri in self.web:
            return "web"
        return None

    @property
    def is_public(self) -> bool:
        """A client that holds no secret: registered only as a public client or SPA, or marked as such."""
        return self.fallback_public or (not self.web and bool(self.spa or self.public))


# The relying party and its secrets in one raw read, for the token endpoint (one row per secret).
_RAW = (
    select(
        Application.id,
        Application.app_id,
        Application.display_name,
        Application.web_redirect_uris,
        Application.spa_redirect_uris,
        Application.public_client_redirect_uris,
        Application.is_fallback_public_client,
        Application.logout_url,
        Application.group_membership_claims,
        Application.app_roles,
        Application.identifier_uris,
        Application.oauth2_permission_scopes,
        ServicePrincipal.id,
        ServicePrincipal.account_enabled,
        ServicePrincipal.app_role_assignment_required,
        ServicePrincipal.logout_url,
        ClientSecret.secret_hash,
        ClientSecret.start_at,
        ClientSecret.end_at,
    )
    .join(ServicePrincipal, ServicePrincipal.application_id == Application.id)
    .outerjoin(ClientSecret, ClientSecret.application_id == Application.id)
    .where(
        Application.app_id == bindparam("client_id"),
        Application.tenant_id == bindparam("tenant_id"),
        ServicePrincipal.tenant_id == bindparam("tenant_id"),
    )
)

Secrets = tuple[tuple[str, datetime, datetime], ...]


def read_relying_party(reads: RawReads, tenant_id: str, client_id: str) -> tuple[RelyingParty, Secrets] | None:
    """``load_relying_party`` plus the app's secrets (hash, valid from, valid until), as one raw read."""
    if not client_id or len(client_id) > 64:
        return None
    rows = reads.rows(_RAW, {"client_id": client_id, "tenant_id": tenant_id})
    if not rows:
        return None
    (app_row, app_id, name, web, spa, public, fallback, logout, groups, roles, uris, scopes, sp_id, enabled,
     required, sp_logout) = rows[0][:16]  # fmt: skip
    rp = RelyingParty(
        tenant_id=tenant_id,
        client_id=app_id,
        application_id=app_row,
        sp_id=sp_id,
        display_name=name,
        web=tuple(web or ()),
        spa=tuple(spa or ()),
        public=tuple(public or ()),
        fallback_public=bool(fallback),
        account_enabled=bool(enabled),
        assignment_required=bool(required),
        logout_url=sp_logout or logout,
        group_membership_claims=groups,
        app_roles=tuple(roles or ()),
        identifier_uris=tuple(uris or ()),
        scopes=tuple(scopes or ()),
    )
    return rp, tuple((row[16], row[17], row[18]) for row in rows if row[16] is not None)


def load_relying_party(session: Session, tenant_id: str, client_id: str) -> RelyingParty | None:
    """The tenant's own app registration with its service principal; None when either is missing."""
    if not client_id or len(client_id) > 64:
        return None
    row = session.execute(
        select(Application, ServicePrincipal)
        .join(ServicePrincipal, ServicePrincipal.application_id == Application.id)
        .where(
            Application.app_id == client_id,
            Application.tenant_id == tenant_id,
            ServicePrincipal.tenant_id == tenant_id,
        )
    ).first()
    if row is None:
        return None
    app, sp = row
    return RelyingParty(
        tenant_id=tenant_id,
        client_id=app.app_id,
        application_id=app.id,
        sp_id=sp.id,
        display_name=app.display_name,
        web=tuple(app.web_redirect_uris or ()),
        spa=tuple(app.spa_redirect_uris or ()),
        public=tuple(app.public_client_redirect_uris or ()),
        fallback_public=bool(app.is_fallback_public_client),
        account_enabled=bool(sp.account_enabled),
        assignment_required=bool(sp.app_role_assignment_required),
        logout_url=sp.logout_url or app.logout_url,
        group_membership_claims=app.group_membership_claims,
        app_roles=tuple(app.app_roles or ()),
        identifier_uris=tuple(app.identifier_uris or ()),
        scopes=tuple(app.oauth2_permission_scopes or ()),
    )
