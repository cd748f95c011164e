"""Applications, service principals, client secrets and app role assignments.

Graph permissions are app roles of a built-in "Microsoft Graph" service principal in each tenant
(``graph_permissions.py``); ``grant_permissions`` grants them as Entra's admin consent does, by app role assignments.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.auth.crypto import shown_secret
from hospes.auth.passwords import hash_secret
from hospes.domain.app_registration import (
    APPLICATION_ATTR_NAMES,
    PLATFORMS,
    RegistrationError,
    application_changes,
    check_redirect_total,
    service_principal_changes,
    validate_app_roles,
)
from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.principals import APPLICATION_PERMISSIONS, DEFAULT_ACCESS_ROLE_ID
from hospes.domain.schema import APPLICATION, SERVICE_PRINCIPAL
from hospes.domain.validation import require
from hospes.services.app_credentials import replace_app_certificates, require_signing_certificate
from hospes.services.base import Services, Write
from hospes.services.graph_permissions import GRAPH_APP_ID, GRAPH_APP_ROLES, permission_role_id
from hospes.services.groups import GroupService
from hospes.services.listing import ListQuery, Page, list_page
from hospes.services.users import UserService

# ``X as X``: the rows this service returns, exported for the annotations of its callers above the storage layer.
from hospes.storage.tables import Application as Application
from hospes.storage.tables import AppRoleAssignment as AppRoleAssignment
from hospes.storage.tables import ClientSecret as ClientSecret
from hospes.storage.tables import Group, User
from hospes.storage.tables import ServicePrincipal as ServicePrincipal

APPLICATION_NAMES = {**{p.attr: p.name for p in APPLICATION.props if p.attr}, **APPLICATION_ATTR_NAMES}
SERVICE_PRINCIPAL_NAMES = {p.attr: p.name for p in SERVICE_PRINCIPAL.props if p.attr}


class AppService(Services):
    # --- applications -------------------------------------------------------------------------------------
    def find_app(self, session: Session, key: str) -> Application:
        column = Application.app_id if key.startswith("appId=") else Application.id
        value = key.removeprefix("appId=").strip("'")
        app = session.scalar(select(Application).where(Application.tenant_id == self.tenant_id, column == value))
        if app is None:
            raise NotFoundError(value)
        return app

    def get_app(self, key: str) -> tuple[Application, list[ClientSecret]]:
        with self.read() as session:
            app = self.find_app(session, key)
            return app, self.secrets_of(session, app.id)

    def secrets_of(self, session: Session, application_id: str) -> list[ClientSecret]:
        return list(session.scalars(select(ClientSecret).where(ClientSecret.application_id == application_id)))

    def list_apps(self, query: ListQuery) -> tuple[Page, dict[str, list[ClientSecret]]]:
        with self.read() as session:
            page = list_page(session, APPLICATION, Application, [Application.tenant_id == self.tenant_id], query)
            return page, {a.id: self.secrets_of(session, a.id) for a in page.rows}

    def create_app(self, values: dict[str, Any], extras: dict[str, Any]) -> Application:
        require(APPLICATION, values, "displayName")
        with self.write("ApplicationManagement", "Add application") as op:
            return self.insert_app(op, values, extras)

    def insert_app(self, op: Write, values: dict[str, Any], extras: dict[str, Any]) -> Application:
        values = dict(values)
        values["app_roles"] = validate_app_roles(values.get("app_roles"))
        changes = application_changes(extras, values)
        app = Application(id=new_id(), tenant_id=self.tenant_id, app_id=new_id(), created_at=op.now)
        self._apply(op, app, {**values, **changes}, extras)
        op.session.add(app)
        op.session.flush()
        op.target("Application", app.id, app.display_name)
        return app

    def update_app(
        self,
        key: str,
        values: dict[str, Any],
        extras: dict[str, Any] | None = None,
        sp_values: dict[str, Any] | None = None,
    ) -> Application:
        """``sp_values``: set on the app's service principal too, in the same transaction."""
        extras = extras or {}
        with self.write("ApplicationManagement", "Update application") as op:
            app = self.find_app(op.session, key)
            op.target("Application", app.id, app.display_name)
            if "app_roles" in values:
                values["app_roles"] = validate_app_roles(values["app_roles"])
            changes = {**values, **application_changes(extras, values)}
            op.details["modifiedProperties"] = op.record_changes(app, changes, APPLICATION_NAMES)
            self._apply(op, app, changes, extras)
            sp_changes = {**sp_values, **service_principal_changes(sp_values)} if sp_values else {}
            for sp in op.session.scalars(select(ServicePrincipal).where(ServicePrincipal.application_id == app.id)):
                sp.display_name = app.display_name
                op.details["modifiedProperties"] += op.record_changes(sp, sp_changes, SERVICE_PRINCIPAL_NAMES)
                for attr, value in sp_changes.items():
                    setattr(sp, attr, value)
            return app

    def _apply(self, op: Write, app: Application, values: dict[str, Any], extras: dict[str, Any]) -> None:
        for attr, value in values.items():
            setattr(app, attr, value)
        check_redirect_total({attr: getattr(app, attr) or [] for attr in PLATFORMS.values()})
        if values.get("identifier_uris"):
            self._identifiers_unique(op.session, app)
        if "keyCredentials" in extras:
            op.session.flush()
            replace_app_certificates(op, app, extras["keyCredentials"])

    def _identifiers_unique(self, session: Session, app: Application) -> None:
        """An identifier names one application of the tenant: a SAML request's issuer must find one app."""
        mine = set(app.identifier_uris)
        others = session.scalars(
            select(Application.identifier_uris).where(Application.tenant_id == self.tenant_id, Application.id != app.id)
        )
        for uris in others:
            taken = mine & set(uris or [])
            if taken:
                raise RegistrationError(
                    "identifierUris",
                    "Application",
                    "Another application of this organization already uses '%(uri)s'.",
                    uri=sorted(taken)[0],
                )

    def delete_app(self, key: str) -> None:
        with self.write("ApplicationManagement", "Delete application") as op:
            app = self.find_app(op.session, key)
            op.target("Application", app.id, app.display_name)
            op.session.delete(app)

    def add_password(self, key: str, display_name: str | None, lifetime_days: int = 365) -> tuple[ClientSecret, str]:
        """Returns the credential and its secret text; only the hash is stored, the text is shown once."""
        with self.write("ApplicationManagement", "Update application - Certificates and secrets management") as op:
            app = self.find_app(op.session, key)
            return self.insert_secret(op, app, display_name, lifetime_days)

    def insert_secret(
        self, op: Write, app: Application, display_name: str | None, lifetime_days: int = 365
    ) -> tuple[ClientSecret, str]:
        text = shown_secret(32)
        cred = ClientSecret(
            key_id=new_id(),
            application_id=app.id,
            tenant_id=self.tenant_id,
            display_name=display_name,
            hint=text[:3],
            secret_hash=hash_secret(text),
            start_at=op.now,
            end_at=op.now + timedelta(days=lifetime_days),
        )
        op.session.add(cred)
        op.target("Application", app.id, app.display_name)
        return cred, text

    def remove_password(self, key: str, key_id: Any) -> None:
        with self.write("ApplicationManagement", "Update application - Certificates and secrets management") as op:
            app = self.find_app(op.session, key)
            op.target("Application", app.id, app.display_name)
            cred = op.session.get(ClientSecret, str(key_id))
            if cred is None or cred.application_id != app.id:
                raise NotFoundError(str(key_id))
            op.session.delete(cred)

    # --- service principals -------------------------------------------------------------------------------
    def find_sp(self, session: Session, key: str) -> ServicePrincipal:
        column = ServicePrincipal.app_id if key.startswith("appId=") else ServicePrincipal.id
        value = key.removeprefix("appId=").strip("'")
        sp = session.scalar(
            select(ServicePrincipal).where(ServicePrincipal.tenant_id == self.tenant_id, column == value)
        )
        if sp is None:
            raise NotFoundError(value)
        return sp

    def sp_roles(self, session: Session, sp: ServicePrincipal) -> list[dict[str, Any]]:
        if sp.application_id:
            app = session.get(Application, sp.application_id)
            return list(app.app_roles) if app else []
        return list(sp.app_roles)

    def get_sp(self, key: str) -> tuple[ServicePrincipal, list[dict[str, Any]]]:
        with self.read() as session:
            sp = self.find_sp(session, key)
            return sp, self.sp_roles(session, sp)

    def list_sps(self, query: ListQuery) -> tuple[Page, dict[str, list[dict[str, Any]]]]:
        with self.read() as session:
            page = list_page(
                session,
                SERVICE_PRINCIPAL,
                ServicePrincipal,
                [ServicePrincipal.tenant_id == self.tenant_id],
                query,
            )
            return page, {sp.id: self.sp_roles(session, sp) for sp in page.rows}

    def create_sp(self, values: dict[str, Any], app_id: Any) -> ServicePrincipal:
        with self.write("ApplicationManagement", "Add service principal") as op:
            if not isinstance(app_id, str):
                raise InvalidInputError("Invalid value specified for property 'appId'.", target="appId")
            app = op.session.scalar(
                select(Application).where(Application.tenant_id == self.tenant_id, Application.app_id == app_id)
            )
            if app is None:
                raise InvalidInputError(
                    f"The appId '{app_id}' of the service principal does not reference a valid application object.",
                    target="appId",
                )
            return self.insert_sp(op, app, values)

    def create_enterprise_app(
        self,
        display_name: str,
        role_names: list[str],
        template_id: str | None = None,
        tags: list[str] | None = None,
    ) -> ServicePrincipal:
        """An application registration, its service principal and its user roles, as one write (the portal's "new
        enterprise application"; the API needs two calls)."""
        name = display_name.strip()
        if not name or len(name) > 256:
            raise InvalidInputError("A name of 1 to 256 characters is required.", target="displayName")
        roles = []
        for value in role_names:
            value = value.strip()
            if not value:
                continue
            if len(value) > 120 or any(c.isspace() for c in value):
                raise InvalidInputError(f"Role '{value}': at most 120 characters, no spaces.", target="appRoles")
            roles.append({"id": new_id(), "value": value, "displayName": value, "allowedMemberTypes": ["User"]})
        with self.write("ApplicationManagement", "Add application") as op:
            app = self.insert_app(op, {"display_name": name, "app_roles": roles}, {})
            sp = self.insert_sp(op, app)
            sp.application_template_id = template_id
            sp.tags = list(tags or [])
            return sp

    def insert_sp(self, op: Write, app: Application, values: dict[str, Any] | None = None) -> ServicePrincipal:
        exists = op.session.scalar(
            select(ServicePrincipal.id).where(
                ServicePrincipal.tenant_id == self.tenant_id, ServicePrincipal.app_id == app.app_id
            )
        )
        if exists:
            raise ConflictError(
                "A service principal with the same appId already exists.",
                code="Request_MultipleObjectsWithSameKeyValue",
            )
        values = dict(values or {})
        values.update(service_principal_changes(values))
        if values.get("preferred_token_signing_key_thumbprint"):
            raise InvalidInputError(
                "A new service principal has no signing certificate yet: add one with addTokenSigningCertificate.",
                target="preferredTokenSigningKeyThumbprint",
            )
        sp = ServicePrincipal(
            id=new_id(),
            tenant_id=self.tenant_id,
            app_id=app.app_id,
            application_id=app.id,
            display_name=app.display_name,
            created_at=op.now,
            **values,
        )
        op.session.add(sp)
        op.session.flush()
        op.target("ServicePrincipal", sp.id, sp.display_name)
        return sp

    def update_sp(self, key: str, values: dict[str, Any]) -> ServicePrincipal:
        with self.write("ApplicationManagement", "Update service principal") as op:
            sp = self.find_sp(op.session, key)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            values = {**values, **service_principal_changes(values)}
            if values.get("preferred_token_signing_key_thumbprint"):
                require_signing_certificate(op.session, sp, values["preferred_token_signing_key_thumbprint"])
            op.details["modifiedProperties"] = op.record_changes(sp, values, SERVICE_PRINCIPAL_NAMES)
            for attr, value in values.items():
                setattr(sp, attr, value)
            return sp

    def delete_sp(self, key: str) -> None:
        with self.write("ApplicationManagement", "Remove service principal") as op:
            sp = self.find_sp(op.session, key)
            if sp.app_id == GRAPH_APP_ID:
                raise InvalidInputError("The built-in Microsoft Graph service principal cannot be deleted.")
            op.target("ServicePrincipal", sp.id, sp.display_name)
            op.session.delete(sp)

    def insert_graph_sp(self, op: Write) -> ServicePrincipal:
        sp = ServicePrincipal(
            id=new_id(),
            tenant_id=self.tenant_id,
            app_id=GRAPH_APP_ID,
            application_id=None,
            display_name="Microsoft Graph",
            app_roles=GRAPH_APP_ROLES,
            created_at=op.now,
        )
        op.session.add(sp)
        op.session.flush()
        return sp

    # --- app role assignments -----------------------------------------------------------------------------
    def assignments(
        self, *, principal_id: str | None = None, resource_id: str | None = None
    ) -> list[AppRoleAssignment]:
        with self.read() as session:
            stmt = select(AppRoleAssignment).where(AppRoleAssignment.tenant_id == self.tenant_id)
            if principal_id:
                self._principal(session, principal_id)
                stmt = stmt.where(AppRoleAssignment.principal_id == principal_id)
            if resource_id:
                self.find_sp(session, resource_id)
                stmt = stmt.where(AppRoleAssignment.resource_id == resource_id)
            return list(session.scalars(stmt.order_by(AppRoleAssignment.created_at, AppRoleAssignment.id)))

    def names(self, rows: list[AppRoleAssignment]) -> dict[str, str]:
        """Display names of the principals and resources of some assignments (for the wire format)."""
        ids = {r.principal_id for r in rows} | {r.resource_id for r in rows}
        with self.read() as session:
            out: dict[str, str] = {}
            tables: tuple[Any, ...] = (User, Group, ServicePrincipal)
            for table in tables:
                for row in session.scalars(select(table).where(table.id.in_(ids), table.tenant_id == self.tenant_id)):
                    out[row.id] = row.display_name or ""
            return out

    def assign(
        self, principal_id: Any, resource_id: Any, app_role_id: Any, expected_principal: str | None = None
    ) -> AppRoleAssignment:
        with self.write("ApplicationManagement", "Add app role assignment") as op:
            return self.insert_assignment(op, principal_id, resource_id, app_role_id, expected_principal)

    def insert_assignment(
        self,
        op: Write,
        principal_id: Any,
        resource_id: Any,
        app_role_id: Any,
        expected_principal: str | None = None,
    ) -> AppRoleAssignment:
        for name, value in (
            ("principalId", principal_id),
            ("resourceId", resource_id),
            ("appRoleId", app_role_id),
        ):
            if not isinstance(value, str) or not value:
                raise InvalidInputError(f"Invalid value specified for property '{name}'.", target=name)
        if expected_principal and principal_id != expected_principal:
            raise InvalidInputError("principalId must match the object in the request URL.", target="principalId")
        kind, principal = self._principal(op.session, principal_id)
        resource = self.find_sp(op.session, resource_id)
        roles = {r["id"]: r for r in self.sp_roles(op.session, resource)}
        member_type = "Application" if kind == "ServicePrincipal" else "User"
        if app_role_id != DEFAULT_ACCESS_ROLE_ID:
            role = roles.get(app_role_id)
            if role is None or not role.get("isEnabled", True):
                raise InvalidInputError("Permission being assigned was not found on application", target="appRoleId")
            if member_type not in role.get("allowedMemberTypes", []):
                raise InvalidInputError(
                    f"The app role is not assignable to a principal of type {kind}.", target="appRoleId"
                )
        duplicate = op.session.scalar(
            select(AppRoleAssignment.id).where(
                AppRoleAssignment.resource_id == resource.id,
                AppRoleAssignment.principal_id == principal.id,
                AppRoleAssignment.app_role_id == app_role_id,
            )
        )
        if duplicate:
            raise ConflictError("Permission being assigned already exists on the object")
        row = AppRoleAssignment(
            id=secrets.token_urlsafe(32)[:43],
            tenant_id=self.tenant_id,
            app_role_id=app_role_id,
            principal_id=principal.id,
            principal_type=kind,
            resource_id=resource.id,
            created_at=op.now,
        )
        op.session.add(row)
        op.target("ServicePrincipal", resource.id, resource.display_name)
        op.details.update(principalId=principal.id, appRoleId=app_role_id)
        if kind in ("User", "Group"):
            op.change(ObjectType(kind.lower()), principal.id, ChangeType.UPDATED, ["appRoleAssignments"])
        return row

    def unassign(self, assignment_id: str, *, principal_id: str | None = None, resource_id: str | None = None) -> None:
        with self.write("ApplicationManagement", "Remove app role assignment") as op:
            row = op.session.get(AppRoleAssignment, assignment_id)
            if (
                row is None
                or row.tenant_id != self.tenant_id
                or (principal_id and row.principal_id != principal_id)
                or (resource_id and row.resource_id != resource_id)
            ):
                raise NotFoundError(assignment_id)
            op.target("ServicePrincipal", row.resource_id)
            self.delete_assignment(op, row)

    def delete_assignment(self, op: Write, row: AppRoleAssignment) -> None:
        """Remove an app role assignment within a write (``unassign`` is the whole use case)."""
        op.session.delete(row)
        if row.principal_type in ("User", "Group"):
            op.change(
                ObjectType(row.principal_type.lower()), row.principal_id, ChangeType.UPDATED, ["appRoleAssignments"]
            )

    def assignee(self, kind: str, key: str) -> str:
        """The id of the object an assignment URL is under: a user (by id or userPrincipalName), a group or a
        service principal (by id or ``appId=``) of this tenant; NotFoundError for anything else."""
        with self.read() as session:
            if kind == "user":
                return UserService(self.sessions, self.actor).find(session, key).id
            if kind == "group":
                return GroupService(self.sessions, self.actor).find(session, key).id
            return self.find_sp(session, key).id

    def _principal(self, session: Session, object_id: str) -> tuple[str, Any]:
        for kind, table in (("User", User), ("Group", Group), ("ServicePrincipal", ServicePrincipal)):
            col: Any = table.id
            row = session.scalar(select(table).where(col == object_id, table.tenant_id == self.tenant_id))
            if row is not None and getattr(row, "deleted_at", None) is None:
                return kind, row
        raise NotFoundError(object_id)

    def grant_permissions(self, op: Write, client_sp: ServicePrincipal, permissions: list[str]) -> None:
        graph_sp = op.session.scalar(
            select(ServicePrincipal).where(
                ServicePrincipal.tenant_id == self.tenant_id, ServicePrincipal.app_id == GRAPH_APP_ID
            )
        )
        if graph_sp is None:
            raise NotFoundError(GRAPH_APP_ID)
        for permission in permissions:
            if permission not in APPLICATION_PERMISSIONS:
                raise InvalidInputError(f"Unknown permission '{permission}'.")
            self.insert_assignment(op, client_sp.id, graph_sp.id, permission_role_id(permission))
