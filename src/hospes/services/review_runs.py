"""An access review's instances over time: starting one (the snapshot of who is reviewed and by whom), moving its
items from stage to stage, and ending it (default decisions). Each step runs inside the caller's ``Write``.

Every item starts ``NotReviewed`` with its recommendation; reviewers are resolved when the instance (or the stage)
starts, so owners or sponsors added later count only from the next instance, as in Entra.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.orm import Session

from hospes.domain.access_reviews import Rules, StageRule, next_start, recommend, rules, start_date
from hospes.domain.ids import new_id
from hospes.services.base import Write
from hospes.services.review_scope import Principal, Resource, ReviewerResolver, principals, resources
from hospes.storage.tables import User
from hospes.storage.tables_reviews import (
    AccessReviewDefinition,
    AccessReviewInstance,
    AccessReviewItem,
    AccessReviewItemReviewer,
)

SYSTEM_REVIEWER = {"id": "00000000-0000-0000-0000-000000000000", "displayName": "Hospes access reviews"}
OPEN = ("NotReviewed", "DontKnow")
# What a step asks to be done later: (kind, subject id, when). The durable scheduler runs them.
Due = tuple[str, str, datetime]


def definition_rules(definition: AccessReviewDefinition) -> Rules:
    return rules({**definition.body, "displayName": definition.display_name})


def begin_occurrence(op: Write, definition: AccessReviewDefinition, now: datetime) -> tuple[list[str], list[Due]]:
    """Start the definition's next instances (one per reviewed resource); returns their ids and what to schedule."""
    checked = definition_rules(definition)
    due: list[Due] = []
    started = [
        start_instance(op, definition, checked, resource, now, due)
        for resource in resources(op.session, op.actor.tenant_id, checked.scope)
    ]
    definition.occurrences += 1
    definition.status = "InProgress"
    first = start_date(checked.start_day, definition.created_at)
    definition.next_start_at = next_start(checked.recurrence, first, definition.occurrences)
    if definition.next_start_at is not None:
        due.append(("accessReview.start", definition.id, definition.next_start_at))
    elif not started:
        definition.status = "Completed"
    return started, due


def start_instance(
    op: Write, definition: AccessReviewDefinition, checked: Rules, resource: Resource, now: datetime, due: list[Due]
) -> str:
    people = principals(op.session, op.actor.tenant_id, checked.scope, resource, now)
    stage = checked.stages[0]
    instance = AccessReviewInstance(
        id=new_id(),
        tenant_id=op.actor.tenant_id,
        definition_id=definition.id,
        start_at=now,
        end_at=now + timedelta(days=checked.days),
        status="InProgress",
        resource_id=resource.id,
        resource_type=resource.type,
        resource_name=resource.name,
        scope=definition.body.get("scope") or {},
        stage=1,
        stage_end_at=now + timedelta(days=stage.days),
        apply_state={},
    )
    op.session.add(instance)
    op.session.flush()
    resolver = ReviewerResolver(op.session, op.actor.tenant_id, resource, people)
    look_back = checked.look_back if checked.recommendations else None
    add_items(op.session, instance, stage, 1, people, resolver, look_back, now)
    due.append(("accessReview.stageEnd", instance.id, instance.stage_end_at or instance.end_at))
    if checked.reminders:
        due.append(("accessReview.reminder", instance.id, now + (instance.end_at - now) / 2))
    return instance.id


def add_items(
    session: Session,
    instance: AccessReviewInstance,
    stage: StageRule,
    stage_no: int,
    people: Sequence[Principal],
    resolver: ReviewerResolver,
    look_back: timedelta | None,
    now: datetime,
    carried: dict[str, dict[str, Any]] | None = None,
) -> int:
    """Insert one item per principal for a stage, with its reviewers (fallback reviewers where none was found)."""
    if not people:
        return 0
    found = resolver.for_items(stage.reviewers, [p.id for p in people])
    missing = [pid for pid, who in found.items() if not who]
    fallback = resolver.for_items(stage.fallback, missing) if stage.fallback and missing else {}
    items: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for person in people:
        item_id = new_id()
        reviewers = found.get(person.id) or fallback.get(person.id) or set()
        is_fallback = not found.get(person.id) and bool(reviewers)
        items.append(
            {
                "id": item_id,
                "tenant_id": instance.tenant_id,
                "instance_id": instance.id,
                "stage": stage_no,
                "current": True,
                "principal_id": person.id,
                "principal_type": "user",
                "principal_name": person.name,
                "principal_upn": person.upn,
                "resource_id": instance.resource_id,
                "resource_type": instance.resource_type,
                "resource_name": instance.resource_name,
                "decision": "NotReviewed",
                "recommendation": (
                    recommend(person.seen, person.created, now, look_back) if look_back else "NoInfoAvailable"
                ),
                "last_sign_in_at": person.seen,
                "apply_result": "New",
                **((carried or {}).get(person.id) or {}),
            }
        )
        links.extend(
            {
                "item_id": item_id,
                "reviewer_id": reviewer,
                "tenant_id": instance.tenant_id,
                "instance_id": instance.id,
                "fallback": is_fallback,
            }
            for reviewer in sorted(reviewers)
        )
    session.execute(insert(AccessReviewItem), items)
    if links:
        session.execute(insert(AccessReviewItemReviewer), links)
    return len(items)


def end_stage(op: Write, instance: AccessReviewInstance, checked: Rules, now: datetime, due: list[Due]) -> bool:
    """End the running stage: its open items take the stage's strategy outcome; those whose decision the next
    stage takes up move on. Returns True when that was the last stage (the instance is to be completed)."""
    index = instance.stage - 1
    stage = checked.stages[index]
    current = and_(
        AccessReviewItem.instance_id == instance.id,
        AccessReviewItem.current.is_(True),
        AccessReviewItem.stage == instance.stage,
    )
    if stage.strategy == "approvedIfNotDenied":
        op.session.execute(
            update(AccessReviewItem)
            .where(current, AccessReviewItem.decision.in_(OPEN))
            .values(decision="Approve", reviewed_by=SYSTEM_REVIEWER, reviewed_at=now)
        )
    if index + 1 >= len(checked.stages):
        return True
    rows = op.session.execute(
        select(
            AccessReviewItem.id,
            AccessReviewItem.principal_id,
            AccessReviewItem.principal_name,
            AccessReviewItem.principal_upn,
            AccessReviewItem.decision,
            AccessReviewItem.recommendation,
            AccessReviewItem.last_sign_in_at,
        ).where(current)
    ).all()
    moving = [r for r in rows if _moves(stage, r.decision, r.recommendation)]
    nxt = checked.stages[index + 1]
    if moving:
        ids = [r.id for r in moving]
        for start in range(0, len(ids), 900):
            op.session.execute(
                update(AccessReviewItem).where(AccessReviewItem.id.in_(ids[start : start + 900])).values(current=False)
            )
        people = [Principal(r.principal_id, r.principal_name, r.principal_upn, None, None, None) for r in moving]
        _with_managers(op.session, people)
        resource = Resource(instance.resource_id or "", instance.resource_type or "Group", instance.resource_name or "")
        resolver = ReviewerResolver(op.session, instance.tenant_id, resource, people)
        carried = {
            r.principal_id: {"recommendation": r.recommendation, "last_sign_in_at": r.last_sign_in_at} for r in moving
        }
        add_items(op.session, instance, nxt, instance.stage + 1, people, resolver, None, now, carried)
    instance.stage += 1
    instance.stage_end_at = min(instance.end_at, now + timedelta(days=nxt.days))
    due.append(("accessReview.stageEnd", instance.id, instance.stage_end_at))
    return False


def _moves(stage: StageRule, decision: str, recommendation: str) -> bool:
    if decision in OPEN:
        return "NotReviewed" in stage.moves
    if "Recommendation" in stage.moves and decision == recommendation:
        return True
    return decision in stage.moves


def _with_managers(session: Session, people: list[Principal]) -> None:
    ids = [p.id for p in people]
    managers: dict[str, str | None] = {}
    for start in range(0, len(ids), 900):
        rows = session.execute(select(User.id, User.manager_id).where(User.id.in_(ids[start : start + 900])))
        managers.update((uid, manager) for uid, manager in rows)
    people[:] = [Principal(p.id, p.name, p.upn, p.seen, p.created, managers.get(p.id)) for p in people]


def complete(op: Write, instance: AccessReviewInstance, checked: Rules, now: datetime) -> None:
    """End the instance: open items take the default decision (``Recommendation`` copies each item's own), the
    instance is ``Completed`` and closed to reviewers."""
    current = and_(AccessReviewItem.instance_id == instance.id, AccessReviewItem.current.is_(True))
    default = checked.default_decision
    if default in ("Approve", "Deny"):
        op.session.execute(
            update(AccessReviewItem)
            .where(current, AccessReviewItem.decision.in_(OPEN))
            .values(decision=default, reviewed_by=SYSTEM_REVIEWER, reviewed_at=now, justification="Default decision")
        )
    elif default == "Recommendation":
        op.session.execute(
            update(AccessReviewItem)
            .where(
                current, AccessReviewItem.decision.in_(OPEN), AccessReviewItem.recommendation.in_(("Approve", "Deny"))
            )
            .values(
                decision=AccessReviewItem.recommendation,
                reviewed_by=SYSTEM_REVIEWER,
                reviewed_at=now,
                justification="Recommendation",
            )
        )
    instance.status = "Completed"
    instance.end_at = min(instance.end_at, now)
    instance.stage_end_at = None


def settle_definition(session: Session, definition: AccessReviewDefinition) -> None:
    """A definition whose series has ended and whose instances are all complete is ``Completed``."""
    running = session.scalar(
        select(AccessReviewInstance.id)
        .where(AccessReviewInstance.definition_id == definition.id, AccessReviewInstance.status == "InProgress")
        .limit(1)
    )
    if running is None and definition.next_start_at is None:
        definition.status = "Completed"


Scheduler = Callable[[Session, Sequence[Due]], None]
