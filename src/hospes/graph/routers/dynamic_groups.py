"""Dynamic groups' actions: ``evaluateDynamicMembership`` (beta in Graph, served at v1.0 too: does a user match
a rule, and why) and ``reprocessMembership`` (a Hospes extension: process the group's rule now); and the
``membershipRuleProcessingStatus`` a group answers with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from hospes.domain.errors import InvalidInputError
from hospes.graph import permissions as perm
from hospes.graph.deps import BodyDep, DynamicGroupsReader, DynamicGroupsWriter, RuntimeDep, requires
from hospes.graph.wire import context_url, graph_datetime
from hospes.membership_rules import Detail
from hospes.services.dynamic_groups import DynamicGroupService, ProcessingStatus

router = APIRouter()
# The answer shows the user's property values: reading groups is not enough, the caller must read users too.
_READS_USERS = [Depends(requires(perm.USERS_READ))]


def processing_status(status: ProcessingStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "status": status.status,
        "lastMembershipUpdated": graph_datetime(status.last_membership_updated),
        "errorMessage": status.error,
    }


def statuses(service: DynamicGroupService, group_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    found = service.statuses(group_ids)
    return {group_id: processing_status(found.get(group_id)) for group_id in group_ids}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _details(detail: Detail) -> dict[str, Any]:
    prop = None
    if detail.property_name is not None:
        prop = {"propertyName": detail.property_name, "propertyValue": _text(detail.property_value)}
    return {
        "expression": detail.expression,
        "expressionResult": detail.result,
        "propertyToEvaluate": prop,
        "expressionEvaluationDetails": [_details(child) for child in detail.children],
    }


def _member_id(body: Any, *, rule: bool) -> tuple[str, str | None]:
    allowed = {"memberId", "membershipRule"} if rule else {"memberId"}
    if not isinstance(body, dict) or set(body) - allowed or not isinstance(body.get("memberId"), str):
        raise InvalidInputError(f"The request body must be an object with {' and '.join(sorted(allowed))}.")
    text = body.get("membershipRule")
    if rule and not isinstance(text, str):
        raise InvalidInputError("membershipRule must be a string.", target="membershipRule")
    return body["memberId"], text


def _evaluate(state: RuntimeDep, service: DynamicGroupService, body: Any, group_id: str | None) -> dict[str, Any]:
    member_id, text = _member_id(body, rule=group_id is None)
    rule, results = service.evaluate(text, group_id, [member_id])
    result = results[0]
    answer: dict[str, Any] = {
        "@odata.context": context_url(state, "microsoft.graph.evaluateDynamicMembershipResult"),
        "membershipRule": rule.text,
        "membershipRuleEvaluationResult": result.result,
        "membershipRuleEvaluationDetails": _details(result.detail) if result.detail is not None else None,
    }
    if result.error:
        answer["@hospes.error"] = result.error
    return answer


@router.post("/groups/evaluateDynamicMembership", dependencies=_READS_USERS)
def evaluate_rule(body: BodyDep, state: RuntimeDep, groups: DynamicGroupsReader) -> dict[str, Any]:
    return _evaluate(state, groups, body, None)


@router.post("/groups/{group_id}/evaluateDynamicMembership", dependencies=_READS_USERS)
def evaluate_group(group_id: str, body: BodyDep, state: RuntimeDep, groups: DynamicGroupsReader) -> dict[str, Any]:
    return _evaluate(state, groups, body, group_id)


@router.post("/groups/{group_id}/reprocessMembership", status_code=204)
def reprocess(group_id: str, groups: DynamicGroupsWriter) -> Response:
    groups.process_now(group_id)
    return Response(status_code=204)
