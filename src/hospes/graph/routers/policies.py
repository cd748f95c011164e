"""``/policies/authorizationPolicy`` (v1.0) and ``/policies/b2bManagementPolicies`` (the beta shape, served
under v1.0 by Hospes): who may invite, and the invitation domain allow/deny list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.graph.deps import BodyDep, PoliciesReader, PoliciesWriter, RuntimeDep
from hospes.graph.wire import collection, context_url
from hospes.services.b2b_policy import DomainPolicy

router = APIRouter()
B2B_TYPE = "#microsoft.graph.b2bManagementPolicy"


@router.get("/policies/authorizationPolicy")
def get_authorization_policy(state: RuntimeDep, policies: PoliciesReader) -> dict[str, Any]:
    body = policies.authorization_policy()
    return {"@odata.context": context_url(state, "policies/authorizationPolicy", entity=True), **body}


@router.patch("/policies/authorizationPolicy", status_code=204)
def patch_authorization_policy(body: BodyDep, policies: PoliciesWriter) -> Response:
    policies.update_authorization_policy(body)
    return Response(status_code=204)


def _b2b_wire(policy: DomainPolicy) -> dict[str, Any]:
    return {
        "@odata.type": B2B_TYPE,
        "id": policy.id,
        "displayName": policy.display_name,
        "description": None,
        "definition": [policy.definition()],
        "isOrganizationDefault": True,
        "deletedDateTime": None,
    }


def _fields(body: Any) -> tuple[str | None, Any | None]:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    allowed = {"@odata.type", "displayName", "definition", "isOrganizationDefault", "description", "id"}
    for key in body:
        if key not in allowed:
            raise InvalidInputError(f"Property '{key}' does not exist on type 'microsoft.graph.b2bManagementPolicy'.")
    name = body.get("displayName")
    if name is not None and not isinstance(name, str):
        raise InvalidInputError("'displayName' must be a string.", target="displayName")
    return name, body.get("definition")


@router.get("/policies/b2bManagementPolicies")
def list_b2b_policies(state: RuntimeDep, policies: PoliciesReader) -> dict[str, Any]:
    policy = policies.domain_policy()
    return collection(state, "policies/b2bManagementPolicies", [_b2b_wire(policy)] if policy else [])


@router.post("/policies/b2bManagementPolicies", status_code=201)
def create_b2b_policy(body: BodyDep, state: RuntimeDep, policies: PoliciesWriter) -> dict[str, Any]:
    name, definition = _fields(body)
    if definition is None:
        raise InvalidInputError("'definition' is required.", target="definition")
    policy = policies.create_domain_policy(name or "B2BManagementPolicy", definition)
    return {"@odata.context": context_url(state, "policies/b2bManagementPolicies", entity=True), **_b2b_wire(policy)}


@router.get("/policies/b2bManagementPolicies/{policy_id}")
def get_b2b_policy(policy_id: str, state: RuntimeDep, policies: PoliciesReader) -> dict[str, Any]:
    policy = policies.domain_policy()
    if policy is None or policy.id != policy_id:
        raise NotFoundError(policy_id)
    return {"@odata.context": context_url(state, "policies/b2bManagementPolicies", entity=True), **_b2b_wire(policy)}


@router.patch("/policies/b2bManagementPolicies/{policy_id}", status_code=204)
def patch_b2b_policy(policy_id: str, body: BodyDep, policies: PoliciesWriter) -> Response:
    name, definition = _fields(body)
    policies.update_domain_policy(policy_id, name, definition)
    return Response(status_code=204)


@router.delete("/policies/b2bManagementPolicies/{policy_id}", status_code=204)
def delete_b2b_policy(policy_id: str, policies: PoliciesWriter) -> Response:
    policies.delete_domain_policy(policy_id)
    return Response(status_code=204)
