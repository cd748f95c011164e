"""Delegated consent (``oAuth2PermissionGrant``): which permissions a client may use on a resource for one user
(``Principal``) or for every user of the tenant (``AllPrincipals``, admin consent).

At sign-in, the permissions a request asks for must be covered by the grants; a member may then consent for
themselves (a ``Principal`` grant). A guest never grants for the tenant, and may consent for themselves only to an
app that an administrator already consented to; otherwise the guest is told to ask the host's administrator.
Administrators create, change and remove grants through Graph (``PermissionGrantService``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.services.base import Services
from hospes.services.graph_permissions import GRAPH_APP_ID
from hospes.services.oidc.scopes import GRAPH_DELEGATED, OIDC_SCOPES
from hospes.storage.tables import Application, ServicePrincipal, User
from hospes.storage.tables_sso import OAuth2PermissionGrant

ALL_PRINCIPALS = "AllPrincipals"
PRINCIPAL = "Principal"


def consented(session: Session, tenant_id: str, client_sp_id: str, user_id: str, resource_sp_id: str) -> set[str]:
    """The permissions the client holds on the resource for this user (theirs plus the tenant-wide ones)."""
    rows = session.scalars(
        select(OAuth2PermissionGrant).where(
            OAuth2PermissionGrant.tenant_id == tenant_id,
            OAuth2PermissionGrant.client_id == client_sp_id,
            OAuth2PermissionGrant.resource_id == resource_sp_id,
        )
    )
    found: set[str] = set()
    for row in rows:
        if row.consent_type == ALL_PRINCIPALS or row.principal_id == user_id:
            found.update(row.scope.split())
    return found


def missing_consent(
    session: Session, tenant_id: str, client_sp_id: str, user_id: str, needed: Mapping[str, frozenset[str]]
) -> dict[str, frozenset[str]]:
    """Resource -> the needed permissions nobody consented to for this user; empty when all are covered."""
    missing: dict[str, frozenset[str]] = {}
    for resource_sp_id, scopes in needed.items():
        lacking = scopes - consented(session, tenant_id, client_sp_id, user_id, resource_sp_id)
        if lacking:
            missing[resource_sp_id] = frozenset(lacking)
    return missing


def has_admin_consent(session: Session, tenant_id: str, client_sp_id: str) -> bool:
    return (
        session.scalar(
            select(OAuth2PermissionGrant.id)
            .where(
                OAuth2PermissionGrant.tenant_id == tenant_id,
                OAuth2PermissionGrant.client_id == client_sp_id,
                OAuth2PermissionGrant.consent_type == ALL_PRINCIPALS,
            )
            .limit(1)
        )
        is not None
    )


def grant_for_user(
    session: Session,
    tenant_id: str,
    client_sp_id: str,
    user_id: str,
    scopes: Mapping[str, frozenset[str]],
    now: datetime,
) -> None:
    """Add ``scopes`` to the user's own grants, in the caller's transaction (one row per resource)."""
    for resource_sp_id, values in scopes.items():
        row = session.scalar(
            select(OAuth2PermissionGrant).where(
                OAuth2PermissionGrant.tenant_id == tenant_id,
                OAuth2PermissionGrant.client_id == client_sp_id,
                OAuth2PermissionGrant.resource_id == resource_sp_id,
                OAuth2PermissionGrant.consent_type == PRINCIPAL,
                OAuth2PermissionGrant.principal_id == user_id,
            )
        )
        if row is None:
            session.add(
                OAuth2PermissionGrant(
                    id=new_id(),
                    tenant_id=tenant_id,
                    client_id=client_sp_id,
                    consent_type=PRINCIPAL,
                    principal_id=user_id,
                    resource_id=resource_sp_id,
                    scope=" ".join(sorted(values)),
                    created_at=now,
                )
            )
        else:
            row.scope = " ".join(sorted(set(row.scope.split()) | values))


# --- Graph: /oauth2PermissionGrants -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantView:
    id: str
    client_id: str
    consent_type: str
    principal_id: str | None
    resource_id: str
    scope: str

    def wire(self) -> dict[str, object]:
        return {
            "id": self.id,
            "clientId": self.client_id,
            "consentType": self.consent_type,
            "principalId": self.principal_id,
            "resourceId": self.resource_id,
            "scope": self.scope,
        }


def _view(row: OAuth2PermissionGrant) -> GrantView:
    return GrantView(row.id, row.client_id, row.consent_type, row.principal_id, row.resource_id, row.scope)


_FIELDS = {"clientId", "consentType", "principalId", "resourceId", "scope", "id", "@odata.type"}


class PermissionGrantService(Services):
    """``GET|POST /oauth2PermissionGrants``, ``GET|PATCH|DELETE /oauth2PermissionGrants/{id}``."""

    def list(self, client_id: str | None = None) -> list[GrantView]:
        with self.read() as session:
            stmt = select(OAuth2PermissionGrant).where(OAuth2PermissionGrant.tenant_id == self.tenant_id)
            if client_id is not None:
                stmt = stmt.where(OAuth2PermissionGrant.client_id == client_id)
            rows = session.scalars(stmt.order_by(OAuth2PermissionGrant.created_at, OAuth2PermissionGrant.id))
            return [_view(r) for r in rows]

    def get(self, grant_id: str) -> GrantView:
        with self.read() as session:
            return _view(self._row(session, grant_id))

    def create(self, body: Mapping[str, object]) -> GrantView:
        _check_fields(body)
        client_id, resource_id = _text(body, "clientId", True), _text(body, "resourceId", True)
        consent_type = _text(body, "consentType", True)
        if consent_type not in (ALL_PRINCIPALS, PRINCIPAL):
            raise InvalidInputError("consentType must be 'AllPrincipals' or 'Principal'.", target="consentType")
        principal_id = _text(body, "principalId", False) or None
        if (consent_type == PRINCIPAL) != (principal_id is not None):
            raise InvalidInputError(
                "principalId is required for 'Principal' grants and must be empty for 'AllPrincipals'.",
                target="principalId",
            )
        with self.write("ApplicationManagement", "Add delegated permission grant") as op:
            s = op.session
            self._service_principal(s, client_id or "", "clientId")
            resource = self._service_principal(s, resource_id or "", "resourceId")
            scope = _checked_scope(s, resource, _text(body, "scope", False) or "")
            if principal_id is not None:
                user = s.get(User, principal_id)
                if user is None or user.tenant_id != self.tenant_id or user.deleted_at is not None:
                    raise InvalidInputError(f"The user '{principal_id}' does not exist.", target="principalId")
            duplicate = s.scalar(
                select(OAuth2PermissionGrant.id).where(
                    OAuth2PermissionGrant.tenant_id == self.tenant_id,
                    OAuth2PermissionGrant.client_id == client_id,
                    OAuth2PermissionGrant.resource_id == resource_id,
                    OAuth2PermissionGrant.consent_type == consent_type,
                    OAuth2PermissionGrant.principal_id.is_(None)
                    if principal_id is None
                    else OAuth2PermissionGrant.principal_id == principal_id,
                )
            )
            if duplicate is not None:
                raise ConflictError("Permission entry already exists.", code="Request_MultipleObjectsWithSameKeyValue")
            row = OAuth2PermissionGrant(
                id=new_id(),
                tenant_id=self.tenant_id,
                client_id=client_id or "",
                consent_type=consent_type,
                principal_id=principal_id,
                resource_id=resource_id or "",
                scope=scope,
                created_at=op.now,
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError:
                raise ConflictError(
                    "Permission entry already exists.", code="Request_MultipleObjectsWithSameKeyValue"
                ) from None
            op.target("OAuth2PermissionGrant", row.id, client_id)
            op.details.update({"consentType": consent_type, "scope": scope})
            return _view(row)

    def update(self, grant_id: str, body: Mapping[str, object]) -> None:
        if not isinstance(body, dict):
            raise InvalidInputError("The request body must be a JSON object.")
        for key in body:
            if key not in ("scope", "@odata.type"):
                raise InvalidInputError(f"Property '{key}' is read-only or does not exist.", target=key)
        with self.write("ApplicationManagement", "Update delegated permission grant") as op:
            row = self._row(op.session, grant_id, lock=True)
            resource = self._service_principal(op.session, row.resource_id, "resourceId")
            row.scope = _checked_scope(op.session, resource, _text(body, "scope", False) or "")
            op.target("OAuth2PermissionGrant", row.id, row.client_id)
            op.details["scope"] = row.scope

    def delete(self, grant_id: str) -> None:
        with self.write("ApplicationManagement", "Remove delegated permission grant") as op:
            row = self._row(op.session, grant_id, lock=True)
            op.target("OAuth2PermissionGrant", row.id, row.client_id)
            op.session.delete(row)

    def _row(self, session: Session, grant_id: str, lock: bool = False) -> OAuth2PermissionGrant:
        row = session.get(OAuth2PermissionGrant, grant_id[:64], with_for_update=lock)
        if row is None or row.tenant_id != self.tenant_id:
            raise NotFoundError(grant_id)
        return row

    def _service_principal(self, session: Session, sp_id: str, field: str) -> ServicePrincipal:
        sp = session.get(ServicePrincipal, sp_id[:36]) if sp_id else None
        if sp is None or sp.tenant_id != self.tenant_id:
            raise InvalidInputError(f"The service principal '{sp_id}' does not exist.", target=field)
        return sp


def _check_fields(body: object) -> None:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    for key in body:
        if key not in _FIELDS:
            raise InvalidInputError(
                f"Property '{key}' does not exist on type 'microsoft.graph.oAuth2PermissionGrant'.", target=key
            )


def _text(body: Mapping[str, object], key: str, required: bool) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInputError(f"'{key}' is required.", target=key)
        return None
    if not isinstance(value, str) or len(value) > 4096:
        raise InvalidInputError(f"'{key}' must be a string.", target=key)
    return value


def _checked_scope(session: Session, resource: ServicePrincipal, scope: str) -> str:
    """The space-separated permissions, each one the resource exposes."""
    if resource.app_id == GRAPH_APP_ID:
        allowed = set(GRAPH_DELEGATED) | set(OIDC_SCOPES)
    else:
        app = session.get(Application, resource.application_id) if resource.application_id else None
        allowed = {str(s.get("value")) for s in (app.oauth2_permission_scopes if app else None) or []}
    values = scope.split()
    for value in values:
        if value not in allowed:
            raise InvalidInputError(
                f"The scope '{value}' is not a delegated permission of the resource.", target="scope"
            )
    return " ".join(dict.fromkeys(values))
