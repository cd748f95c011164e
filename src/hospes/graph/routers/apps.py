"""``/applications`` and ``/servicePrincipals``, client secrets, and ``appRoleAssignedTo``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from hospes.domain.errors import InvalidInputError
from hospes.domain.schema import APPLICATION, SERVICE_PRINCIPAL
from hospes.domain.validation import validate_body
from hospes.graph.app_wire import application, password_credential, self_signed_certificate, service_principal
from hospes.graph.deps import (
    AppCredentialsWriter,
    AppLogosReader,
    AppLogosWriter,
    AppsReader,
    AppsWriter,
    AppViewsReader,
    AssignmentsWriter,
    BodyDep,
    ImageBodyDep,
    QueryOptions,
    RuntimeDep,
)
from hospes.graph.routers.assignments import assignments_collection, create_assignment
from hospes.graph.wire import entity, paged, parse_graph_datetime

router = APIRouter()


@router.get("/applications")
def list_apps(request: Request, state: RuntimeDep, apps: AppViewsReader) -> dict[str, Any]:
    options = QueryOptions(request, state, APPLICATION, apps.actor)
    page, views = apps.applications(options.query)
    items = (application(v, options.select, public_url=state.settings.public_url) for v in views)
    return paged(state, "applications", options, page, apps.tenant_id, items)


@router.post("/applications", status_code=201)
def create_app(body: BodyDep, state: RuntimeDep, apps: AppsWriter, views: AppViewsReader) -> dict[str, Any]:
    values, extras = validate_body(APPLICATION, body)
    created = apps.create_app(values, extras)
    return entity(
        state, "applications", application(views.application(created.id), public_url=state.settings.public_url)
    )


@router.get("/applications/{key}")
def get_app(key: str, request: Request, state: RuntimeDep, apps: AppViewsReader) -> dict[str, Any]:
    options = QueryOptions(request, state, APPLICATION, apps.actor)
    view = apps.application(key)
    wire = application(view, options.select, single=True, public_url=state.settings.public_url)
    return entity(state, "applications", wire)


@router.patch("/applications/{key}", status_code=204)
def update_app(key: str, body: BodyDep, apps: AppsWriter) -> Response:
    values, extras = validate_body(APPLICATION, body)
    apps.update_app(key, values, extras)
    return Response(status_code=204)


@router.delete("/applications/{key}", status_code=204)
def delete_app(key: str, apps: AppsWriter) -> Response:
    apps.delete_app(key)
    return Response(status_code=204)


@router.put("/applications/{key}/logo", status_code=204)
def put_logo(key: str, image: ImageBodyDep, logos: AppLogosWriter) -> Response:
    logos.set_logo(key, image.data, image.content_type)
    return Response(status_code=204)


@router.get("/applications/{key}/logo", response_class=Response)
def get_logo(key: str, logos: AppLogosReader) -> Response:
    logo = logos.logo(key)
    return Response(logo.data, media_type=logo.content_type, headers={"X-Content-Type-Options": "nosniff"})


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
        **password_credential(cred, text),
    }


@router.post("/applications/{key}/removePassword", status_code=204)
def remove_password(key: str, body: BodyDep, apps: AppsWriter) -> Response:
    key_id = body.get("keyId") if isinstance(body, dict) else None
    if not isinstance(key_id, str):
        raise InvalidInputError("Invalid value specified for property 'keyId'.")
    apps.remove_password(key, key_id)
    return Response(status_code=204)


@router.get("/servicePrincipals")
def list_sps(request: Request, state: RuntimeDep, apps: AppViewsReader) -> dict[str, Any]:
    options = QueryOptions(request, state, SERVICE_PRINCIPAL, apps.actor)
    page, views = apps.service_principals(options.query)
    items = (service_principal(v, options.select, public_url=state.settings.public_url) for v in views)
    return paged(state, "servicePrincipals", options, page, apps.tenant_id, items)


@router.post("/servicePrincipals", status_code=201)
def create_sp(body: BodyDep, state: RuntimeDep, apps: AppsWriter, views: AppViewsReader) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    rest = {k: v for k, v in body.items() if k != "appId"}
    values, _ = validate_body(SERVICE_PRINCIPAL, rest)
    sp = apps.create_sp(values, body.get("appId"))
    return entity(
        state,
        "servicePrincipals",
        service_principal(views.service_principal(sp.id), public_url=state.settings.public_url),
    )


@router.get("/servicePrincipals/{key}")
def get_sp(key: str, request: Request, state: RuntimeDep, apps: AppViewsReader) -> dict[str, Any]:
    options = QueryOptions(request, state, SERVICE_PRINCIPAL, apps.actor)
    view = apps.service_principal(key)
    wire = service_principal(view, options.select, single=True, public_url=state.settings.public_url)
    return entity(state, "servicePrincipals", wire)


@router.patch("/servicePrincipals/{key}", status_code=204)
def update_sp(key: str, body: BodyDep, apps: AppsWriter) -> Response:
    values, _ = validate_body(SERVICE_PRINCIPAL, body)
    apps.update_sp(key, values)
    return Response(status_code=204)


@router.post("/servicePrincipals/{key}/addTokenSigningCertificate")
def add_token_signing_certificate(
    key: str, body: BodyDep, state: RuntimeDep, credentials: AppCredentialsWriter
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    unknown = sorted(set(body) - {"displayName", "endDateTime", "@odata.type"})
    if unknown:
        raise InvalidInputError(f"Property '{unknown[0]}' does not exist on this action.", target=unknown[0])
    end = body.get("endDateTime")
    try:
        end_at = parse_graph_datetime(end) if end is not None else None
    except ValueError:
        raise InvalidInputError("Invalid value specified for property 'endDateTime'.", target="endDateTime") from None
    row = credentials.add_token_signing_certificate(key, body.get("displayName"), end_at)
    return {
        "@odata.context": f"{state.settings.public_url}/v1.0/$metadata#microsoft.graph.selfSignedCertificate",
        **self_signed_certificate(row),
    }


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
