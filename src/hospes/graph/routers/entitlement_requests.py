"""``/identityGovernance/entitlementManagement``: assignment requests (with ``cancel``), assignments, approvals and
their stages (PATCH decides; 409 when another approver already did), the packages the caller may request
(``filterByCurrentUser(on='allowedRequestor')``) and a package's requirements for the caller."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from hospes.domain.errors import InvalidInputError
from hospes.graph.deps import BodyDep, OptionalBodyDep, RuntimeDep
from hospes.graph.entitlement_deps import EmApprovals, EmRequests
from hospes.graph.routers.entitlement import CTX, EM, eq_filters
from hospes.graph.wire import collection, entity
from hospes.services.entitlement.common import package_wire
from hospes.services.entitlement.requests import requestable, requirements

router = APIRouter()
FILTER = "/filterByCurrentUser(on='{on}')"
APPROVALS = ("/assignmentApprovals", "/accessPackageAssignmentApprovals")


def _on(on: str, allowed: tuple[str, ...]) -> str:
    if on not in allowed:
        raise InvalidInputError(f"'on' is one of {', '.join(allowed)}.")
    return on


# -- requests ------------------------------------------------------------------------------------------------------


@router.get(EM + "/assignmentRequests" + FILTER)
def my_requests(on: str, request: Request, state: RuntimeDep, requests: EmRequests) -> dict[str, Any]:
    wanted = eq_filters(request, ("state",))
    items = requests.list_requests(_on(on, ("target", "createdBy", "approver")), wanted.get("state"))
    return collection(state, "Collection(microsoft.graph.accessPackageAssignmentRequest)", items)


@router.get(EM + "/assignmentRequests")
def list_requests(request: Request, state: RuntimeDep, requests: EmRequests) -> dict[str, Any]:
    wanted = eq_filters(request, ("state",))
    return collection(state, f"{CTX}/assignmentRequests", requests.list_requests(None, wanted.get("state")))


@router.post(EM + "/assignmentRequests", status_code=201)
def create_request(body: BodyDep, state: RuntimeDep, requests: EmRequests) -> dict[str, Any]:
    return entity(state, f"{CTX}/assignmentRequests", requests.create(body))


@router.get(EM + "/assignmentRequests/{request_id}")
def get_request(request_id: str, state: RuntimeDep, requests: EmRequests) -> dict[str, Any]:
    return entity(state, f"{CTX}/assignmentRequests", requests.get_request(request_id))


@router.delete(EM + "/assignmentRequests/{request_id}", status_code=204)
def delete_request(request_id: str, requests: EmRequests) -> Response:
    requests.delete(request_id)
    return Response(status_code=204)


@router.post(EM + "/assignmentRequests/{request_id}/cancel", status_code=204)
def cancel_request(request_id: str, _body: OptionalBodyDep, requests: EmRequests) -> Response:
    requests.cancel(request_id)
    return Response(status_code=204)


# -- assignments ---------------------------------------------------------------------------------------------------


@router.get(EM + "/assignments" + FILTER)
def my_assignments(on: str, state: RuntimeDep, requests: EmRequests) -> dict[str, Any]:
    items = requests.list_assignments(_on(on, ("target", "createdBy")))
    return collection(state, "Collection(microsoft.graph.accessPackageAssignment)", items)


@router.get(EM + "/assignments")
def list_assignments(request: Request, state: RuntimeDep, requests: EmRequests) -> dict[str, Any]:
    wanted = eq_filters(request, ("state", "accessPackage/id", "target/objectId"))
    items = requests.list_assignments(None, wanted.get("accessPackage/id"))
    if "state" in wanted:
        items = [i for i in items if i["state"] == wanted["state"]]
    if "target/objectId" in wanted:
        items = [i for i in items if i.get("target", {}).get("objectId") == wanted["target/objectId"]]
    return collection(state, f"{CTX}/assignments", items)


@router.get(EM + "/assignments/{assignment_id}")
def get_assignment(assignment_id: str, state: RuntimeDep, requests: EmRequests) -> dict[str, Any]:
    return entity(state, f"{CTX}/assignments", requests.get_assignment(assignment_id))


# -- what the caller may request -----------------------------------------------------------------------------------


@router.get(EM + "/accessPackages" + FILTER)
def my_packages(on: str, state: RuntimeDep, requests: EmRequests) -> dict[str, Any]:
    _on(on, ("allowedRequestor",))
    with requests.read() as session:
        found = requestable(session, requests.tenant_id, requests.actor.id)
        items = [package_wire(p) for p, _ in found if not p.is_hidden]
    return collection(state, "Collection(microsoft.graph.accessPackage)", items)


@router.post(EM + "/accessPackages/{package_id}/getApplicablePolicyRequirements")
def applicable_requirements(
    package_id: str, _body: OptionalBodyDep, state: RuntimeDep, requests: EmRequests
) -> dict[str, Any]:
    with requests.read() as session:
        found = requestable(session, requests.tenant_id, requests.actor.id)
        items = [requirements(policy) for p, policies in found if p.id == package_id for policy in policies]
    return collection(state, "Collection(microsoft.graph.accessPackageAssignmentRequestRequirements)", items)


# -- approvals -----------------------------------------------------------------------------------------------------


for _base in APPROVALS:

    @router.get(EM + _base + "/filterByCurrentUser(on='{on}')", name=f"my_approvals{_base}")
    def my_approvals(on: str, state: RuntimeDep, approvals: EmApprovals) -> dict[str, Any]:
        _on(on, ("approver",))
        return collection(state, "Collection(microsoft.graph.approval)", approvals.mine())

    @router.get(EM + _base + "/{request_id}", name=f"get_approval{_base}")
    def get_approval(request_id: str, state: RuntimeDep, approvals: EmApprovals) -> dict[str, Any]:
        return entity(state, f"{CTX}/assignmentApprovals", approvals.get(request_id))

    @router.get(EM + _base + "/{request_id}/stages", name=f"list_stages{_base}")
    def list_stages(request_id: str, state: RuntimeDep, approvals: EmApprovals) -> dict[str, Any]:
        return collection(state, f"{CTX}/assignmentApprovals('{request_id}')/stages", approvals.stages(request_id))

    @router.get(EM + _base + "/{request_id}/stages/{stage_id}", name=f"get_stage{_base}")
    def get_stage(request_id: str, stage_id: str, state: RuntimeDep, approvals: EmApprovals) -> dict[str, Any]:
        return entity(state, f"{CTX}/assignmentApprovals('{request_id}')/stages", approvals.stage(request_id, stage_id))

    @router.patch(EM + _base + "/{request_id}/stages/{stage_id}", status_code=204, name=f"decide{_base}")
    def decide(request_id: str, stage_id: str, body: BodyDep, approvals: EmApprovals) -> Response:
        approvals.decide(request_id, stage_id, body)
        return Response(status_code=204)
