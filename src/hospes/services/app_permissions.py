"""An app registration's delegated Microsoft Graph permissions (``requiredResourceAccess``) and the administrator's
consent for the whole organization: one ``AllPrincipals`` ``oAuth2PermissionGrant`` from the app's service
principal to the tenant's Microsoft Graph principal, holding the permissions consented to.

Hospes's Graph permissions have stable ids of its own (as its application permissions do), derived from their
names; a registration lists them by id, as Entra's ``resourceAccess`` does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.app_registration import PlainError
from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.services.apps import Application, AppService, ServicePrincipal
from hospes.services.graph_permissions import GRAPH_APP_ID
from hospes.services.oidc.consent import ALL_PRINCIPALS
from hospes.services.oidc.scopes import GRAPH_DELEGATED, OIDC_SCOPES
from hospes.storage.tables_sso import OAuth2PermissionGrant

# The delegated Graph permissions an app may ask for (those consent accepts); what a token carrying them may do is
# decided per request from the signed-in user's own rights.
GRAPH_DELEGATED_PERMISSIONS = (*OIDC_SCOPES, *sorted(GRAPH_DELEGATED, key=str.lower))
_SCOPE_NAMESPACE = uuid.UUID("6f1f3c55-8f0e-4d53-b0b5-3e8f7d9c2a41")


def delegated_scope_id(value: str) -> str:
    return str(uuid.uuid5(_SCOPE_NAMESPACE, value))


_BY_ID = {delegated_scope_id(v): v for v in GRAPH_DELEGATED_PERMISSIONS}


def graph_permission_scopes() -> list[dict[str, object]]:
    """The built-in Microsoft Graph principal's ``oauth2PermissionScopes``: where a client finds the id to put in
    ``requiredResourceAccess``. Every one is user-consentable in Hospes (``type`` "User"); what a token carrying it
    may do is still bounded by the signed-in user's rights."""
    return [
        {
            "id": delegated_scope_id(value),
            "value": value,
            "type": "User",
            "isEnabled": True,
            "adminConsentDisplayName": value,
            "adminConsentDescription": f"Delegated permission {value}.",
            "userConsentDisplayName": value,
            "userConsentDescription": f"Delegated permission {value}.",
        }
        for value in GRAPH_DELEGATED_PERMISSIONS
    ]


@dataclass(frozen=True)
class PermissionsView:
    requested: list[str]  # delegated Graph permissions the registration lists, in the offered order
    consented: set[str]  # those the organization's administrator consented to
    has_enterprise_app: bool


def requested_graph_permissions(app: Application) -> list[str]:
    found: set[str] = set()
    for entry in app.required_resource_access or []:
        if entry.get("resourceAppId") == GRAPH_APP_ID:
            for access in entry.get("resourceAccess") or []:
                if access.get("type") == "Scope" and access.get("id") in _BY_ID:
                    found.add(_BY_ID[access["id"]])
    return [p for p in GRAPH_DELEGATED_PERMISSIONS if p in found]


class AppPermissions(AppService):
    def _graph_sp(self, session: Session) -> ServicePrincipal:
        sp = session.scalar(
            select(ServicePrincipal).where(
                ServicePrincipal.tenant_id == self.tenant_id, ServicePrincipal.app_id == GRAPH_APP_ID
            )
        )
        if sp is None:
            raise NotFoundError(GRAPH_APP_ID)
        return sp

    def _client_sp(self, session: Session, app: Application) -> ServicePrincipal | None:
        return session.scalar(
            select(ServicePrincipal).where(
                ServicePrincipal.tenant_id == self.tenant_id, ServicePrincipal.application_id == app.id
            )
        )

    def _grant(self, session: Session, client: ServicePrincipal) -> OAuth2PermissionGrant | None:
        return session.scalar(
            select(OAuth2PermissionGrant).where(
                OAuth2PermissionGrant.tenant_id == self.tenant_id,
                OAuth2PermissionGrant.client_id == client.id,
                OAuth2PermissionGrant.resource_id == self._graph_sp(session).id,
                OAuth2PermissionGrant.consent_type == ALL_PRINCIPALS,
            )
        )

    def permissions(self, app_id: str) -> PermissionsView:
        with self.read() as session:
            app = self.find_app(session, app_id)
            client = self._client_sp(session, app)
            grant = self._grant(session, client) if client is not None else None
            consented = set(grant.scope.split()) if grant is not None else set()
            return PermissionsView(requested_graph_permissions(app), consented, client is not None)

    def set_graph_permissions(self, app_id: str, values: list[str]) -> None:
        unknown = sorted(set(values) - set(GRAPH_DELEGATED_PERMISSIONS))
        if unknown:
            raise InvalidInputError(f"'{unknown[0]}' is not a delegated Microsoft Graph permission.", target="scope")
        wanted = [p for p in GRAPH_DELEGATED_PERMISSIONS if p in set(values)]
        with self.write("ApplicationManagement", "Update application") as op:
            app = self.find_app(op.session, app_id)
            op.target("Application", app.id, app.display_name)
            others = [e for e in app.required_resource_access or [] if e.get("resourceAppId") != GRAPH_APP_ID]
            graph = {
                "resourceAppId": GRAPH_APP_ID,
                "resourceAccess": [{"id": delegated_scope_id(p), "type": "Scope"} for p in wanted],
            }
            app.required_resource_access = [*others, graph] if wanted else others
            op.details["requiredResourceAccess"] = wanted

    def grant_admin_consent(self, app_id: str) -> list[str]:
        """Consent, for every user of the organization, to the delegated Graph permissions the registration asks
        for (the grant is replaced: permissions no longer asked for are no longer consented). The app's
        enterprise application is created first if it has none, as Entra does."""
        with self.write("ApplicationManagement", "Consent to application") as op:
            app = self.find_app(op.session, app_id)
            wanted = requested_graph_permissions(app)
            if not wanted:
                message = "Add at least one permission before granting consent."
                raise PlainError(message, message, {}, target="scope")
            client = self._client_sp(op.session, app) or self.insert_sp(op, app)
            op.target("ServicePrincipal", client.id, client.display_name)
            grant = self._grant(op.session, client)
            if grant is None:
                op.session.add(
                    OAuth2PermissionGrant(
                        id=new_id(),
                        tenant_id=self.tenant_id,
                        client_id=client.id,
                        consent_type=ALL_PRINCIPALS,
                        principal_id=None,
                        resource_id=self._graph_sp(op.session).id,
                        scope=" ".join(wanted),
                        created_at=op.now,
                    )
                )
            else:
                grant.scope = " ".join(wanted)
            op.details.update(consentType=ALL_PRINCIPALS, scope=" ".join(wanted))
            return wanted

    def revoke_admin_consent(self, app_id: str) -> None:
        with self.write("ApplicationManagement", "Remove delegated permission grant") as op:
            app = self.find_app(op.session, app_id)
            client = self._client_sp(op.session, app)
            grant = self._grant(op.session, client) if client is not None else None
            if client is None or grant is None:
                raise NotFoundError(app_id)
            op.target("ServicePrincipal", client.id, client.display_name)
            op.session.delete(grant)
