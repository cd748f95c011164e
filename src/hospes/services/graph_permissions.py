"""The built-in "Microsoft Graph" service principal of each tenant and the application permissions granted on it.

Graph permissions are app roles of that principal, granted by an app role assignment to the client's service
principal, exactly as Entra models admin consent; the token endpoint reads those assignments into the ``roles``
claim (``read_granted_permissions``, one raw read on the hot path).
"""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hospes.domain.principals import APPLICATION_PERMISSIONS
from hospes.storage.engine import RawReads
from hospes.storage.tables import AppRoleAssignment, ServicePrincipal

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
_ROLE_NAMESPACE = uuid.UUID("8f3c2d0e-5b7a-4f43-9a6e-0d9f2c1b7e55")


def permission_role_id(permission: str) -> str:
    return str(uuid.uuid5(_ROLE_NAMESPACE, permission))


GRAPH_APP_ROLES = [
    {
        "id": permission_role_id(p),
        "value": p,
        "displayName": p,
        "description": f"Application permission {p}.",
        "allowedMemberTypes": ["Application"],
        "isEnabled": True,
        "origin": "Application",
    }
    for p in APPLICATION_PERMISSIONS
]

_PERMISSION_BY_ROLE_ID = {permission_role_id(p): p for p in APPLICATION_PERMISSIONS}
_GRANTED = (
    select(AppRoleAssignment.app_role_id)
    .join(ServicePrincipal, ServicePrincipal.id == AppRoleAssignment.resource_id)
    .where(
        AppRoleAssignment.tenant_id == bindparam("tenant_id"),
        AppRoleAssignment.principal_id == bindparam("principal_id"),
        ServicePrincipal.app_id == GRAPH_APP_ID,
    )
)


def granted_permissions(session: Session, tenant_id: str, client_sp_id: str) -> list[str]:
    """The Graph permissions an app holds: its assignments on the tenant's Microsoft Graph principal."""
    ids = session.scalars(_GRANTED, {"tenant_id": tenant_id, "principal_id": client_sp_id})
    return sorted(_PERMISSION_BY_ROLE_ID[r] for r in ids if r in _PERMISSION_BY_ROLE_ID)


def read_granted_permissions(reads: RawReads, tenant_id: str, client_sp_id: str) -> list[str]:
    """``granted_permissions`` as one raw read: what every client-credentials grant asks."""
    rows = reads.all(_GRANTED, {"tenant_id": tenant_id, "principal_id": client_sp_id})
    return sorted(_PERMISSION_BY_ROLE_ID[r] for (r,) in rows if r in _PERMISSION_BY_ROLE_ID)
