"""What the entitlement-management use cases share: tenant-scoped lookups, the wire forms of its objects, and the
change-log records of its transitions."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.entitlements import GROUP, role_id, scope_id, stamp
from hospes.domain.errors import NotFoundError
from hospes.domain.principals import DEFAULT_ACCESS_ROLE_ID
from hospes.services.base import Write
from hospes.storage.tables import Application, Group, ServicePrincipal
from hospes.storage.tables_entitlement import (
    EmAssignment,
    EmCatalog,
    EmConnectedOrg,
    EmPackage,
    EmRequest,
    EmResource,
    EmRoleScope,
    EmSubject,
)

T = TypeVar("T")
CATEGORY = "EntitlementManagement"


def find(session: Session, table: type[T], tenant_id: str, object_id: str, *, lock: bool = False) -> T:
    row = session.get(table, object_id, with_for_update=lock) if isinstance(object_id, str) else None
    if row is None or getattr(row, "tenant_id", None) != tenant_id:
        raise NotFoundError(str(object_id))
    return row


def log_assignment(op: Write, assignment: EmAssignment, change: ChangeType = ChangeType.UPDATED) -> None:
    op.change(
        ObjectType.ACCESS_PACKAGE_ASSIGNMENT,
        assignment.id,
        change,
        [assignment.state],
        related_id=assignment.target_user_id,
        related_type="user" if assignment.target_user_id else None,
    )


def log_request(op: Write, request: EmRequest, change: ChangeType = ChangeType.UPDATED) -> None:
    op.change(
        ObjectType.ACCESS_PACKAGE_REQUEST,
        request.id,
        change,
        [request.state],
        related_id=request.assignment_id,
        related_type="accessPackageAssignment" if request.assignment_id else None,
    )


# -- resources and their roles -------------------------------------------------------------------------------------


def resource_roles(session: Session, resource: EmResource) -> list[dict[str, Any]]:
    """A resource's roles as Graph lists them: a group's Member and Owner, an app's roles (Default Access when it
    defines none)."""
    if resource.origin_system == GROUP:
        pairs = [(f"Member_{resource.origin_id}", "Member"), (f"Owner_{resource.origin_id}", "Owner")]
    else:
        pairs = [(r["id"], r.get("displayName") or r.get("value") or r["id"]) for r in app_roles(session, resource)]
        pairs = pairs or [(DEFAULT_ACCESS_ROLE_ID, "Default Access")]
    return [
        {
            "id": role_id(resource.id, origin),
            "displayName": name,
            "description": None,
            "originId": origin,
            "originSystem": resource.origin_system,
        }
        for origin, name in pairs
    ]


def app_roles(session: Session, resource: EmResource) -> list[dict[str, Any]]:
    sp = session.get(ServicePrincipal, resource.origin_id)
    if sp is None:
        return []
    roles = session.get(Application, sp.application_id).app_roles if sp.application_id else sp.app_roles  # type: ignore[union-attr]
    return [r for r in roles or [] if r.get("isEnabled", True) and "User" in r.get("allowedMemberTypes", ["User"])]


def origin_object(session: Session, tenant_id: str, origin_system: str, origin_id: str) -> Group | ServicePrincipal:
    table: Any = Group if origin_system == GROUP else ServicePrincipal
    row = session.get(table, origin_id)
    if row is None or row.tenant_id != tenant_id or getattr(row, "deleted_at", None) is not None:
        raise NotFoundError(origin_id)
    return row  # type: ignore[no-any-return]


# -- wire forms ----------------------------------------------------------------------------------------------------


def catalog_wire(row: EmCatalog) -> dict[str, Any]:
    return {
        "id": row.id,
        "displayName": row.display_name,
        "description": row.description,
        "catalogType": row.catalog_type,
        "state": row.state,
        "isExternallyVisible": row.is_externally_visible,
        "createdDateTime": stamp(row.created_at),
        "modifiedDateTime": stamp(row.modified_at),
    }


def resource_wire(row: EmResource) -> dict[str, Any]:
    return {
        "id": row.id,
        "displayName": row.display_name,
        "description": row.description,
        "originId": row.origin_id,
        "originSystem": row.origin_system,
        "createdDateTime": stamp(row.created_at),
        "modifiedDateTime": stamp(row.modified_at),
    }


def scope_wire(resource: EmResource) -> dict[str, Any]:
    return {
        "id": scope_id(resource.id),
        "displayName": "Root",
        "description": "Root Scope",
        "originId": resource.origin_id,
        "originSystem": resource.origin_system,
        "isRootScope": True,
    }


def package_wire(row: EmPackage) -> dict[str, Any]:
    return {
        "id": row.id,
        "displayName": row.display_name,
        "description": row.description,
        "isHidden": row.is_hidden,
        "createdDateTime": stamp(row.created_at),
        "modifiedDateTime": stamp(row.modified_at),
    }


def role_scope_wire(row: EmRoleScope, resource: EmResource | None) -> dict[str, Any]:
    role: dict[str, Any] = {
        "id": role_id(row.resource_id, row.role_origin_id),
        "displayName": row.role_name,
        "originId": row.role_origin_id,
        "originSystem": row.origin_system,
    }
    out: dict[str, Any] = {"id": row.id, "createdDateTime": stamp(row.created_at), "role": role}
    if resource is not None:
        role["resource"] = resource_wire(resource)
        out["scope"] = scope_wire(resource)
    return out


def org_wire(row: EmConnectedOrg) -> dict[str, Any]:
    return {
        "id": row.id,
        "displayName": row.display_name,
        "description": row.description,
        "state": row.state,
        "identitySources": list(row.identity_sources),
        "createdDateTime": stamp(row.created_at),
        "modifiedDateTime": stamp(row.modified_at),
    }


def subject_wire(row: EmSubject) -> dict[str, Any]:
    return {
        "id": row.id,
        "objectId": row.object_id,
        "displayName": row.display_name,
        "email": row.email,
        "principalName": row.principal_name,
        "onPremisesSecurityIdentifier": None,
        "subjectType": row.subject_type,
        "subjectLifecycle": row.lifecycle,
    }


def assignment_wire(row: EmAssignment, session: Session | None = None) -> dict[str, Any]:
    schedule: dict[str, Any] = {"startDateTime": stamp(row.start_at)}
    schedule["expiration"] = (
        {"type": "afterDateTime", "endDateTime": stamp(row.end_at), "duration": None}
        if row.end_at
        else {"type": "noExpiration", "endDateTime": None, "duration": None}
    )
    out: dict[str, Any] = {
        "id": row.id,
        "state": row.state,
        "status": row.status,
        "expiredDateTime": stamp(row.expired_at),
        "schedule": schedule,
        "customExtensionCalloutInstances": [],
        "accessPackage": {"id": row.package_id},
        "assignmentPolicy": {"id": row.policy_id},
    }
    if session is not None:
        subject = session.get(EmSubject, row.subject_id)
        if subject is not None:
            out["target"] = subject_wire(subject)
    return out


def request_wire(row: EmRequest, session: Session | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "requestType": row.request_type,
        "state": row.state,
        "status": row.status,
        "justification": row.justification,
        "createdDateTime": stamp(row.created_at),
        "completedDateTime": stamp(row.completed_at),
        "schedule": row.schedule,
        "answers": list(row.answers or []),
        "customExtensionCalloutInstances": [],
        "accessPackage": {"id": row.package_id},
    }
    if session is not None:
        subject = session.get(EmSubject, row.subject_id)
        if subject is not None:
            out["requestor"] = subject_wire(subject)
        if row.assignment_id:
            assignment = session.get(EmAssignment, row.assignment_id)
            if assignment is not None:
                out["assignment"] = assignment_wire(assignment)
    return out


def catalog_of_package(session: Session, package: EmPackage) -> EmCatalog:
    catalog = session.get(EmCatalog, package.catalog_id)
    assert catalog is not None  # a foreign key
    return catalog


def subject_for_user(
    op: Write, user_id: str, *, display_name: str | None, upn: str | None, mail: str | None
) -> EmSubject:
    """The subject row of a directory user, made on first use."""
    row = op.session.scalar(
        select(EmSubject).where(EmSubject.tenant_id == op.actor.tenant_id, EmSubject.object_id == user_id)
    )
    if row is None:
        from hospes.domain.ids import new_id

        row = EmSubject(
            id=new_id(),
            tenant_id=op.actor.tenant_id,
            object_id=user_id,
            email=mail,
            display_name=display_name,
            principal_name=upn,
            subject_type="user",
            lifecycle="notGoverned",
            created_at=op.now,
        )
        op.session.add(row)
        op.session.flush()
    return row
