"""Deciding access review items: a reviewer lists and decides only the items of the running stage they were
assigned; each reviewer's response is kept, and the stage's outcome strategy makes the item's decision from them.
An administrator reads every item, and an app's decision (automation) settles an item directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from hospes.domain.access_reviews import outcome
from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.services import review_runs, review_wire
from hospes.services.access_reviews import AccessReviewService
from hospes.storage.tables import User
from hospes.storage.tables_reviews import (
    AccessReviewDefinition,
    AccessReviewInstance,
    AccessReviewItem,
    AccessReviewItemReviewer,
)

CHOICES = ("Approve", "Deny", "DontKnow", "NotReviewed")


class ReviewDecisions(AccessReviewService):
    def _items(self, session: Session, instance: AccessReviewInstance, mine: bool) -> Any:
        stmt = select(AccessReviewItem).where(
            AccessReviewItem.instance_id == instance.id, AccessReviewItem.current.is_(True)
        )
        if mine or not self.is_admin(session):
            assigned = select(AccessReviewItemReviewer.item_id).where(
                AccessReviewItemReviewer.instance_id == instance.id,
                AccessReviewItemReviewer.reviewer_id == self.actor.id,
            )
            stmt = stmt.where(AccessReviewItem.id.in_(assigned), AccessReviewItem.stage == instance.stage)
        return stmt.order_by(AccessReviewItem.principal_name, AccessReviewItem.id)

    def items(self, definition_id: str, instance_id: str, *, mine: bool = False) -> list[dict[str, Any]]:
        with self.read() as session:
            instance = self.find_instance(session, definition_id, instance_id)
            rows = session.scalars(self._items(session, instance, mine))
            return [review_wire.decision(r, self.hooks.base_url) for r in rows]

    def stage_items(self, definition_id: str, instance_id: str, stage_id: str) -> list[dict[str, Any]]:
        """``stages/{id}/decisions``: every item of one stage (earlier stages' items included, as they were)."""
        with self.read() as session:
            instance = self.find_instance(session, definition_id, instance_id)
            checked = review_runs.definition_rules(self.find(session, definition_id))
            numbers = [n for n, stage in enumerate(checked.stages, start=1) if stage.stage_id == stage_id]
            if not numbers:
                raise NotFoundError(stage_id)
            stmt = select(AccessReviewItem).where(
                AccessReviewItem.instance_id == instance.id, AccessReviewItem.stage == numbers[0]
            )
            if not self.is_admin(session):
                assigned = select(AccessReviewItemReviewer.item_id).where(
                    AccessReviewItemReviewer.instance_id == instance.id,
                    AccessReviewItemReviewer.reviewer_id == self.actor.id,
                )
                stmt = stmt.where(AccessReviewItem.id.in_(assigned))
            rows = session.scalars(stmt.order_by(AccessReviewItem.principal_name, AccessReviewItem.id))
            return [review_wire.decision(r, self.hooks.base_url) for r in rows]

    def rows(self, definition_id: str, instance_id: str) -> tuple[AccessReviewInstance, list[AccessReviewItem]]:
        """The caller's own items of the running stage, as rows (the reviewer pages)."""
        with self.read() as session:
            instance = self.find_instance(session, definition_id, instance_id)
            return instance, list(session.scalars(self._items(session, instance, True)))

    def one(self, definition_id: str, instance_id: str, item_id: str) -> dict[str, Any]:
        with self.read() as session:
            instance = self.find_instance(session, definition_id, instance_id)
            row = session.scalar(self._items(session, instance, False).where(AccessReviewItem.id == item_id))
            if row is None:
                raise NotFoundError(item_id)
            return review_wire.decision(row, self.hooks.base_url)

    def decide(self, definition_id: str, instance_id: str, item_id: str, body: Any) -> None:
        """``PATCH decisions/{id}``: the caller's response to one item."""
        decision, justification = self._read(body)
        self._record(definition_id, instance_id, decision, justification, {"ids": [item_id]})

    def batch(self, definition_id: str, instance_id: str, body: Any) -> int:
        """``batchRecordDecisions``: every item of the caller's (for one principal or resource when named)."""
        decision, justification = self._read(body)
        where: dict[str, Any] = {}
        for name, key in (("principalId", "principal"), ("resourceId", "resource")):
            if isinstance(body, dict) and body.get(name):
                where[key] = str(body[name])
        return self._record(definition_id, instance_id, decision, justification, where)

    def record_many(
        self, definition_id: str, instance_id: str, item_ids: list[str], decision: str, justification: str | None
    ) -> int:
        """The same decision on several of the caller's items (the review page's form)."""
        if decision not in CHOICES:
            raise InvalidInputError("'decision' must be Approve, Deny, DontKnow or NotReviewed.", target="decision")
        return self._record(definition_id, instance_id, decision, justification, {"ids": item_ids})

    def accept_recommendations(self, definition_id: str, instance_id: str) -> int:
        """The caller's undecided items take their recommendation (items without one stay undecided)."""
        return self._record(definition_id, instance_id, None, "Accepted the recommendation", {"open": True})

    def reset(self, definition_id: str, instance_id: str) -> None:
        with self.write("AccessReviews", "Reset access review decisions") as op:
            self.require_admin(op.session)
            instance = self._open(op.session, definition_id, instance_id)
            op.target("AccessReview", instance.id, instance.resource_name)
            op.session.execute(
                update(AccessReviewItem)
                .where(AccessReviewItem.instance_id == instance.id, AccessReviewItem.stage == instance.stage)
                .values(decision="NotReviewed", justification=None, reviewed_by=None, reviewed_at=None)
            )
            op.session.execute(
                update(AccessReviewItemReviewer)
                .where(AccessReviewItemReviewer.instance_id == instance.id)
                .values(response=None, justification=None, responded_at=None)
            )

    @staticmethod
    def _read(body: Any) -> tuple[str, str | None]:
        if not isinstance(body, dict):
            raise InvalidInputError("The body must be an object with 'decision'.")
        decision = body.get("decision")
        if decision not in CHOICES:
            raise InvalidInputError("'decision' must be Approve, Deny, DontKnow or NotReviewed.", target="decision")
        justification = body.get("justification")
        if justification is not None and (not isinstance(justification, str) or len(justification) > 1000):
            raise InvalidInputError("'justification' is text of at most 1000 characters.", target="justification")
        return str(decision), (justification or "").strip() or None

    def _open(self, session: Session, definition_id: str, instance_id: str) -> AccessReviewInstance:
        instance = self.find_instance(session, definition_id, instance_id)
        if instance.status != "InProgress":
            raise ConflictError("The access review instance is not in progress: decisions can no longer change.")
        return instance

    def _record(
        self,
        definition_id: str,
        instance_id: str,
        decision: str | None,
        justification: str | None,
        where: dict[str, Any],
    ) -> int:
        with self.write("AccessReviews", "Record access review decision") as op:
            instance = self._open(op.session, definition_id, instance_id)
            definition = self.find(op.session, definition_id)
            checked = review_runs.definition_rules(definition)
            stage = checked.stages[instance.stage - 1]
            if decision == "Approve" and checked.justification_on_approval and not justification:
                raise InvalidInputError("A justification is required to approve.", target="justification")
            admin = self.actor.kind in ("app", "system")
            stmt = self._items(op.session, instance, not admin)
            if "ids" in where:
                stmt = stmt.where(AccessReviewItem.id.in_(where["ids"]))
            if "principal" in where:
                stmt = stmt.where(AccessReviewItem.principal_id == where["principal"])
            if "resource" in where:
                stmt = stmt.where(AccessReviewItem.resource_id == where["resource"])
            items = list(op.session.scalars(stmt))
            if "ids" in where and not items:
                raise NotFoundError(where["ids"][0])
            reviewer = self._reviewer(op.session)
            links = self._links(op.session, [item.id for item in items])
            done = 0
            for item in items:
                response = decision
                if where.get("open"):
                    if item.decision not in review_runs.OPEN or item.recommendation not in ("Approve", "Deny"):
                        continue
                    response = item.recommendation
                assert response is not None
                done += 1
                mine = links.get(item.id, {}).get(self.actor.id)
                if mine is not None:
                    mine.response, mine.justification, mine.responded_at = response, justification, op.now
                    responses = [link.response for link in links[item.id].values()]
                    item.decision = outcome(stage.strategy, responses, response)
                else:
                    item.decision = response
                item.justification, item.reviewed_by, item.reviewed_at = justification, reviewer, op.now
            op.target("AccessReview", instance.id, instance.resource_name)
            op.details.update({"decision": decision or "Recommendation", "items": done})
            return done

    @staticmethod
    def _links(session: Session, item_ids: list[str]) -> dict[str, dict[str, AccessReviewItemReviewer]]:
        """Every reviewer row of these items, read at once: item id -> reviewer id -> row."""
        out: dict[str, dict[str, AccessReviewItemReviewer]] = {}
        for start in range(0, len(item_ids), 900):
            rows = session.scalars(
                select(AccessReviewItemReviewer).where(
                    AccessReviewItemReviewer.item_id.in_(item_ids[start : start + 900])
                )
            )
            for row in rows:
                out.setdefault(row.item_id, {})[row.reviewer_id] = row
        return out

    def _reviewer(self, session: Session) -> dict[str, Any]:
        upn = session.scalar(select(User.user_principal_name).where(User.id == self.actor.id))
        return {
            "@odata.type": "#microsoft.graph.userIdentity",
            "id": self.actor.id,
            "displayName": self.actor.display_name,
            "userPrincipalName": upn,
        }


@dataclass(frozen=True)
class OpenReview:
    """An instance as its reviewer's list shows it."""

    instance_id: str
    definition_id: str
    name: str
    resource: str | None
    description: str | None
    end_at: datetime
    open: int
    total: int


class ReviewerPages(ReviewDecisions):
    """What the review pages need beyond Graph's calls: the caller's running reviews, an instance by its id."""

    def open_reviews(self) -> list[OpenReview]:
        with self.read() as session:
            mine = (
                select(
                    AccessReviewItem.instance_id,
                    func.count(),
                    func.sum(case((AccessReviewItem.decision.in_(review_runs.OPEN), 1), else_=0)),
                )
                .join(AccessReviewItemReviewer, AccessReviewItemReviewer.item_id == AccessReviewItem.id)
                .where(
                    AccessReviewItemReviewer.tenant_id == self.tenant_id,
                    AccessReviewItemReviewer.reviewer_id == self.actor.id,
                    AccessReviewItem.current.is_(True),
                )
                .group_by(AccessReviewItem.instance_id)
            )
            counts = {iid: (int(total), int(open_ or 0)) for iid, total, open_ in session.execute(mine)}
            if not counts:
                return []
            rows = session.execute(
                select(AccessReviewInstance, AccessReviewDefinition)
                .join(AccessReviewDefinition, AccessReviewDefinition.id == AccessReviewInstance.definition_id)
                .where(AccessReviewInstance.id.in_(list(counts)), AccessReviewInstance.status == "InProgress")
                .order_by(AccessReviewInstance.end_at)
            )
            return [
                OpenReview(
                    instance.id,
                    definition.id,
                    definition.display_name,
                    instance.resource_name,
                    definition.body.get("descriptionForReviewers"),
                    instance.end_at,
                    counts[instance.id][1],
                    counts[instance.id][0],
                )
                for instance, definition in rows
            ]

    def definition_of(self, instance_id: str) -> tuple[str, str, bool]:
        """The definition id and name of an instance the caller reviews, and whether approving needs a reason."""
        with self.read() as session:
            instance = session.get(AccessReviewInstance, instance_id)
            if instance is None or instance.tenant_id != self.tenant_id:
                raise NotFoundError(instance_id)
            definition = self.find(session, instance.definition_id)
            self.find_instance(session, definition.id, instance.id)
            checked = review_runs.definition_rules(definition)
            return definition.id, definition.display_name, checked.justification_on_approval
