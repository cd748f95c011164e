"""Delegated (user) tokens with chosen scopes, as the authorization-code flow mints them after consent, signed by
the test app's own issuer; and a tenant's users in the roles the delegated-access tests need."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.tokens import GRAPH_AUDIENCE
from hospes.storage.tables import DirectoryRoleMember
from tests.helpers.tenants import TenantHandle


def scoped_token(tenant: TenantHandle, user: dict[str, Any], *scopes: str, tenant_id: str | None = None) -> str:
    """A delegated Graph token for ``user`` carrying exactly ``scopes`` (``tenant_id``: the tenant it claims)."""
    issuer = tenant.client.app.state.runtime.issuer  # type: ignore[attr-defined]
    token, _ = issuer.issue_user_token(
        tenant_id or tenant.id,
        tenant.boot.client_id,
        user["id"],
        user.get("displayName") or "",
        user["userPrincipalName"],
        list(scopes),
        GRAPH_AUDIENCE,
    )
    result: str = token
    return result


def as_scoped(tenant: TenantHandle, user: dict[str, Any], *scopes: str) -> TenantHandle:
    """The same tenant handle, calling with ``user``'s delegated token of ``scopes``."""
    return TenantHandle(tenant.boot, tenant.client, scoped_token(tenant, user, *scopes))


def give_role(sessions: sessionmaker[Session], tenant: TenantHandle, user: dict[str, Any], role: str) -> None:
    with sessions.begin() as session:
        session.add(
            DirectoryRoleMember(
                tenant_id=tenant.id, role_template_id=role, principal_id=user["id"], principal_type="user"
            )
        )
