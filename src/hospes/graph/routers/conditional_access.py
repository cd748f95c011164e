"""``/identity/conditionalAccess``: policies (also at Graph's older ``/policies/conditionalAccessPolicies``) and
named locations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from hospes.domain.clock import utcnow
from hospes.graph.deps import BodyDep, CAReader, CAWriter, RuntimeDep, WhatIfReader
from hospes.graph.wire import collection, entity

router = APIRouter()
POLICIES = "/identity/conditionalAccess/policies"
LEGACY = "/policies/conditionalAccessPolicies"
LOCATIONS = "/identity/conditionalAccess/namedLocations"
_POLICY_CONTEXT = "identity/conditionalAccess/policies"
_LOCATION_CONTEXT = "identity/conditionalAccess/namedLocations"


@router.get(POLICIES)
@router.get(LEGACY)
def list_policies(state: RuntimeDep, policies: CAReader) -> dict[str, Any]:
    return collection(state, _POLICY_CONTEXT, policies.list_policies())


@router.post(POLICIES, status_code=201)
@router.post(LEGACY, status_code=201)
def create_policy(body: BodyDep, state: RuntimeDep, policies: CAWriter) -> dict[str, Any]:
    return entity(state, _POLICY_CONTEXT, policies.create_policy(body))


@router.get(POLICIES + "/{policy_id}")
@router.get(LEGACY + "/{policy_id}")
def get_policy(policy_id: str, state: RuntimeDep, policies: CAReader) -> dict[str, Any]:
    return entity(state, _POLICY_CONTEXT, policies.get_policy(policy_id))


@router.patch(POLICIES + "/{policy_id}", status_code=204)
@router.patch(LEGACY + "/{policy_id}", status_code=204)
def patch_policy(policy_id: str, body: BodyDep, policies: CAWriter) -> Response:
    policies.update_policy(policy_id, body)
    return Response(status_code=204)


@router.delete(POLICIES + "/{policy_id}", status_code=204)
@router.delete(LEGACY + "/{policy_id}", status_code=204)
def delete_policy(policy_id: str, policies: CAWriter) -> Response:
    policies.delete_policy(policy_id)
    return Response(status_code=204)


@router.get(LOCATIONS)
def list_locations(state: RuntimeDep, policies: CAReader) -> dict[str, Any]:
    return collection(state, _LOCATION_CONTEXT, policies.list_locations())


@router.post(LOCATIONS, status_code=201)
def create_location(body: BodyDep, state: RuntimeDep, policies: CAWriter) -> dict[str, Any]:
    return entity(state, _LOCATION_CONTEXT, policies.create_location(body))


@router.get(LOCATIONS + "/{location_id}")
def get_location(location_id: str, state: RuntimeDep, policies: CAReader) -> dict[str, Any]:
    return entity(state, _LOCATION_CONTEXT, policies.get_location(location_id))


@router.patch(LOCATIONS + "/{location_id}", status_code=204)
def patch_location(location_id: str, body: BodyDep, policies: CAWriter) -> Response:
    policies.update_location(location_id, body)
    return Response(status_code=204)


@router.delete(LOCATIONS + "/{location_id}", status_code=204)
def delete_location(location_id: str, policies: CAWriter) -> Response:
    policies.delete_location(location_id)
    return Response(status_code=204)


@router.post("/identity/conditionalAccess/evaluate")
def evaluate(body: BodyDep, state: RuntimeDep, what_if: WhatIfReader) -> dict[str, Any]:
    """What-if: each policy with ``policyApplies`` and, when it doesn't, the conditions that kept it out."""
    return collection(state, "Collection(microsoft.graph.whatIfAnalysisResult)", what_if.evaluate(body, utcnow()))
