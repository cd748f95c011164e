"""``/applications`` and ``/servicePrincipals``, client secrets, and ``appRoleAssignedTo``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from hospes.domain.errors import InvalidInputError
from hospes.domain.schema import APPLICATION, SERVICE_PRINCIPAL
from hospes.domain.validation import validate_body
from hospes.graph.deps import AppsReader, AppsWriter, AssignmentsWriter, BodyDep, QueryOptions, RuntimeDep
from hospes.graph.routers.assignments import assignments_collection, create_assignment
from hospes.graph.wire import entity, graph_datetime, paged, to_wire
from hospes.services.apps import Application, ClientSecret, ServicePrincipal

router = APIRouter()


def _credential(cred: ClientSecret, secret_text: str | None = None) -> dict[str, Any]:
    return {
        "customKeyIdentifier": None,
        "displayName": cred.display_name,
        "endDateTime": graph_datetime(cred.end_at),
        "hint": cred.hint,
        "keyId": cred.key_id,
        "secretText": secret_text,
        "startDateTime": graph_datetime(cred.start_at),
    }


def _app(app: Application, creds: list[ClientSecret], select: list[str] | None = None) -> dict[str, Any]:
    return to_wire(
        APPLICATION,
        app,
        select,
        computed={
            "passwordCredentials": [_credential(c) for c in creds],
            "web": {"redirectUris": app.web_redirect_uris},
            "requiredResourceAccess": [],
        },
    )


def _sp(sp: ServicePrincipal, roles: list[dict[str, Any]], select: list[str] | None = None) -> dict[str, Any]:
    return to_wire(SERVICE_PRINCIPAL, sp, select, computed={"appRoles": roles, "servicePrincipalType": "Application"})


@router.get("/applications")
def list_apps(request: Request, state: RuntimeDep, apps: AppsReader) -> dict[str, Any]:
    options = QueryOptions(request, state, APPLICATION, apps.actor)
    page, creds = apps.list_apps(options.query)
    items = (_app(a, creds[a.id], options.select) for a in page.rows)
    return paged(state, "applications", options, page, apps.tenant_id, items)


@router.post("/applications", status_code=201)
def create_app(body: BodyDep, state: RuntimeDep, apps: AppsWriter) -> dict[str, Any]:
    values, extras = validate_body(APPLICATION, body)
    return entity(state, "applications", _app(apps.create_app(values, extras), []))


@router.get("/applications/{key}")
def get_app(key: str, request: Request, state: RuntimeDep, apps: AppsReader) -> dict[str, Any]:
    options = QueryOptions(request, state, APPLICATION, apps.actor)
    app, creds = apps.get_app(key)
    return entity(state, "applications", _app(app, creds, options.select))


@router.patch("/applications/{key}", status_code=204)
def update_app(key: str, body: BodyDep, apps: AppsWriter) -> Response:
    values, _ = validate_body(APPLICATION, body)
    apps.update_app(key, values)
    return Response(status_code=204)


@router.delete("/applications/{key}", status_code=204)
def delete_app(key: str, apps: AppsWriter) -> Response:
    apps.delete_app(key)
    return Response(status_code=204)


@router.post("/applications/{key}/addPassword")
def add_password(key: str, body: BodyDep, state: RuntimeDep, apps: AppsWriter) -> dict[str, Any]:
    credential = body.get("passwordCredential", {}) if isinstance(body, dict) else None
    if not isinstance(credential, dict):
        raise InvalidInputError("Invalid value specified for property 'passwordCredential'.")
    name = credential.get("displayName")
    if name is not None and not isinstance(name, str):
        raise InvalidInputError("Invalid value specified for property 'displayName'.")
    cred, text = apps.add_password(key, name)
    return {
        "@odata.context": f"{state.settings.public_url}/v1.0/$metadata#microsoft.graph.passwordCredential",
        **_credential(cred, text),
    }


@router.post("/applications/{key}/removePassword", status_code=204)
def remove_password(key: str, body: BodyDep, apps: AppsWriter) -> Response:
    key_id = body.get("keyId") if isinstance(body, dict) else None
    if not isinstance(key_id, str):
        raise InvalidInputError("Invalid value specified for property 'keyId'.")
    apps.remove_password(key, key_id)
    return Response(status_code=204)


@router.get("/servicePrincipals")
def list_sps(request: Request, state: RuntimeDep, apps: AppsReader) -> dict[str, Any]:
    options = QueryOptions(request, state, SERVICE_PRINCIPAL, apps.actor)
    page, roles = apps.list_sps(options.query)
    items = (_sp(sp, roles[sp.id], options.select) for sp in page.rows)
    return paged(state, "servicePrincipals", options, page, apps.tenant_id, items)


@router.post("/servicePrincipals", status_code=201)
def create_sp(body: BodyDep, state: RuntimeDep, apps: AppsWriter) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    rest = {k: v for k, v in body.items() if k != "appId"}
    values, _ = validate_body(SERVICE_PRINCIPAL, rest)
    sp = apps.create_sp(values, body.get("appId"))
    _, roles = apps.get_sp(sp.id)
    return entity(state, "servicePrincipals", _sp(sp, roles))


@router.get("/servicePrincipals/{key}")
def get_sp(key: str, request: Request, state: RuntimeDep, apps: AppsReader) -> dict[str, Any]:
    options = QueryOptions(request, state, SERVICE_PRINCIPAL, apps.actor)
    sp, roles = apps.get_sp(key)
    return entity(state, "servicePrincipals", _sp(sp, roles, options.select))


@router.patch("/servicePrincipals/{key}", status_code=204)
def update_sp(key: str, body: BodyDep, apps: AppsWriter) -> Response:
    values, _ = validate_body(SERVICE_PRINCIPAL, body)
    apps.update_sp(key, values)
    return Response(status_code=204)


@router.delete("/servicePrincipals/{key}", status_code=204)
def delete_sp(key: str, apps: AppsWriter) -> Response:
    apps.delete_sp(key)
    return Response(status_code=204)


@router.get("/servicePrincipals/{key}/appRoleAssignedTo")
def assigned_to(key: str, state: RuntimeDep, apps: AppsReader) -> dict[str, Any]:
    sp_id = apps.assignee("servicePrincipal", key)
    return assignments_collection(state, apps, f"servicePrincipals('{sp_id}')/appRoleAssignedTo", resource_id=sp_id)


@router.post("/servicePrincipals/{key}/appRoleAssignedTo", status_code=201)
def assign_to(key: str, body: BodyDep, state: RuntimeDep, apps: AssignmentsWriter) -> dict[str, Any]:
    sp_id = apps.assignee("servicePrincipal", key)
    context = f"servicePrincipals('{sp_id}')/appRoleAssignedTo"
    return create_assignment(state, apps, body, None, context, resource_id=sp_id)


@router.delete("/servicePrincipals/{key}/appRoleAssignedTo/{assignment_id}", status_code=204)
def unassign_to(key: str, assignment_id: str, apps: AssignmentsWriter) -> Response:
    apps.unassign(assignment_id, resource_id=apps.assignee("servicePrincipal", key))
    return Response(status_code=204)


@router.get("/servicePrincipals/{key}/appRoleAssignments")
def sp_assignments(key: str, state: RuntimeDep, apps: AppsReader) -> dict[str, Any]:
    sp_id = apps.assignee("servicePrincipal", key)
    return assignments_collection(state, apps, f"servicePrincipals('{sp_id}')/appRoleAssignments", principal_id=sp_id)


@router.post("/servicePrincipals/{key}/appRoleAssignments", status_code=201)
def sp_assign(key: str, body: BodyDep, state: RuntimeDep, apps: AssignmentsWriter) -> dict[str, Any]:
    sp_id = apps.assignee("servicePrincipal", key)
    return create_assignment(state, apps, body, sp_id, f"servicePrincipals('{sp_id}')/appRoleAssignments")
