"""``/servicePrincipals/{id}/synchronization``: jobs, secrets, templates, schema and job actions.

A thin layer over ``hospes.provisioning.service.ProvisioningService`` (``Runtime.provisioning``): the facade
checks that the service principal and the job belong to the caller's tenant (another tenant's → 404) and raises
domain errors, which the composition root turns into the Graph error envelope. This module only reads bodies,
applies the SDK's quirks (list-valued ``resetScope`` and ``flowTypes`` serialize to nothing) and shapes responses.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Response

from hospes.domain.errors import InvalidInputError
from hospes.domain.principals import Principal
from hospes.expressions import FILTER_OPERATORS, FUNCTIONS
from hospes.expressions.graph_source import parse_expression_response
from hospes.expressions.scope import filter_operators_graph
from hospes.graph.deps import (
    BodyDep,
    OptionalBodyDep,
    Provisioning,
    RuntimeDep,
    SyncAppsReader,
    SyncReader,
    SyncWriter,
)
from hospes.graph.wire import collection, context_url, entity
from hospes.provisioning.jobs import TEMPLATES, offered_templates
from hospes.provisioning.service import ProvisioningService
from hospes.services.apps import AppService

router = APIRouter()

ON_DEMAND_KEY = "Microsoft.Identity.Health.CPP.Common.DataContracts.SyncFabric.StatusInfo"
_STEP_TYPES = {
    "import": "Import",
    "scoping": "Scoping",
    "matching": "Matching",
    "processing": "Processing",
    "referenceresolution": "ReferenceResolution",
    "export": "Export",
}
# attributeMappingParameterSchema.type is a Graph attributeType; the registry's kinds are finer-grained.
_PARAM_TYPES = {"integer": "Integer", "datetime": "DateTime"}


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInputError(f"The request body must be a JSON object ({what}).")
    return body


def _sync_path(sp_id: str) -> str:
    return f"servicePrincipals('{sp_id}')/synchronization"


_DESCRIPTIONS = {
    "scim": "Generic SCIM 2.0 app (RFC 7643/7644): users and groups, bearer token or OAuth.",
    "Azure2Azure": "Cross-tenant synchronization: users of this tenant into a partner tenant as B2B users.",
}


def _offered(apps: AppService, sp_id: str) -> tuple[str, ...]:
    sp, _ = apps.get_sp(sp_id)  # 404 for another tenant's principal
    return offered_templates(sp.application_template_id)


def _template(apps: AppService, prov: ProvisioningService, sp_id: str, template_id: str) -> dict[str, Any]:
    sp, _ = apps.get_sp(sp_id)  # 404 for another tenant's principal
    return {
        "id": template_id,
        "applicationId": sp.app_id,
        "default": True,
        "description": _DESCRIPTIONS.get(template_id, ""),
        "discoverable": True,
        "factoryTag": template_id,
        "metadata": [{"key": "supportsProvisionOnDemand", "value": "true"}],
        "schema": prov.template(template_id),
    }


# --- synchronization root ---------------------------------------------------------------------------------------


@router.get("/servicePrincipals/{sp_id}/synchronization")
def get_synchronization(
    sp_id: str, state: RuntimeDep, principal: SyncReader, prov: Provisioning, apps: SyncAppsReader
) -> dict[str, Any]:
    jobs = prov.list_jobs(principal.tenant_id, sp_id)
    keys = prov.secret_keys(principal.tenant_id, sp_id)
    return {
        "@odata.context": context_url(state, _sync_path(sp_id), entity=True),
        "id": sp_id,
        "jobs": jobs,
        # Which secrets are set; their values are write-only.
        "secrets": [{"key": key, "value": None} for key in keys],
        "templates": [_template(apps, prov, sp_id, t) for t in _offered(apps, sp_id)],
    }


@router.put("/servicePrincipals/{sp_id}/synchronization", status_code=204)
def put_synchronization(sp_id: str, body: BodyDep, principal: SyncWriter, prov: Provisioning) -> Response:
    """Secrets are replaced when given; jobs listed by ``templateId`` are created when missing."""
    data = _object(body, "synchronization")
    wanted: list[str] = []
    for job in data.get("jobs") or []:
        template_id = job.get("templateId") if isinstance(job, dict) else None
        if not isinstance(template_id, str):
            raise InvalidInputError("Each job needs a templateId.", target="jobs")
        if template_id not in TEMPLATES:  # checked before any write: a bad body changes nothing
            raise InvalidInputError(f"Unknown synchronization template '{template_id}'.", target="templateId")
        wanted.append(template_id)
    if "secrets" in data:
        prov.put_secrets(principal.tenant_id, sp_id, data["secrets"] or [], actor=principal)
    existing = {j["templateId"] for j in prov.list_jobs(principal.tenant_id, sp_id)}
    for template_id in wanted:
        if template_id not in existing:
            prov.create_job(principal.tenant_id, sp_id, template_id, actor=principal)
            existing.add(template_id)
    return Response(status_code=204)


@router.delete("/servicePrincipals/{sp_id}/synchronization", status_code=204)
def delete_synchronization(sp_id: str, principal: SyncWriter, prov: Provisioning) -> Response:
    """Every job of the principal (with its links to target objects) and its secrets."""
    prov.delete_synchronization(principal.tenant_id, sp_id, actor=principal)
    return Response(status_code=204)


@router.put("/servicePrincipals/{sp_id}/synchronization/secrets", status_code=204)
def put_secrets(sp_id: str, body: BodyDep, principal: SyncWriter, prov: Provisioning) -> Response:
    prov.put_secrets(principal.tenant_id, sp_id, body, actor=principal)
    return Response(status_code=204)


@router.get("/servicePrincipals/{sp_id}/synchronization/templates")
def list_templates(sp_id: str, state: RuntimeDep, apps: SyncAppsReader, prov: Provisioning) -> dict[str, Any]:
    templates = (_template(apps, prov, sp_id, t) for t in _offered(apps, sp_id))
    return collection(state, f"{_sync_path(sp_id)}/templates", templates)


@router.get("/servicePrincipals/{sp_id}/synchronization/templates/{template_id}")
def get_template(
    sp_id: str, template_id: str, state: RuntimeDep, apps: SyncAppsReader, prov: Provisioning
) -> dict[str, Any]:
    if template_id not in TEMPLATES:
        apps.get_sp(sp_id)
        raise InvalidInputError(f"Unknown synchronization template '{template_id}'.", target="templateId")
    body = _template(apps, prov, sp_id, template_id)
    return entity(state, f"{_sync_path(sp_id)}/templates", body)


# --- jobs -------------------------------------------------------------------------------------------------------


@router.get("/servicePrincipals/{sp_id}/synchronization/jobs")
def list_jobs(sp_id: str, state: RuntimeDep, principal: SyncReader, prov: Provisioning) -> dict[str, Any]:
    return collection(state, f"{_sync_path(sp_id)}/jobs", prov.list_jobs(principal.tenant_id, sp_id))


@router.post("/servicePrincipals/{sp_id}/synchronization/jobs", status_code=201)
def create_job(
    sp_id: str, body: BodyDep, state: RuntimeDep, principal: SyncWriter, prov: Provisioning
) -> dict[str, Any]:
    template_id = _object(body, "synchronizationJob").get("templateId")
    if not isinstance(template_id, str) or not template_id:
        raise InvalidInputError("The property 'templateId' is required.", target="templateId")
    job = prov.create_job(principal.tenant_id, sp_id, template_id, actor=principal)
    return entity(state, f"{_sync_path(sp_id)}/jobs", job)


def _validate(prov: ProvisioningService, principal: Principal, sp_id: str, job_id: str | None, body: Any) -> None:
    data = _object(body, "validateCredentials") if body else {}
    template_id = data.get("templateId")
    if template_id is not None and template_id not in TEMPLATES:
        raise InvalidInputError(f"Unknown synchronization template '{template_id}'.", target="templateId")
    use_saved = data.get("useSavedCredentials")
    credentials = data.get("credentials") or None
    if use_saved is None:
        use_saved = credentials is None  # nothing given: test what is saved
    if not isinstance(use_saved, bool):
        raise InvalidInputError("useSavedCredentials must be a boolean.", target="useSavedCredentials")
    prov.validate_credentials(principal.tenant_id, sp_id, job_id, credentials, use_saved=use_saved)


@router.post("/servicePrincipals/{sp_id}/synchronization/jobs/validateCredentials", status_code=204)
def validate_before_job(sp_id: str, body: OptionalBodyDep, principal: SyncWriter, prov: Provisioning) -> Response:
    _validate(prov, principal, sp_id, None, body)
    return Response(status_code=204)


@router.get("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}")
def get_job(sp_id: str, job_id: str, state: RuntimeDep, principal: SyncReader, prov: Provisioning) -> dict[str, Any]:
    return entity(state, f"{_sync_path(sp_id)}/jobs", prov.get_job(principal.tenant_id, sp_id, job_id))


@router.patch("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}", status_code=204)
def update_job(sp_id: str, job_id: str, body: BodyDep, principal: SyncWriter, prov: Provisioning) -> Response:
    data = _object(body, "synchronizationJob")
    unknown = sorted(set(data) - {"synchronizationJobSettings", "id", "templateId", "@odata.type"})
    if unknown:
        raise InvalidInputError(
            f"Property '{unknown[0]}' cannot be updated; use the job actions (start, pause, restart) and the "
            "schema endpoint.",
            target=unknown[0],
        )
    if data.get("templateId") not in (None, job_id.split(".", 1)[0]):
        raise InvalidInputError("The templateId of a job cannot change.", target="templateId")
    settings = data.get("synchronizationJobSettings")
    if settings is not None and not isinstance(settings, list):
        raise InvalidInputError(
            "synchronizationJobSettings must be a list of {name, value}.", target="synchronizationJobSettings"
        )
    if settings is not None:
        prov.update_job_settings(principal.tenant_id, sp_id, job_id, settings, actor=principal)
    else:
        prov.get_job(principal.tenant_id, sp_id, job_id)  # 404 for an unknown job
    return Response(status_code=204)


@router.delete("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}", status_code=204)
def delete_job(sp_id: str, job_id: str, principal: SyncWriter, prov: Provisioning) -> Response:
    prov.delete_job(principal.tenant_id, sp_id, job_id, actor=principal)
    return Response(status_code=204)


@router.post("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/start", status_code=204)
def start_job(sp_id: str, job_id: str, principal: SyncWriter, prov: Provisioning) -> Response:
    prov.start(principal.tenant_id, sp_id, job_id, actor=principal)
    return Response(status_code=204)


@router.post("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/pause", status_code=204)
def pause_job(sp_id: str, job_id: str, principal: SyncWriter, prov: Provisioning) -> Response:
    prov.pause(principal.tenant_id, sp_id, job_id, actor=principal)
    return Response(status_code=204)


@router.post("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/restart", status_code=204)
def restart_job(sp_id: str, job_id: str, body: OptionalBodyDep, principal: SyncWriter, prov: Provisioning) -> Response:
    criteria = _object(body, "restart").get("criteria") if body else None
    if criteria is not None and not isinstance(criteria, dict):
        raise InvalidInputError("criteria must be an object.", target="criteria")
    reset_scope = (criteria or {}).get("resetScope")
    if reset_scope is not None and not isinstance(reset_scope, str | list):
        raise InvalidInputError("resetScope must be a comma-separated string of flags.", target="resetScope")
    # The SDK writes nothing for a list of flags ({"criteria": {}}): empty criteria is the default restart.
    prov.restart(principal.tenant_id, sp_id, job_id, reset_scope or None, actor=principal)
    return Response(status_code=204)


@router.post("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/validateCredentials", status_code=204)
def validate_job(sp_id: str, job_id: str, body: OptionalBodyDep, principal: SyncWriter, prov: Provisioning) -> Response:
    _validate(prov, principal, sp_id, job_id, body)
    return Response(status_code=204)


def _step(step: dict[str, Any], timestamp: str | None) -> dict[str, Any]:
    kind = str(step.get("provisioningStepType") or "")
    status = str(step.get("status") or "")
    return {
        "name": step.get("name"),
        "type": _STEP_TYPES.get(kind.lower(), kind[:1].upper() + kind[1:]),
        "status": status[:1].upper() + status[1:],
        "description": step.get("description"),
        "timestamp": timestamp,
        "details": step.get("details") or {},
    }


@router.post("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/provisionOnDemand")
def provision_on_demand(
    sp_id: str, job_id: str, body: BodyDep, state: RuntimeDep, principal: SyncWriter, prov: Provisioning
) -> dict[str, Any]:
    parameters = _object(body, "provisionOnDemand").get("parameters")
    if not isinstance(parameters, list) or not parameters:
        raise InvalidInputError("The property 'parameters' is required.", target="parameters")
    rule_ids = {
        str(rule.get("id"))
        for rule in prov.get_schema(principal.tenant_id, sp_id, job_id).get("synchronizationRules") or []
        if isinstance(rule, dict)
    }
    subjects: list[tuple[str, str]] = []
    for parameter in parameters:
        if not isinstance(parameter, dict) or not isinstance(parameter.get("subjects"), list):
            raise InvalidInputError("Each parameter needs a list of subjects.", target="parameters")
        rule_id = parameter.get("ruleId")
        if rule_id is not None and str(rule_id) not in rule_ids:
            raise InvalidInputError(f"Unknown synchronization rule '{rule_id}'.", target="ruleId")
        for subject in parameter["subjects"]:
            if not isinstance(subject, dict) or not isinstance(subject.get("objectId"), str):
                raise InvalidInputError("Each subject needs an objectId.", target="subjects")
            subjects.append((subject["objectId"], str(subject.get("objectTypeName") or "User")))
    results = prov.provision_on_demand(principal.tenant_id, sp_id, job_id, subjects)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    value = [
        {
            "provisioningSteps": [_step(s, now) for s in r.get("provisioningSteps") or []],
            # Hospes additions: the outcome in one place (the steps say the same thing step by step).
            "objectId": r.get("objectId"),
            "objectTypeName": r.get("objectTypeName"),
            "action": r.get("action"),
            "status": r.get("status"),
            "targetId": r.get("targetId"),
            "modifiedProperties": r.get("modifiedProperties") or [],
            "errorInformation": r.get("errorInformation"),
        }
        for r in results
    ]
    return {
        "@odata.context": f"{state.settings.public_url}/v1.0/$metadata#microsoft.graph.stringKeyStringValuePair",
        "key": ON_DEMAND_KEY,
        "value": json.dumps(value, ensure_ascii=False, separators=(",", ":")),
    }


# --- schema -----------------------------------------------------------------------------------------------------


@router.get("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/schema")
def get_schema(sp_id: str, job_id: str, state: RuntimeDep, principal: SyncReader, prov: Provisioning) -> dict[str, Any]:
    schema = prov.get_schema(principal.tenant_id, sp_id, job_id)
    return entity(state, f"{_sync_path(sp_id)}/jobs('{job_id}')/schema", schema)


@router.put("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/schema", status_code=204)
@router.patch("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/schema", status_code=204)
def replace_schema(sp_id: str, job_id: str, body: BodyDep, principal: SyncWriter, prov: Provisioning) -> Response:
    """PUT per the docs, PATCH as the SDK sends it: both replace the whole schema; an object mapping without
    ``flowTypes`` keeps its stored value (the SDK drops it on a GET-modify-PATCH round trip)."""
    data = _object(body, "synchronizationSchema")
    data = {k: v for k, v in data.items() if not k.startswith("@odata.")}
    prov.replace_schema(principal.tenant_id, sp_id, job_id, data, actor=principal)
    return Response(status_code=204)


@router.delete("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/schema", status_code=204)
def reset_schema(sp_id: str, job_id: str, principal: SyncWriter, prov: Provisioning) -> Response:
    """Back to the template's default mappings."""
    prov.reset_schema(principal.tenant_id, sp_id, job_id, actor=principal)
    return Response(status_code=204)


def _function(name: str) -> dict[str, Any]:
    spec = FUNCTIONS[name]
    return {
        "id": spec.name,  # an entity in the SDK's model: the name is its key
        "name": spec.name,
        "parameters": [
            {
                "name": p.name,
                "type": _PARAM_TYPES.get(p.kind, "String"),
                "required": not p.optional,
                "allowMultipleOccurrences": p.repeating,
            }
            for p in spec.params
        ],
        # Hospes additions (the SDK keeps them in additional_data).
        "signature": spec.signature,
        "description": spec.summary,
    }


@router.get("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/schema/functions()")
@router.get("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/schema/functions")
def schema_functions(
    sp_id: str, job_id: str, state: RuntimeDep, principal: SyncReader, prov: Provisioning
) -> dict[str, Any]:
    prov.get_job(principal.tenant_id, sp_id, job_id)
    return collection(state, "Collection(microsoft.graph.attributeMappingFunctionSchema)", map(_function, FUNCTIONS))


@router.get("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/schema/filterOperators()")
@router.get("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/schema/filterOperators")
def schema_filter_operators(
    sp_id: str, job_id: str, state: RuntimeDep, principal: SyncReader, prov: Provisioning
) -> dict[str, Any]:
    prov.get_job(principal.tenant_id, sp_id, job_id)
    extensions = {op.name for op in FILTER_OPERATORS if op.extension}
    items = [{"id": op["name"], **op, "isHospesExtension": op["name"] in extensions} for op in filter_operators_graph()]
    return collection(state, "Collection(microsoft.graph.filterOperatorSchema)", items)


@router.post("/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}/schema/parseExpression")
def parse_expression(
    sp_id: str, job_id: str, body: BodyDep, state: RuntimeDep, principal: SyncReader, prov: Provisioning
) -> dict[str, Any]:
    """The same compiler as the engine, the portal's mapping editor and ``hospes expression test``. A wrong
    expression is a 200 with ``parsingSucceeded: false`` and the error's position, as Graph answers."""
    prov.get_job(principal.tenant_id, sp_id, job_id)
    data = _object(body, "parseExpression")
    expression = data.get("expression")
    if not isinstance(expression, str):
        raise InvalidInputError("The property 'expression' is required.", target="expression")
    test_input = data.get("testInputObject")
    if test_input is not None and not isinstance(test_input, dict):
        raise InvalidInputError("testInputObject must be an object.", target="testInputObject")
    result = parse_expression_response(expression[:10_000], test_input)
    return {
        "@odata.context": f"{state.settings.public_url}/v1.0/$metadata#microsoft.graph.parseExpressionResponse",
        **result,
    }
