"""Catalogs, the resources added to them (groups and applications) with their roles, access packages and the role
scopes that say what a package grants. Adding a role scope grants it to every current assignee; removing one
takes it from each (unless another package still gives it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from hospes.domain import entitlements as em
from hospes.domain.entitlements import APP, LIVE_ASSIGNMENT_STATES, role_id, scope_id
from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.services.base import Services
from hospes.services.entitlement import grants
from hospes.services.entitlement.common import (
    CATEGORY,
    catalog_wire,
    find,
    origin_object,
    package_wire,
    resource_roles,
    resource_wire,
    role_scope_wire,
    scope_wire,
)
from hospes.services.group_rules import is_dynamic
from hospes.storage.tables import Group, ServicePrincipal
from hospes.storage.tables_entitlement import EmAssignment, EmCatalog, EmPackage, EmPolicy, EmResource, EmRoleScope

MAX_CATALOGS = 1500
MAX_PACKAGES_PER_CATALOG = 50
MAX_RESOURCES_PER_CATALOG = 50


class CatalogService(Services):
    # -- catalogs --------------------------------------------------------------------------------------------------

    def list_catalogs(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.read() as session:
            stmt = select(EmCatalog).where(EmCatalog.tenant_id == self.tenant_id)
            if name is not None:
                stmt = stmt.where(EmCatalog.display_name == name)
            return [catalog_wire(r) for r in session.scalars(stmt.order_by(EmCatalog.created_at, EmCatalog.id))]

    def get_catalog(self, catalog_id: str) -> dict[str, Any]:
        with self.read() as session:
            return catalog_wire(find(session, EmCatalog, self.tenant_id, catalog_id))

    def create_catalog(self, body: Any) -> dict[str, Any]:
        values = em.parse_catalog(body, partial=False)
        with self.write(CATEGORY, "Create access package catalog") as op:
            count = op.session.scalar(select(func.count()).where(EmCatalog.tenant_id == self.tenant_id)) or 0
            if count >= MAX_CATALOGS:
                raise InvalidInputError(f"A tenant has at most {MAX_CATALOGS} catalogs.")
            row = EmCatalog(id=new_id(), tenant_id=self.tenant_id, created_at=op.now, modified_at=op.now, **values)
            op.session.add(row)
            op.target("AccessPackageCatalog", row.id, row.display_name)
            return catalog_wire(row)

    def update_catalog(self, catalog_id: str, body: Any) -> None:
        values = em.parse_catalog(body, partial=True)
        with self.write(CATEGORY, "Update access package catalog") as op:
            row = find(op.session, EmCatalog, self.tenant_id, catalog_id, lock=True)
            op.target("AccessPackageCatalog", row.id, row.display_name)
            for key, value in values.items():
                setattr(row, key, value)
            row.modified_at = op.now

    def delete_catalog(self, catalog_id: str) -> None:
        with self.write(CATEGORY, "Delete access package catalog") as op:
            row = find(op.session, EmCatalog, self.tenant_id, catalog_id, lock=True)
            op.target("AccessPackageCatalog", row.id, row.display_name)
            if op.session.scalar(select(EmPackage.id).where(EmPackage.catalog_id == row.id).limit(1)):
                raise InvalidInputError("The catalog still holds access packages; delete them first.")
            op.session.delete(row)

    # -- resources -------------------------------------------------------------------------------------------------

    def resource_request(self, body: Any) -> dict[str, Any]:
        """``POST /resourceRequests``: add a group or application to a catalog (``adminAdd``) or take it out
        (``adminRemove``); answered with the request, ``delivered``."""
        body = em.obj(body, "accessPackageResourceRequest")
        kind = em.enum(body.get("requestType", ""), ("adminAdd", "adminRemove"), "requestType")
        resource = em.obj(body.get("resource"), "resource")
        catalog_id = em.obj(body.get("catalog"), "catalog").get("id")
        origin_id, system = resource.get("originId"), resource.get("originSystem")
        if not isinstance(origin_id, str) or not origin_id:
            raise InvalidInputError("'resource.originId' is required.", target="resource")
        system = em.enum(system, em.ORIGIN_SYSTEMS, "resource.originSystem")
        activity = "Add resource to catalog" if kind == "adminAdd" else "Remove resource from catalog"
        with self.write(CATEGORY, activity) as op:
            catalog = find(op.session, EmCatalog, self.tenant_id, str(catalog_id))
            op.target("AccessPackageCatalog", catalog.id, catalog.display_name)
            existing = op.session.scalar(
                select(EmResource).where(EmResource.catalog_id == catalog.id, EmResource.origin_id == origin_id)
            )
            if kind == "adminRemove":
                if existing is None:
                    raise NotFoundError(origin_id)
                if op.session.scalar(select(EmRoleScope.id).where(EmRoleScope.resource_id == existing.id).limit(1)):
                    raise InvalidInputError("The resource's roles are still in access packages; remove them first.")
                op.session.delete(existing)
                row = existing
            else:
                row = existing or self._add_resource(op.session, catalog, system, origin_id, op.now)
            op.details.update(originId=origin_id, originSystem=system)
            return {
                "id": new_id(),
                "requestType": kind,
                "state": "delivered",
                "createdDateTime": em.stamp(op.now),
                "resource": resource_wire(row),
                "catalog": {"id": catalog.id},
            }

    def _add_resource(self, session: Any, catalog: EmCatalog, system: str, origin_id: str, now: Any) -> EmResource:
        count = session.scalar(select(func.count()).where(EmResource.catalog_id == catalog.id)) or 0
        if count >= MAX_RESOURCES_PER_CATALOG:
            raise InvalidInputError(f"A catalog holds at most {MAX_RESOURCES_PER_CATALOG} resources.")
        obj = origin_object(session, self.tenant_id, system, origin_id)
        if isinstance(obj, Group) and is_dynamic(obj):
            raise InvalidInputError(
                "A dynamic group cannot be a catalog resource: its members come from its rule, not from requests.",
                target="resource",
            )
        if isinstance(obj, ServicePrincipal) and system != APP:
            raise InvalidInputError("originSystem does not match the object.", target="resource")
        row = EmResource(
            id=new_id(),
            tenant_id=self.tenant_id,
            catalog_id=catalog.id,
            origin_id=origin_id,
            origin_system=system,
            display_name=obj.display_name or origin_id,
            description=getattr(obj, "description", None),
            created_at=now,
            modified_at=now,
        )
        session.add(row)
        return row

    def resources(self, catalog_id: str) -> list[dict[str, Any]]:
        with self.read() as session:
            catalog = find(session, EmCatalog, self.tenant_id, catalog_id)
            rows = session.scalars(
                select(EmResource).where(EmResource.catalog_id == catalog.id).order_by(EmResource.created_at)
            )
            return [resource_wire(r) for r in rows]

    def resource_roles(
        self, catalog_id: str, *, origin_system: str | None, resource_id: str | None, expand: bool
    ) -> list[dict[str, Any]]:
        with self.read() as session:
            catalog = find(session, EmCatalog, self.tenant_id, catalog_id)
            stmt = select(EmResource).where(EmResource.catalog_id == catalog.id)
            if origin_system is not None:
                stmt = stmt.where(EmResource.origin_system == origin_system)
            if resource_id is not None:
                stmt = stmt.where(EmResource.id == resource_id)
            out = []
            for resource in session.scalars(stmt.order_by(EmResource.created_at)):
                for role in resource_roles(session, resource):
                    out.append({**role, "resource": resource_wire(resource)} if expand else role)
            return out

    def resource_scopes(self, catalog_id: str) -> list[dict[str, Any]]:
        with self.read() as session:
            catalog = find(session, EmCatalog, self.tenant_id, catalog_id)
            rows = session.scalars(select(EmResource).where(EmResource.catalog_id == catalog.id))
            return [{**scope_wire(r), "resource": resource_wire(r)} for r in rows]

    # -- packages --------------------------------------------------------------------------------------------------

    def list_packages(self, name: str | None = None, catalog_id: str | None = None) -> list[dict[str, Any]]:
        with self.read() as session:
            stmt = select(EmPackage).where(EmPackage.tenant_id == self.tenant_id)
            if name is not None:
                stmt = stmt.where(EmPackage.display_name == name)
            if catalog_id is not None:
                stmt = stmt.where(EmPackage.catalog_id == catalog_id)
            return [package_wire(r) for r in session.scalars(stmt.order_by(EmPackage.created_at, EmPackage.id))]

    def get_package(self, package_id: str, expand: set[str]) -> dict[str, Any]:
        from hospes.domain.entitlement_policy import policy_wire

        with self.read() as session:
            row = find(session, EmPackage, self.tenant_id, package_id)
            out = package_wire(row)
            if "catalog" in expand:
                out["catalog"] = catalog_wire(find(session, EmCatalog, self.tenant_id, row.catalog_id))
            if "assignmentPolicies" in expand:
                policies = session.scalars(select(EmPolicy).where(EmPolicy.package_id == row.id))
                out["assignmentPolicies"] = [policy_wire(p) for p in policies]
            if "resourceRoleScopes" in expand:
                out["resourceRoleScopes"] = self._role_scopes(session, row.id)
            return out

    def create_package(self, body: Any) -> dict[str, Any]:
        values, catalog_id = em.parse_package(body, partial=False)
        with self.write(CATEGORY, "Create access package") as op:
            catalog = find(op.session, EmCatalog, self.tenant_id, str(catalog_id))
            count = op.session.scalar(select(func.count()).where(EmPackage.catalog_id == catalog.id)) or 0
            if count >= MAX_PACKAGES_PER_CATALOG:
                raise InvalidInputError(f"A catalog holds at most {MAX_PACKAGES_PER_CATALOG} access packages.")
            row = EmPackage(
                id=new_id(),
                tenant_id=self.tenant_id,
                catalog_id=catalog.id,
                created_at=op.now,
                modified_at=op.now,
                **values,
            )
            op.session.add(row)
            op.target("AccessPackage", row.id, row.display_name)
            return {**package_wire(row), "catalog": catalog_wire(catalog)}

    def update_package(self, package_id: str, body: Any) -> None:
        values, _ = em.parse_package(body, partial=True)
        with self.write(CATEGORY, "Update access package") as op:
            row = find(op.session, EmPackage, self.tenant_id, package_id, lock=True)
            op.target("AccessPackage", row.id, row.display_name)
            for key, value in values.items():
                setattr(row, key, value)
            row.modified_at = op.now

    def delete_package(self, package_id: str) -> None:
        with self.write(CATEGORY, "Delete access package") as op:
            row = find(op.session, EmPackage, self.tenant_id, package_id, lock=True)
            op.target("AccessPackage", row.id, row.display_name)
            live = op.session.scalar(
                select(EmAssignment.id)
                .where(EmAssignment.package_id == row.id, EmAssignment.state.in_(LIVE_ASSIGNMENT_STATES))
                .limit(1)
            )
            if live:
                raise InvalidInputError("The access package has assignments; remove them before deleting it.")
            op.session.delete(row)

    # -- role scopes -----------------------------------------------------------------------------------------------

    def _role_scopes(self, session: Any, package_id: str) -> list[dict[str, Any]]:
        rows = session.scalars(
            select(EmRoleScope).where(EmRoleScope.package_id == package_id).order_by(EmRoleScope.created_at)
        )
        return [role_scope_wire(r, session.get(EmResource, r.resource_id)) for r in rows]

    def role_scopes(self, package_id: str) -> list[dict[str, Any]]:
        with self.read() as session:
            row = find(session, EmPackage, self.tenant_id, package_id)
            return self._role_scopes(session, row.id)

    def add_role_scope(self, package_id: str, body: Any) -> dict[str, Any]:
        body = em.obj(body, "accessPackageResourceRoleScope")
        role = em.obj(body.get("role"), "role")
        scope = em.obj(body.get("scope") or {}, "scope")
        with self.write(CATEGORY, "Add resource role to access package") as op:
            package = find(op.session, EmPackage, self.tenant_id, package_id, lock=True)
            op.target("AccessPackage", package.id, package.display_name)
            resource, origin, name = self._resolve_role(op.session, package, role, scope)
            scope_key = f"{role_id(resource.id, origin)}_{scope_id(resource.id)}"
            if op.session.get(EmRoleScope, (package.id, scope_key)) is not None:
                raise ConflictError("The access package already has this resource role.")
            row = EmRoleScope(
                package_id=package.id,
                id=scope_key,
                tenant_id=self.tenant_id,
                resource_id=resource.id,
                origin_system=resource.origin_system,
                origin_id=resource.origin_id,
                role_origin_id=origin,
                role_name=name,
                created_at=op.now,
            )
            op.session.add(row)
            op.session.flush()
            grants.forget_scopes(op)
            for assignment in grants.live_assignments(op, package.id):
                if assignment.target_user_id:
                    grants.grant(op, row, assignment.target_user_id)
            op.details.update(roleOriginId=origin, resourceOriginId=resource.origin_id)
            return role_scope_wire(row, resource)

    def _resolve_role(
        self, session: Any, package: EmPackage, role: dict[str, Any], scope: dict[str, Any]
    ) -> tuple[EmResource, str, str]:
        """The catalog resource and role a role-scope body names: by the role's origin id and its resource (id or
        origin id), or by the role's id."""
        found = role.get("resource")
        resource_ref: dict[str, Any] = found if isinstance(found, dict) else {}
        wanted_origin = role.get("originId")
        candidates = list(session.scalars(select(EmResource).where(EmResource.catalog_id == package.catalog_id)))
        for resource in candidates:
            if resource_ref.get("id") not in (None, resource.id):
                continue
            if resource_ref.get("originId") not in (None, resource.origin_id):
                continue
            if scope.get("originId") not in (None, resource.origin_id):
                continue
            for item in resource_roles(session, resource):
                if item["originId"] == wanted_origin or item["id"] == role.get("id"):
                    return resource, item["originId"], item["displayName"]
        raise InvalidInputError(
            "The role is not a role of a resource in the access package's catalog; add the resource to the catalog "
            "first.",
            target="role",
        )

    def remove_role_scope(self, package_id: str, scope_key: str) -> None:
        with self.write(CATEGORY, "Remove resource role from access package") as op:
            package = find(op.session, EmPackage, self.tenant_id, package_id, lock=True)
            op.target("AccessPackage", package.id, package.display_name)
            row = op.session.get(EmRoleScope, (package.id, scope_key))
            if row is None:
                raise NotFoundError(scope_key)
            for assignment in grants.live_assignments(op, package.id):
                # The other assignments of this package still list the scope until it is deleted below, so the
                # count looks past this package.
                user_id = assignment.target_user_id
                if user_id and not _held_outside(op, row, user_id, package.id):
                    grants.revoke(op, row, user_id, assignment.id)
            op.session.delete(row)
            grants.forget_scopes(op)


def _held_outside(op: Any, scope: EmRoleScope, user_id: str, package_id: str) -> bool:
    found = op.session.scalar(
        select(EmAssignment.id)
        .join(EmRoleScope, EmRoleScope.package_id == EmAssignment.package_id)
        .where(
            EmAssignment.tenant_id == op.actor.tenant_id,
            EmAssignment.target_user_id == user_id,
            EmAssignment.package_id != package_id,
            EmAssignment.state.in_(LIVE_ASSIGNMENT_STATES),
            EmRoleScope.origin_id == scope.origin_id,
            EmRoleScope.role_origin_id == scope.role_origin_id,
        )
        .limit(1)
    )
    return found is not None
