"""``/identityGovernance/accessReviews/definitions``: definitions, instances, decisions, stages, the actions
(stop, applyDecisions, resetDecisions, acceptRecommendations, sendReminder, batchRecordDecisions), the
reviewer's ``filterByCurrentUser(on='reviewer')`` views, and Hospes's ``previewApplyDecisions`` and
``hospesHistory``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.graph.deps import (
    BodyDep,
    DecisionsReader,
    DecisionsWriter,
    OptionalBodyDep,
    ReviewsReader,
    ReviewsWriter,
    RuntimeDep,
)
from hospes.graph.wire import collection, entity

router = APIRouter()
DEFS = "/identityGovernance/accessReviews/definitions"
ONE = DEFS + "/{definition_id}"
INSTANCES = ONE + "/instances"
INSTANCE = INSTANCES + "/{instance_id}"
DECISIONS = INSTANCE + "/decisions"
MINE = "/filterByCurrentUser(on='{on}')"
_CTX = "identityGovernance/accessReviews/definitions"


def _reviewer(on: str) -> None:
    if on != "reviewer":
        raise InvalidInputError("filterByCurrentUser supports on='reviewer' only.")


def _no_content() -> Response:
    return Response(status_code=204)


@router.get(DEFS)
def list_definitions(state: RuntimeDep, reviews: ReviewsReader) -> dict[str, Any]:
    return collection(state, _CTX, reviews.definitions())


@router.get(DEFS + MINE)
def my_definitions(on: str, state: RuntimeDep, reviews: ReviewsReader) -> dict[str, Any]:
    _reviewer(on)
    return collection(state, "Collection(microsoft.graph.accessReviewScheduleDefinition)", reviews.mine())


@router.post(DEFS, status_code=201)
def create_definition(body: BodyDep, state: RuntimeDep, reviews: ReviewsWriter) -> dict[str, Any]:
    return entity(state, _CTX, reviews.create(body))


@router.get(ONE)
def get_definition(definition_id: str, state: RuntimeDep, reviews: ReviewsReader) -> dict[str, Any]:
    return entity(state, _CTX, reviews.get(definition_id))


@router.put(ONE, status_code=204)
def replace_definition(definition_id: str, body: BodyDep, reviews: ReviewsWriter) -> Response:
    reviews.replace(definition_id, body)
    return _no_content()


@router.delete(ONE, status_code=204)
def delete_definition(definition_id: str, reviews: ReviewsWriter) -> Response:
    reviews.delete(definition_id)
    return _no_content()


@router.post(ONE + "/stop", status_code=204)
def stop_definition(definition_id: str, reviews: ReviewsWriter) -> Response:
    reviews.stop(definition_id)
    return _no_content()


@router.get(ONE + "/hospesHistory")
def history(definition_id: str, state: RuntimeDep, reviews: ReviewsReader) -> dict[str, Any]:
    """The series so far: each instance with its decisions counted and its apply state."""
    return collection(state, f"{_CTX}('{definition_id}')/hospesHistory", reviews.history(definition_id))


@router.get(INSTANCES)
def list_instances(definition_id: str, state: RuntimeDep, reviews: ReviewsReader) -> dict[str, Any]:
    return collection(state, f"{_CTX}('{definition_id}')/instances", reviews.instances(definition_id))


@router.get(INSTANCES + MINE)
def my_instances(definition_id: str, on: str, state: RuntimeDep, reviews: ReviewsReader) -> dict[str, Any]:
    _reviewer(on)
    rows = reviews.instances(definition_id, mine=True)
    return collection(state, "Collection(microsoft.graph.accessReviewInstance)", rows)


@router.get(INSTANCE)
def get_instance(definition_id: str, instance_id: str, state: RuntimeDep, reviews: ReviewsReader) -> dict[str, Any]:
    return entity(state, f"{_CTX}('{definition_id}')/instances", reviews.instance(definition_id, instance_id))


@router.post(INSTANCE + "/stop", status_code=204)
def stop_instance(definition_id: str, instance_id: str, reviews: ReviewsWriter) -> Response:
    reviews.stop_instance(definition_id, instance_id)
    return _no_content()


@router.post(INSTANCE + "/applyDecisions", status_code=204)
def apply_decisions(definition_id: str, instance_id: str, reviews: ReviewsWriter) -> Response:
    reviews.apply(definition_id, instance_id)
    return _no_content()


@router.get(INSTANCE + "/previewApplyDecisions")
def preview_apply(definition_id: str, instance_id: str, reviews: ReviewsReader) -> dict[str, Any]:
    """What ``applyDecisions`` would do now: each denied item's outcome, and the share the denial cap holds back."""
    return reviews.preview(definition_id, instance_id)


@router.post(INSTANCE + "/sendReminder", status_code=204)
def send_reminder(definition_id: str, instance_id: str, reviews: ReviewsWriter) -> Response:
    reviews.send_reminder(definition_id, instance_id)
    return _no_content()


@router.post(INSTANCE + "/resetDecisions", status_code=204)
def reset_decisions(definition_id: str, instance_id: str, decisions: DecisionsWriter) -> Response:
    decisions.reset(definition_id, instance_id)
    return _no_content()


@router.post(INSTANCE + "/acceptRecommendations", status_code=204)
def accept_recommendations(definition_id: str, instance_id: str, decisions: DecisionsWriter) -> Response:
    decisions.accept_recommendations(definition_id, instance_id)
    return _no_content()


@router.post(INSTANCE + "/batchRecordDecisions", status_code=204)
def batch_record(definition_id: str, instance_id: str, body: OptionalBodyDep, decisions: DecisionsWriter) -> Response:
    decisions.batch(definition_id, instance_id, body)
    return _no_content()


@router.get(INSTANCE + "/contactedReviewers")
def contacted_reviewers(
    definition_id: str, instance_id: str, state: RuntimeDep, reviews: ReviewsReader
) -> dict[str, Any]:
    rows = reviews.contacted_reviewers(definition_id, instance_id)
    return collection(state, f"{_CTX}('{definition_id}')/instances('{instance_id}')/contactedReviewers", rows)


@router.get(INSTANCE + "/stages")
def list_stages(definition_id: str, instance_id: str, state: RuntimeDep, reviews: ReviewsReader) -> dict[str, Any]:
    rows = reviews.stages(definition_id, instance_id)
    return collection(state, f"{_CTX}('{definition_id}')/instances('{instance_id}')/stages", rows)


@router.get(INSTANCE + "/stages/{stage_id}")
def get_stage(
    definition_id: str, instance_id: str, stage_id: str, state: RuntimeDep, reviews: ReviewsReader
) -> dict[str, Any]:
    for stage in reviews.stages(definition_id, instance_id):
        if stage["id"] == stage_id:
            return entity(state, f"{_CTX}('{definition_id}')/instances('{instance_id}')/stages", stage)
    raise NotFoundError(stage_id)


@router.get(INSTANCE + "/stages/{stage_id}/decisions")
def stage_decisions(
    definition_id: str, instance_id: str, stage_id: str, state: RuntimeDep, decisions: DecisionsReader
) -> dict[str, Any]:
    rows = decisions.stage_items(definition_id, instance_id, stage_id)
    context = f"{_CTX}('{definition_id}')/instances('{instance_id}')/stages('{stage_id}')/decisions"
    return collection(state, context, rows)


@router.get(DECISIONS)
def list_decisions(
    definition_id: str, instance_id: str, state: RuntimeDep, decisions: DecisionsReader
) -> dict[str, Any]:
    rows = decisions.items(definition_id, instance_id)
    return collection(state, f"{_CTX}('{definition_id}')/instances('{instance_id}')/decisions", rows)


@router.get(DECISIONS + MINE)
def my_decisions(
    definition_id: str, instance_id: str, on: str, state: RuntimeDep, decisions: DecisionsReader
) -> dict[str, Any]:
    _reviewer(on)
    rows = decisions.items(definition_id, instance_id, mine=True)
    return collection(state, "Collection(microsoft.graph.accessReviewInstanceDecisionItem)", rows)


@router.get(DECISIONS + "/{decision_id}")
def get_decision(
    definition_id: str, instance_id: str, decision_id: str, state: RuntimeDep, decisions: DecisionsReader
) -> dict[str, Any]:
    row = decisions.one(definition_id, instance_id, decision_id)
    return entity(state, f"{_CTX}('{definition_id}')/instances('{instance_id}')/decisions", row)


@router.patch(DECISIONS + "/{decision_id}", status_code=204)
def record_decision(
    definition_id: str, instance_id: str, decision_id: str, body: BodyDep, decisions: DecisionsWriter
) -> Response:
    decisions.decide(definition_id, instance_id, decision_id, body)
    return _no_content()
