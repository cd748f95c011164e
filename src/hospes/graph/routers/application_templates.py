"""``/applicationTemplates/{id}/instantiate``: an application and its service principal made from a template, in
one write (Hospes knows the cross-tenant synchronization configuration's template)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hospes.domain.cross_tenant import APPLICATION_TEMPLATES
from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.graph.app_wire import application, service_principal
from hospes.graph.deps import AppsWriter, AppViewsReader, BodyDep, RuntimeDep
from hospes.graph.wire import context_url

router = APIRouter()


@router.post("/applicationTemplates/{template_id}/instantiate", status_code=201)
def instantiate(
    template_id: str, body: BodyDep, state: RuntimeDep, apps: AppsWriter, views: AppViewsReader
) -> dict[str, Any]:
    template = APPLICATION_TEMPLATES.get(template_id.lower())
    if template is None:
        raise NotFoundError(template_id)
    if not isinstance(body, dict) or set(body) - {"displayName", "@odata.type"}:
        raise InvalidInputError('The body is {"displayName": "..."}.', target="displayName")
    name = body.get("displayName")
    if not isinstance(name, str):
        raise InvalidInputError("'displayName' is required.", target="displayName")
    sp = apps.create_enterprise_app(name, list(template[1]), template_id.lower())
    if sp.application_id is None:
        raise NotFoundError(template_id)  # an enterprise app always has its registration; keeps the types honest
    return {
        "@odata.context": context_url(state, "microsoft.graph.applicationServicePrincipal"),
        "application": application(views.application(sp.application_id)),
        "servicePrincipal": service_principal(views.service_principal(sp.id)),
    }
