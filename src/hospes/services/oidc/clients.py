"""The relying party a request names: its registration (redirect URIs per platform, public or confidential, logout
URL, claim options) and its service principal in the tenant, read in one go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.storage.tables import Application, ServicePrincipal

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
