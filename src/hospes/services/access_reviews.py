"""Access reviews (``/identityGovernance/accessReviews/definitions``): definitions, their instances, stopping,
applying, and the timed steps (next instance, end of a stage, reminder, scheduled deletion of a blocked guest).

An administrator (an app with ``AccessReview.ReadWrite.All``, a Global or User Administrator) manages every
definition; any other user sees only the instances and items they review (``review_decisions``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.access_reviews import Rules, rules, start_date
from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.principals import GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR, Principal
from hospes.services import review_apply, review_runs, review_wire, timers
from hospes.services.base import Services, Write
from hospes.services.review_runs import Due
from hospes.services.review_scope import resources
from hospes.services.web_sessions import revoke_user_sessions
from hospes.storage.tables import DirectoryRoleMember, User
from hospes.storage.tables_reviews import (
    AccessReviewDefinition,
    AccessReviewInstance,
    AccessReviewItem,
    AccessReviewItemReviewer,
    UserGovernance,
)

_KEYS = (
    "descriptionForAdmins",
    "descriptionForReviewers",
    "scope",
    "instanceEnumerationScope",
    "reviewers",
    "fallbackReviewers",
    "additionalNotificationRecipients",
    "settings",
    "stageSettings",
)
ADMIN_ROLES = (GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR)


@dataclass
class ReviewHooks:
    """What a review needs beyond the database: the review emails, the public URL."""

    notify: Callable[[Session, str, str, datetime], None] | None = None  # (session, event, instance id, now)
    base_url: str = "http://localhost"
    extra: dict[str, Any] = field(default_factory=dict)


class AccessReviewService(Services):
    def __init__(
        self, sessions: sessionmaker[Session], actor: Principal, hooks: ReviewHooks | None = None, **kw: Any
    ) -> None:
        super().__init__(sessions, actor, **kw)
        self.hooks = hooks or ReviewHooks()

    # --- who may do what ---------------------------------------------------------------------------------------

    def is_admin(self, session: Session) -> bool:
        if self.actor.kind in ("app", "system"):
            return True
        return (
            session.scalar(
                select(DirectoryRoleMember.principal_id).where(
                    DirectoryRoleMember.tenant_id == self.tenant_id,
                    DirectoryRoleMember.principal_id == self.actor.id,
                    DirectoryRoleMember.role_template_id.in_(ADMIN_ROLES),
                )
            )
            is not None
        )

    def require_admin(self, session: Session) -> None:
        if not self.is_admin(session):
            raise ForbiddenError()

    def reviewed_instances(self, session: Session) -> set[str]:
        """The instances the caller reviews at least one item of."""
        return set(
            session.scalars(
                select(AccessReviewItemReviewer.instance_id)
                .where(
                    AccessReviewItemReviewer.tenant_id == self.tenant_id,
                    AccessReviewItemReviewer.reviewer_id == self.actor.id,
                )
                .distinct()
            )
        )

    # --- definitions -------------------------------------------------------------------------------------------

    def find(self, session: Session, definition_id: str) -> AccessReviewDefinition:
        row = session.get(AccessReviewDefinition, definition_id)
        if row is None or row.tenant_id != self.tenant_id:
            raise NotFoundError(definition_id)
        return row

    def find_instance(self, session: Session, definition_id: str, instance_id: str) -> AccessReviewInstance:
        self.find(session, definition_id)
        row = session.get(AccessReviewInstance, instance_id)
        if row is None or row.definition_id != definition_id or row.tenant_id != self.tenant_id:
            raise NotFoundError(instance_id)
        if not self.is_admin(session) and instance_id not in self.reviewed_instances(session):
            raise NotFoundError(instance_id)
        return row

    def create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidInputError("The body must be an accessReviewScheduleDefinition object.")
        checked = rules(body)
        with self.write("AccessReviews", "Create access review") as op:
            self.require_admin(op.session)
            self._check_objects(op.session, checked)
            row = AccessReviewDefinition(
                id=new_id(),
                tenant_id=self.tenant_id,
                display_name=body["displayName"].strip()[:256],
                body={k: body[k] for k in _KEYS if k in body},
                status="NotStarted",
                created_by=self._me(op.session),
                created_at=op.now,
                modified_at=op.now,
                occurrences=0,
            )
            op.session.add(row)
            op.session.flush()
            op.target("AccessReview", row.id, row.display_name)
            due: list[Due] = []
            first = start_date(checked.start_day, op.now)
            if first <= op.now:
                started, due = review_runs.begin_occurrence(op, row, op.now)
                op.details["instances"] = len(started)
                self._notify(op.session, "started", started, op.now)
            else:
                row.next_start_at = first
                due.append(("accessReview.start", row.id, first))
            self._schedule(op.session, due)
            return review_wire.definition(row)

    def _check_objects(self, session: Session, checked: Rules) -> None:
        scope = checked.scope
        if scope.object_id and not resources(session, self.tenant_id, scope):
            raise InvalidInputError(
                f"The scope names '{scope.object_id}', which is not in this tenant.", target="scope"
            )

    def _me(self, session: Session) -> dict[str, Any]:
        upn = None
        if self.actor.kind == "user":
            upn = session.scalar(select(User.user_principal_name).where(User.id == self.actor.id))
        return {"id": self.actor.id, "displayName": self.actor.display_name, "userPrincipalName": upn}

    def definitions(self) -> list[dict[str, Any]]:
        with self.read() as session:
            stmt = select(AccessReviewDefinition).where(AccessReviewDefinition.tenant_id == self.tenant_id)
            if not self.is_admin(session):
                return self._mine(session)
            rows = session.scalars(stmt.order_by(AccessReviewDefinition.created_at, AccessReviewDefinition.id))
            return [review_wire.definition(r) for r in rows]

    def mine(self) -> list[dict[str, Any]]:
        """``filterByCurrentUser(on='reviewer')``: definitions with an instance the caller reviews."""
        with self.read() as session:
            return self._mine(session)

    def _mine(self, session: Session) -> list[dict[str, Any]]:
        ids = self.reviewed_instances(session)
        if not ids:
            return []
        definitions = set(
            session.scalars(select(AccessReviewInstance.definition_id).where(AccessReviewInstance.id.in_(ids)))
        )
        rows = session.scalars(
            select(AccessReviewDefinition)
            .where(AccessReviewDefinition.id.in_(definitions))
            .order_by(AccessReviewDefinition.created_at)
        )
        return [review_wire.definition(r) for r in rows]

    def get(self, definition_id: str) -> dict[str, Any]:
        with self.read() as session:
            row = self.find(session, definition_id)
            if not self.is_admin(session) and definition_id not in {d["id"] for d in self._mine(session)}:
                raise NotFoundError(definition_id)
            return review_wire.definition(row)

    def replace(self, definition_id: str, body: Any) -> None:
        """PUT: the new body serves instances that start from now on; a running instance keeps its snapshot."""
        if not isinstance(body, dict):
            raise InvalidInputError("The body must be an accessReviewScheduleDefinition object.")
        with self.write("AccessReviews", "Update access review") as op:
            self.require_admin(op.session)
            row = self.find(op.session, definition_id)
            merged = {**row.body, **{k: body[k] for k in _KEYS if k in body}}
            name = body.get("displayName", row.display_name)
            checked = rules({**merged, "displayName": name})
            self._check_objects(op.session, checked)
            row.body, row.display_name, row.modified_at = merged, str(name).strip()[:256], op.now
            op.target("AccessReview", row.id, row.display_name)

    def delete(self, definition_id: str) -> None:
        with self.write("AccessReviews", "Delete access review") as op:
            self.require_admin(op.session)
            row = self.find(op.session, definition_id)
            op.target("AccessReview", row.id, row.display_name)
            op.session.delete(row)

    def stop(self, definition_id: str) -> None:
        """Stop the series: running instances end now (applied if auto-apply is on) and none start any more."""
        with self.write("AccessReviews", "Stop access review") as op:
            self.require_admin(op.session)
            row = self.find(op.session, definition_id)
            op.target("AccessReview", row.id, row.display_name)
            row.next_start_at = None
            checked = review_runs.definition_rules(row)
            due: list[Due] = []
            running = op.session.scalars(
                select(AccessReviewInstance).where(
                    AccessReviewInstance.definition_id == row.id, AccessReviewInstance.status == "InProgress"
                )
            )
            for instance in list(running):
                self._finish(op, row, instance, checked, due)
            row.status = "Completed"
            self._schedule(op.session, due)

    # --- instances ---------------------------------------------------------------------------------------------

    def instances(self, definition_id: str, *, mine: bool = False) -> list[dict[str, Any]]:
        with self.read() as session:
            row = self.find(session, definition_id)
            stmt = select(AccessReviewInstance).where(AccessReviewInstance.definition_id == row.id)
            if mine or not self.is_admin(session):
                stmt = stmt.where(AccessReviewInstance.id.in_(self.reviewed_instances(session)))
            rows = session.scalars(stmt.order_by(AccessReviewInstance.start_at, AccessReviewInstance.id))
            return [review_wire.instance(i, row.body) for i in rows]

    def instance(self, definition_id: str, instance_id: str) -> dict[str, Any]:
        with self.read() as session:
            found = self.find_instance(session, definition_id, instance_id)
            return review_wire.instance(found, self.find(session, definition_id).body)

    def history(self, definition_id: str) -> list[dict[str, Any]]:
        """Every instance of the series, oldest first, with its decisions counted and what applying did."""
        with self.read() as session:
            self.require_admin(session)
            row = self.find(session, definition_id)
            counts: dict[str, dict[str, int]] = {}
            tallies = session.execute(
                select(AccessReviewItem.instance_id, AccessReviewItem.decision, func.count())
                .join(AccessReviewInstance, AccessReviewInstance.id == AccessReviewItem.instance_id)
                .where(AccessReviewInstance.definition_id == row.id, AccessReviewItem.current.is_(True))
                .group_by(AccessReviewItem.instance_id, AccessReviewItem.decision)
            )
            for instance_id, decision, count in tallies:
                counts.setdefault(instance_id, {})[decision] = int(count)
            rows = session.scalars(
                select(AccessReviewInstance)
                .where(AccessReviewInstance.definition_id == row.id)
                .order_by(AccessReviewInstance.start_at, AccessReviewInstance.id)
            )
            return [{**review_wire.instance(i, row.body), "hospesDecisionCounts": counts.get(i.id, {})} for i in rows]

    def stages(self, definition_id: str, instance_id: str) -> list[dict[str, Any]]:
        with self.read() as session:
            found = self.find_instance(session, definition_id, instance_id)
            row = self.find(session, definition_id)
            return review_wire.stages(found, {**row.body, "displayName": row.display_name})

    def contacted_reviewers(self, definition_id: str, instance_id: str) -> list[dict[str, Any]]:
        with self.read() as session:
            found = self.find_instance(session, definition_id, instance_id)
            ids = select(AccessReviewItemReviewer.reviewer_id).where(AccessReviewItemReviewer.instance_id == found.id)
            users = session.scalars(select(User).where(User.id.in_(ids.distinct())).order_by(User.display_name))
            return [
                {
                    "id": u.id,
                    "displayName": u.display_name,
                    "userPrincipalName": u.user_principal_name,
                    "createdDateTime": review_wire.when(found.start_at),
                }
                for u in users
            ]

    def stop_instance(self, definition_id: str, instance_id: str) -> None:
        with self.write("AccessReviews", "Stop access review instance") as op:
            self.require_admin(op.session)
            row = self.find(op.session, definition_id)
            instance = self.find_instance(op.session, definition_id, instance_id)
            if instance.status != "InProgress":
                raise ConflictError("The access review instance is not in progress.")
            due: list[Due] = []
            self._finish(op, row, instance, review_runs.definition_rules(row), due)
            self._schedule(op.session, due)

    def send_reminder(self, definition_id: str, instance_id: str) -> None:
        """Remind the reviewers who still have open items now (whatever the reminder setting)."""
        with self.write("AccessReviews", "Remind access reviewers") as op:
            self.require_admin(op.session)
            instance = self.find_instance(op.session, definition_id, instance_id)
            if instance.status != "InProgress":
                raise ConflictError("The access review instance is not in progress.")
            op.target("AccessReview", instance.id, instance.resource_name)
            self._notify(op.session, "reminder!", [instance.id], op.now)

    def _finish(
        self,
        op: Write,
        row: AccessReviewDefinition,
        instance: AccessReviewInstance,
        checked: Rules,
        due: list[Due],
    ) -> None:
        review_runs.complete(op, instance, checked, op.now)
        if checked.auto_apply:
            review_apply.run(self, op, instance, checked, row.id, due)
        review_runs.settle_definition(op.session, row)
        self._notify(op.session, "completed", [instance.id], op.now)

    def preview(self, definition_id: str, instance_id: str) -> dict[str, Any]:
        """What applying the instance's decisions now would remove, what it cannot, and what the cap holds back."""
        with self.read() as session:
            self.require_admin(session)
            row = self.find(session, definition_id)
            instance = self.find_instance(session, definition_id, instance_id)
            checked = review_runs.definition_rules(row)
            steps = review_apply.plan(session, instance, checked)
            total = len(review_apply_items(session, instance.id))
            return review_apply.preview(steps, total, checked)

    def apply(self, definition_id: str, instance_id: str) -> dict[str, Any]:
        with self.write("AccessReviews", "Apply access review decisions") as op:
            self.require_admin(op.session)
            row = self.find(op.session, definition_id)
            instance = self.find_instance(op.session, definition_id, instance_id)
            if instance.status != "Completed":
                raise ConflictError("Decisions are applied once the access review instance is completed.")
            due: list[Due] = []
            state = review_apply.run(self, op, instance, review_runs.definition_rules(row), row.id, due)
            self._schedule(op.session, due)
            return state

    # --- timed steps (run by the durable timers, inside the timer's transaction: ``review_timers``) ------------

    def start_due(self, op: Write, definition_id: str) -> None:
        """The series' next instance, when it is due and the series still runs."""
        row = op.session.get(AccessReviewDefinition, definition_id)
        if row is None or row.next_start_at is None or row.next_start_at > op.now:
            return
        op.name("Start access review instance", "AccessReviews")
        op.target("AccessReview", row.id, row.display_name)
        started, due = review_runs.begin_occurrence(op, row, op.now)
        self._notify(op.session, "started", started, op.now)
        self._schedule(op.session, due)

    def stage_due(self, op: Write, instance_id: str) -> None:
        """The running stage's end: the next stage starts, or the instance completes (and applies)."""
        instance = op.session.get(AccessReviewInstance, instance_id)
        if instance is None or instance.status != "InProgress":
            return
        if instance.stage_end_at is not None and instance.stage_end_at > op.now:
            return
        row = self.find(op.session, instance.definition_id)
        op.name("End access review stage", "AccessReviews")
        op.target("AccessReview", instance.id, instance.resource_name)
        checked = review_runs.definition_rules(row)
        due: list[Due] = []
        if review_runs.end_stage(op, instance, checked, op.now, due):
            self._finish(op, row, instance, checked, due)
        self._schedule(op.session, due)

    def remind_due(self, op: Write, instance_id: str) -> None:
        instance = op.session.get(AccessReviewInstance, instance_id)
        if instance is None or instance.status != "InProgress" or instance.reminded_at is not None:
            return
        op.name("Remind access reviewers", "AccessReviews")
        op.target("AccessReview", instance.id, instance.resource_name)
        instance.reminded_at = op.now
        self._notify(op.session, "reminder", [instance.id], op.now)

    def delete_due(self, op: Write, user_id: str) -> None:
        """A guest blocked by a review or the inactivity policy is deleted when due, unless re-enabled meanwhile."""
        governance = op.session.get(UserGovernance, user_id)
        user = op.session.get(User, user_id)
        if governance is None or user is None or user.deleted_at is not None:
            return
        if governance.scheduled_deletion_at is None or governance.scheduled_deletion_at > op.now:
            return
        if user.account_enabled:  # an administrator let the guest back in: nothing to delete
            op.session.delete(governance)
            return
        op.name("Delete user", "UserManagement")
        op.target("User", user.id, user.user_principal_name)
        op.details["reason"] = governance.reason
        user.deleted_at = op.now
        revoke_user_sessions(op.session, user.id, op.now)
        op.change(ObjectType.USER, user.id, ChangeType.DELETED)

    def _schedule(self, session: Session, due: Sequence[Due]) -> None:
        for kind, subject, at in due:
            timers.schedule(session, self.tenant_id, kind, subject, at)

    def _notify(self, session: Session, event: str, instance_ids: Sequence[str], now: datetime) -> None:
        if self.hooks.notify is not None:
            for instance_id in instance_ids:
                self.hooks.notify(session, event, instance_id, now)


def review_apply_items(session: Session, instance_id: str) -> list[str]:
    return list(
        session.scalars(
            select(AccessReviewItem.id).where(
                AccessReviewItem.instance_id == instance_id, AccessReviewItem.current.is_(True)
            )
        )
    )
