"""``/organization``, ``/directory/deletedItems``, ``/directoryRoles``, ``/directoryObjects``, audit logs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.domain.schema import DIRECTORY_AUDIT, GROUP, USER
from hospes.graph.deps import (
    AuditReader,
    BodyDep,
    DeletedItemsReader,
    DeletedItemsWriter,
    DirectoryObjectsReader,
    OrganizationReader,
    OrganizationWriter,
    QueryOptions,
    RolesReader,
    RolesWriter,
    RuntimeDep,
)
from hospes.graph.routers.groups import directory_object
from hospes.graph.wire import collection, entity, graph_datetime, paged, to_wire
from hospes.services.directory import AuditLog, DeletedItemsService
from hospes.services.groups import reference_id
from hospes.services.tenants import Domain, Tenant

router = APIRouter()


def _organization(tenant: Tenant, domains: list[Domain]) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "displayName": tenant.display_name,
        "preferredLanguage": tenant.preferred_language,
        "privacyProfile": {
            "contactEmail": tenant.privacy_contact_email,
            "statementUrl": tenant.privacy_statement_url,
        },
        "technicalNotificationMails": tenant.technical_notification_mails or [],
        "marketingNotificationEmails": [],
        "securityComplianceNotificationMails": [],
        "verifiedDomains": [
            {
                "name": d.name,
                "isDefault": d.is_default,
                "isInitial": d.is_initial,
                "type": "Managed",
                "capabilities": "Email, OfficeCommunicationsOnline",
            }
            for d in domains
            if d.is_verified
        ],
        "tenantType": "AAD",
        "countryLetterCode": tenant.country_letter_code,
        "createdDateTime": graph_datetime(tenant.created_at),
    }


@router.get("/organization")
def list_organization(state: RuntimeDep, organization: OrganizationReader) -> dict[str, Any]:
    return collection(state, "organization", [_organization(*organization.get())])


@router.get("/organization/{org_id}")
def get_organization(org_id: str, state: RuntimeDep, organization: OrganizationReader) -> dict[str, Any]:
    tenant, domains = organization.get()
    if org_id != tenant.id:
        raise NotFoundError(org_id)
    return entity(state, "organization", _organization(tenant, domains))


@router.patch("/organization/{org_id}", status_code=204)
def update_organization(org_id: str, body: BodyDep, organization: OrganizationWriter) -> Response:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    organization.update(org_id, body)
    return Response(status_code=204)


_CASTS = {"microsoft.graph.user": USER, "microsoft.graph.group": GROUP}


def _deleted(kind: str, row: Any) -> dict[str, Any]:
    resource = USER if kind == "user" else GROUP
    return {
        "@odata.type": resource.odata_type,
        **to_wire(resource, row),
        "deletedDateTime": graph_datetime(row.deleted_at),
    }


@router.get("/directory/deletedItems/{cast}")
def list_deleted(cast: str, request: Request, state: RuntimeDep, deleted: DeletedItemsReader) -> dict[str, Any]:
    resource = _CASTS.get(cast)
    if resource is None:
        return get_deleted(cast, state, deleted)
    options = QueryOptions(request, state, resource, deleted.actor)
    page = deleted.page(resource.name, options.query)
    items = (_deleted(resource.name, r) for r in page.rows)
    return paged(state, f"directory/deletedItems/{cast}", options, page, deleted.tenant_id, items)


def get_deleted(object_id: str, state: RuntimeDep, deleted: DeletedItemsService) -> dict[str, Any]:
    kind, row = deleted.get(object_id)
    return entity(state, "directory/deletedItems", _deleted(kind, row))


@router.post("/directory/deletedItems/{object_id}/restore")
def restore_deleted(object_id: str, state: RuntimeDep, deleted: DeletedItemsWriter) -> dict[str, Any]:
    kind, row = deleted.restore(object_id)
    return entity(state, "directoryObjects", directory_object(kind, row))


@router.delete("/directory/deletedItems/{object_id}", status_code=204)
def purge_deleted(object_id: str, deleted: DeletedItemsWriter) -> Response:
    deleted.purge(object_id)
    return Response(status_code=204)


@router.get("/directoryObjects/{object_id}")
def get_directory_object(object_id: str, state: RuntimeDep, objects: DirectoryObjectsReader) -> dict[str, Any]:
    return entity(state, "directoryObjects", directory_object(*objects.get(object_id)))


def _role(role_id: str, name: str, description: str) -> dict[str, Any]:
    return {
        "id": role_id,
        "roleTemplateId": role_id,
        "displayName": name,
        "description": description,
        "deletedDateTime": None,
    }


@router.get("/directoryRoles")
def list_roles(state: RuntimeDep, roles: RolesReader) -> dict[str, Any]:
    return collection(state, "directoryRoles", (_role(*r) for r in roles.roles()))


@router.get("/directoryRoles/{role_id}")
def get_role(role_id: str, state: RuntimeDep, roles: RolesReader) -> dict[str, Any]:
    return entity(state, "directoryRoles", _role(*roles.role(role_id)))


@router.get("/directoryRoles/{role_id}/members")
def role_members(role_id: str, state: RuntimeDep, roles: RolesReader) -> dict[str, Any]:
    return collection(state, "directoryObjects", (directory_object(kind, row) for kind, row in roles.members(role_id)))


@router.post("/directoryRoles/{role_id}/members/$ref", status_code=204)
def add_role_member(role_id: str, body: BodyDep, roles: RolesWriter) -> Response:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be an object with an '@odata.id' property.")
    roles.add_member(role_id, reference_id(body.get("@odata.id")))
    return Response(status_code=204)


@router.delete("/directoryRoles/{role_id}/members/{object_id}/$ref", status_code=204)
def remove_role_member(role_id: str, object_id: str, roles: RolesWriter) -> Response:
    roles.remove_member(role_id, object_id)
    return Response(status_code=204)


def _audit(row: AuditLog, select: list[str] | None) -> dict[str, Any]:
    actor: dict[str, Any] = {"app": None, "user": None}
    if row.actor_type == "app":
        actor["app"] = {"servicePrincipalId": row.actor_id, "displayName": row.actor_name}
    elif row.actor_type == "user":
        actor["user"] = {"id": row.actor_id, "displayName": row.actor_name}
    else:
        actor["app"] = {"servicePrincipalId": None, "displayName": row.actor_name}
    values = {c.get("property"): c for c in row.details.get("changes", []) if isinstance(c, dict)}

    def modified(name: str) -> dict[str, Any]:
        # Entra writes each value as a JSON array in a string: "[\"Sales\"]".
        change = values.get(name)
        if change is None:
            return {"displayName": name, "oldValue": None, "newValue": None}
        return {
            "displayName": name,
            "oldValue": json.dumps([change.get("old")]),
            "newValue": json.dumps([change.get("new")]),
        }

    target = [
        {
            "id": row.target_id,
            "displayName": row.target_name,
            "type": row.target_type,
            "modifiedProperties": [modified(p) for p in row.details.get("modifiedProperties", [])],
        }
    ]
    return to_wire(
        DIRECTORY_AUDIT,
        row,
        select,
        computed={
            "loggedByService": "Core Directory",
            "operationType": row.activity.split(" ", 1)[0],
            "correlationId": row.request_id or row.id,  # the request that did it (a balancer's id when given)
            "initiatedBy": actor,
            "targetResources": target if row.target_id else [],
            "additionalDetails": [{"key": k, "value": str(v)} for k, v in row.details.items() if k != "changes"],
        },
    )


@router.get("/auditLogs/directoryAudits")
def list_audits(request: Request, state: RuntimeDep, audit: AuditReader) -> dict[str, Any]:
    options = QueryOptions(request, state, DIRECTORY_AUDIT, audit.actor)
    page = audit.page(options.query)
    items = (_audit(r, options.select) for r in page.rows)
    return paged(state, "auditLogs/directoryAudits", options, page, audit.tenant_id, items)
