"""Approval of requests in one to three stages: a stage opens with its approvers resolved (the fallbacks when the
primary ones name nobody), mails them, and times out into a denial; the first approver to decide settles the stage
(another approver then gets a 409), a denial ends the request, and the last approval delivers it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.entitlement_policy import PolicyView
from hospes.domain.entitlements import REVIEW_INPUT, obj, parse_duration, stamp, text
from hospes.domain.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.services import timers
from hospes.services.base import Services, Write
from hospes.services.entitlement import lifecycle
from hospes.services.entitlement.audience import approvers
from hospes.services.entitlement.common import CATEGORY, find, log_request
from hospes.services.entitlement.notify import EmConfig, recipient_of, send
from hospes.storage.tables import User
from hospes.storage.tables_entitlement import EmApprovalStage, EmPackage, EmPolicy, EmRequest, EmSubject

ALREADY_DECIDED = "Conflict"  # answered 409


def stage_wire(stage: EmApprovalStage, me: str | None) -> dict[str, Any]:
    reviewed_by = {"id": stage.reviewed_by_id, "displayName": stage.reviewed_by_name} if stage.reviewed_by_id else None
    return {
        "id": stage.id,
        "displayName": f"Stage {stage.stage_no}",
        "reviewedBy": reviewed_by,
        "reviewedDateTime": stamp(stage.reviewed_at),
        "reviewResult": stage.review_result,
        "justification": stage.justification,
        "assignedToMe": bool(me) and (me in stage.approvers or (stage.escalated and me in stage.escalation_approvers)),
        "status": stage.status,
    }


def stages_of(session: Session, request_id: str) -> list[EmApprovalStage]:
    return list(
        session.scalars(
            select(EmApprovalStage).where(EmApprovalStage.request_id == request_id).order_by(EmApprovalStage.stage_no)
        )
    )


def open_stages(
    op: Write, request: EmRequest, rules: PolicyView, subject: EmSubject, package: EmPackage, config: EmConfig | None
) -> None:
    """Make the request's stages (from the policy as it is now) and open the first."""
    request.state, request.status = "pendingApproval", "PendingApproval"
    for number in range(1, len(rules.stages) + 1):
        op.session.add(
            EmApprovalStage(
                id=new_id(),
                request_id=request.id,
                tenant_id=op.actor.tenant_id,
                stage_no=number,
                status="NotStarted",
                review_result="NotReviewed",
                approvers=[],
                escalation_approvers=[],
                escalated=False,
            )
        )
    op.session.flush()
    log_request(op, request)
    _open(op, request, 1, rules, subject, package, config)


def _open(
    op: Write,
    request: EmRequest,
    number: int,
    rules: PolicyView,
    subject: EmSubject,
    package: EmPackage,
    config: EmConfig | None,
) -> None:
    stage = next(s for s in stages_of(op.session, request.id) if s.stage_no == number)
    settings = rules.stages[number - 1]
    tenant = op.actor.tenant_id
    people = approvers(op.session, tenant, settings["primaryApprovers"], subject) or approvers(
        op.session, tenant, settings["fallbackPrimaryApprovers"], subject
    )
    stage.approvers = people
    if settings["isEscalationEnabled"]:
        stage.escalation_approvers = approvers(op.session, tenant, settings["escalationApprovers"], subject) or (
            approvers(op.session, tenant, settings["fallbackEscalationApprovers"], subject)
        )
    stage.status = "InProgress"
    stage.due_at = op.now + parse_duration(settings["durationBeforeAutomaticDenial"], "durationBeforeAutomaticDenial")
    if not people:
        # Nobody can approve: the request is denied at once rather than waiting out the timeout.
        _deny(op, request, stage, None, "No approver could be found for this request.", config, status="NoApprover")
        return
    timers.schedule(op.session, tenant, lifecycle.STAGE_TIMEOUT, stage.id, stage.due_at)
    if stage.escalation_approvers:
        after = parse_duration(settings["durationBeforeEscalation"], "durationBeforeEscalation")
        timers.schedule(op.session, tenant, lifecycle.ESCALATE, stage.id, op.now + after)
    _ask(op, request, people, subject, package, config)


def _ask(
    op: Write, request: EmRequest, people: list[str], subject: EmSubject, package: EmPackage, config: EmConfig | None
) -> None:
    requestor = subject.display_name or subject.email or ""
    for user_id in people:
        user = op.session.get(User, user_id)
        if user is not None:
            send(
                op,
                config,
                "approval",
                (user.mail, user.preferred_language),
                package,
                requestor=requestor,
                justification=request.justification or "",
                link_path="#approvals",
            )


def _deny(
    op: Write,
    request: EmRequest,
    stage: EmApprovalStage,
    reviewer: User | None,
    justification: str | None,
    config: EmConfig | None,
    *,
    status: str = "Denied",
) -> None:
    stage.status = "Completed" if reviewer is not None else "Expired"
    stage.review_result = "Denied"
    stage.justification = justification
    stage.reviewed_at = op.now
    if reviewer is not None:
        stage.reviewed_by_id, stage.reviewed_by_name = reviewer.id, reviewer.display_name
    for later in stages_of(op.session, request.id):
        if later.status == "NotStarted":
            later.status = "Expired"
    request.state, request.status, request.completed_at = "denied", status, op.now
    log_request(op, request)
    package = op.session.get(EmPackage, request.package_id)
    subject = op.session.get(EmSubject, request.subject_id)
    if package is not None and subject is not None:
        send(op, config, "denied", recipient_of(op, subject), package, justification=justification or "")


def escalate(op: Write, stage_id: str, config: EmConfig | None) -> None:
    """A stage's escalation timer: still undecided, its escalation approvers are asked too (the primary approvers
    may still decide)."""
    stage = op.session.get(EmApprovalStage, stage_id, with_for_update=True)
    if stage is None or stage.status != "InProgress" or stage.escalated or not stage.escalation_approvers:
        return
    request = op.session.get(EmRequest, stage.request_id)
    if request is None or request.state != "pendingApproval":
        return
    stage.escalated = True
    op.target("AccessPackageAssignmentRequest", request.id)
    subject = op.session.get(EmSubject, request.subject_id)
    package = op.session.get(EmPackage, request.package_id)
    if subject is not None and package is not None:
        _ask(op, request, list(stage.escalation_approvers), subject, package, config)


def time_out(op: Write, stage_id: str, config: EmConfig | None) -> None:
    """A stage's timer: still undecided, the request is denied (and must be asked again)."""
    stage = op.session.get(EmApprovalStage, stage_id, with_for_update=True)
    if stage is None or stage.status != "InProgress":
        return
    request = op.session.get(EmRequest, stage.request_id, with_for_update=True)
    if request is None or request.state != "pendingApproval":
        return
    op.target("AccessPackageAssignmentRequest", request.id)
    _deny(op, request, stage, None, None, config, status="Expired")


class ApprovalService(Services):
    def __init__(self, sessions: Any, actor: Any, *, config: EmConfig | None = None) -> None:
        super().__init__(sessions, actor)
        self.config = config

    def _visible(self, session: Session, request: EmRequest) -> list[EmApprovalStage]:
        stages = stages_of(session, request.id)
        me = self.actor.id
        if self.actor.kind == "user" and not any(
            me in s.approvers or (s.escalated and me in s.escalation_approvers) for s in stages
        ):
            raise NotFoundError(request.id)
        return stages

    def get(self, request_id: str) -> dict[str, Any]:
        with self.read() as session:
            request = find(session, EmRequest, self.tenant_id, request_id)
            stages = self._visible(session, request)
            if not stages:
                raise NotFoundError(request_id)
            return {"id": request.id, "stages": [stage_wire(s, self.actor.id) for s in stages]}

    def stages(self, request_id: str) -> list[dict[str, Any]]:
        return list(self.get(request_id)["stages"])

    def stage(self, request_id: str, stage_id: str) -> dict[str, Any]:
        for stage in self.stages(request_id):
            if stage["id"] == stage_id:
                return stage
        raise NotFoundError(stage_id)

    def mine(self) -> list[dict[str, Any]]:
        """``filterByCurrentUser(on='approver')``: approvals with a stage waiting for the caller."""
        with self.read() as session:
            rows = session.scalars(
                select(EmApprovalStage).where(
                    EmApprovalStage.tenant_id == self.tenant_id, EmApprovalStage.status == "InProgress"
                )
            )
            me = self.actor.id
            ids = [s.request_id for s in rows if me in s.approvers or (s.escalated and me in s.escalation_approvers)]
            return [
                {"id": rid, "stages": [stage_wire(s, self.actor.id) for s in stages_of(session, rid)]}
                for rid in dict.fromkeys(ids)
            ]

    def decide(self, request_id: str, stage_id: str, body: Any) -> None:
        body = obj(body, "approvalStage")
        result = REVIEW_INPUT.get(str(body.get("reviewResult", "")).lower())
        if result is None:
            raise InvalidInputError("'reviewResult' is Approve or Deny.", target="reviewResult")
        justification = text(body, "justification", limit=4000)
        if self.actor.kind != "user":
            raise ForbiddenError("An approval is decided by a user.")
        with self.write(
            CATEGORY,
            "Approve access package assignment request"
            if result == "Approved"
            else "Deny access package assignment request",
        ) as op:
            request = find(op.session, EmRequest, self.tenant_id, request_id, lock=True)
            stage = op.session.get(EmApprovalStage, stage_id, with_for_update=True)
            if stage is None or stage.request_id != request.id:
                raise NotFoundError(stage_id)
            op.target("AccessPackageAssignmentRequest", request.id)
            me = self.actor.id
            if me not in stage.approvers and not (stage.escalated and me in stage.escalation_approvers):
                raise ForbiddenError("You are not an approver of this stage.")
            if stage.status != "InProgress" or request.state != "pendingApproval":
                decided_by = stage.reviewed_by_name or "another approver"
                raise ConflictError(f"This stage was already decided by {decided_by}.", code=ALREADY_DECIDED)
            policy = op.session.get(EmPolicy, request.policy_id) if request.policy_id else None
            rules = PolicyView(policy.allowed_target_scope, policy.settings) if policy is not None else None
            settings = (
                rules.stages[stage.stage_no - 1] if rules is not None and stage.stage_no <= len(rules.stages) else {}
            )
            if settings.get("isApproverJustificationRequired") and not (justification or "").strip():
                raise InvalidInputError("This stage requires the approver's justification.", target="justification")
            reviewer = op.session.get(User, me)
            op.details.update(stage=stage.stage_no, reviewResult=result)
            timers.cancel(op.session, self.tenant_id, lifecycle.STAGE_TIMEOUT, stage.id)
            timers.cancel(op.session, self.tenant_id, lifecycle.ESCALATE, stage.id)
            if result == "Denied":
                _deny(op, request, stage, reviewer, justification, self.config)
                return
            stage.status, stage.review_result = "Completed", "Approved"
            stage.reviewed_at, stage.justification = op.now, justification
            if reviewer is not None:
                stage.reviewed_by_id, stage.reviewed_by_name = reviewer.id, reviewer.display_name
            later = [s for s in stages_of(op.session, request.id) if s.stage_no > stage.stage_no]
            subject = op.session.get(EmSubject, request.subject_id)
            package = op.session.get(EmPackage, request.package_id)
            if later and rules is not None and subject is not None and package is not None:
                _open(op, request, later[0].stage_no, rules, subject, package, self.config)
                return
            from hospes.services.entitlement.requests import approved

            approved(op, request, self.config)
