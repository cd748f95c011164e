"""Assignment requests: an administrator's add and remove, a user's add, extend (``userUpdate``) and remove, cancel;
each checked in order (the requestor in the policy's scope and the kind of request allowed, answers and
justification present, no live assignment already), then carried as far as it can go in the same unit of work:
approval stages opened, or the assignment delivered (or scheduled, for a later start)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.changes import ChangeType
from hospes.domain.entitlement_policy import PolicyView
from hospes.domain.entitlements import (
    LIVE_ASSIGNMENT_STATES,
    OPEN_REQUEST_STATES,
    RequestForm,
    answer_map,
    parse_request,
)
from hospes.domain.errors import ForbiddenError, InvalidInputError, InvitationError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.principals import Principal
from hospes.services import timers
from hospes.services.base import Services, Write
from hospes.services.entitlement import lifecycle
from hospes.services.entitlement.audience import in_scope
from hospes.services.entitlement.common import (
    CATEGORY,
    assignment_wire,
    find,
    log_assignment,
    log_request,
    request_wire,
    subject_for_user,
)
from hospes.services.entitlement.notify import EmConfig
from hospes.storage.tables import User
from hospes.storage.tables_entitlement import EmApprovalStage, EmAssignment, EmPackage, EmPolicy, EmRequest, EmSubject

ACTIVITY = {
    "adminAdd": "Administrator directly assigns user to access package",
    "adminRemove": "Administrator removes access package assignment",
    "adminUpdate": "Administrator updates access package assignment",
    "userAdd": "User requests access package assignment",
    "userRemove": "User removes access package assignment",
    "userUpdate": "User requests access package assignment extension",
}


class RequestService(Services):
    """``admin``: the caller may administer entitlement management (adminAdd, adminRemove, every request);
    otherwise only their own requests."""

    def __init__(self, sessions: Any, actor: Principal, *, admin: bool = False, config: EmConfig | None = None) -> None:
        super().__init__(sessions, actor)
        self.admin, self.config = admin, config

    # -- reading ---------------------------------------------------------------------------------------------------

    def list_requests(self, on: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """Every request of the tenant (administrators), or the caller's own: as the target (``on='target'``),
        as the one who asked (``createdBy``), or waiting for their approval (``approver``)."""
        if on is None and not self.admin:
            raise ForbiddenError()
        with self.read() as session:
            stmt = select(EmRequest).where(EmRequest.tenant_id == self.tenant_id)
            if state is not None:
                stmt = stmt.where(EmRequest.state == state)
            if on == "target":
                stmt = stmt.join(EmSubject, EmSubject.id == EmRequest.subject_id).where(
                    EmSubject.object_id == self.actor.id
                )
            elif on == "createdBy":
                stmt = stmt.where(EmRequest.created_by_id == self.actor.id)
            elif on == "approver":
                mine = self.pending_for_me(session)
                stmt = stmt.where(EmRequest.id.in_(mine))
            elif on is not None:
                raise InvalidInputError("'on' is target, createdBy or approver.")
            rows = session.scalars(stmt.order_by(EmRequest.created_at.desc(), EmRequest.id))
            return [request_wire(r, session) for r in rows]

    def pending_for_me(self, session: Session) -> list[str]:
        rows = session.scalars(
            select(EmApprovalStage).where(
                EmApprovalStage.tenant_id == self.tenant_id, EmApprovalStage.status == "InProgress"
            )
        )
        me = self.actor.id
        return [s.request_id for s in rows if me in s.approvers or (s.escalated and me in s.escalation_approvers)]

    def get_request(self, request_id: str) -> dict[str, Any]:
        with self.read() as session:
            row = find(session, EmRequest, self.tenant_id, request_id)
            self._may_see(session, row)
            return request_wire(row, session)

    def _may_see(self, session: Session, row: EmRequest) -> None:
        if self.admin:
            return
        subject = session.get(EmSubject, row.subject_id)
        if row.created_by_id == self.actor.id or (subject is not None and subject.object_id == self.actor.id):
            return
        if row.id in self.pending_for_me(session):
            return
        raise NotFoundError(row.id)

    def list_assignments(self, on: str | None = None, package_id: str | None = None) -> list[dict[str, Any]]:
        if on is None and not self.admin:
            raise ForbiddenError()
        with self.read() as session:
            stmt = select(EmAssignment).where(EmAssignment.tenant_id == self.tenant_id)
            if on in ("target", "createdBy"):
                stmt = stmt.where(EmAssignment.target_user_id == self.actor.id)
            elif on is not None:
                raise InvalidInputError("'on' is target or createdBy.")
            if package_id is not None:
                stmt = stmt.where(EmAssignment.package_id == package_id)
            rows = session.scalars(stmt.order_by(EmAssignment.created_at, EmAssignment.id))
            return [assignment_wire(r, session) for r in rows]

    def get_assignment(self, assignment_id: str) -> dict[str, Any]:
        with self.read() as session:
            row = find(session, EmAssignment, self.tenant_id, assignment_id)
            if not self.admin and row.target_user_id != self.actor.id:
                raise NotFoundError(assignment_id)
            return assignment_wire(row, session)

    # -- asking ----------------------------------------------------------------------------------------------------

    def create(self, body: Any) -> dict[str, Any]:
        form = parse_request(body)
        if form.request_type.startswith("admin") and not self.admin:
            raise ForbiddenError()
        if form.request_type.startswith("user") and self.actor.kind != "user":
            raise InvalidInputError(
                "User requests are made with a user's token; use adminAdd with an app's.", target="requestType"
            )
        with self.write(CATEGORY, ACTIVITY.get(form.request_type, "Access package request")) as op:
            if form.request_type.endswith("Add"):
                request = self._add(op, form)
            elif form.request_type.endswith("Remove"):
                request = self._remove(op, form)
            else:
                request = self._update(op, form)
            op.target("AccessPackageAssignmentRequest", request.id)
            op.details.update(requestType=request.request_type, state=request.state, packageId=request.package_id)
            return request_wire(request, op.session)

    def _policy_for(self, op: Write, package: EmPackage, form: RequestForm, subject: EmSubject) -> EmPolicy:
        if form.policy_id:
            policy = find(op.session, EmPolicy, self.tenant_id, form.policy_id)
            if policy.package_id != package.id:
                raise InvalidInputError("The policy is not one of the access package's.", target="assignmentPolicyId")
            return policy
        policies = list(op.session.scalars(select(EmPolicy).where(EmPolicy.package_id == package.id)))
        if form.request_type.startswith("user"):
            policies = [p for p in policies if in_scope(op.session, self.tenant_id, view(p), subject)]
        if len(policies) != 1:
            raise InvalidInputError(
                "Name the policy ('assignmentPolicyId'): " + ("none applies." if not policies else "several apply."),
                target="assignmentPolicyId",
            )
        return policies[0]

    def _add(self, op: Write, form: RequestForm) -> EmRequest:
        package = find(op.session, EmPackage, self.tenant_id, str(form.package_id))
        if form.request_type == "userAdd":
            if form.target_id not in (None, self.actor.id):
                raise ForbiddenError("A user requests access for themselves.")
            target_id = self.actor.id
        elif form.target_email and not form.target_id:
            from hospes.services.entitlement.external import subject_for_email

            subject = subject_for_email(op, form.target_email, None, None)
            return self.file(op, package, subject, form, self._policy_for(op, package, form, subject))
        else:
            target_id = form.target_id or ""
        user = op.session.get(User, target_id)
        if user is None or user.tenant_id != self.tenant_id or user.deleted_at is not None:
            raise NotFoundError(target_id)
        subject = subject_for_user(
            op, user.id, display_name=user.display_name, upn=user.user_principal_name, mail=user.mail
        )
        return self.file(op, package, subject, form, self._policy_for(op, package, form, subject))

    def file(self, op: Write, package: EmPackage, subject: EmSubject, form: RequestForm, policy: EmPolicy) -> EmRequest:
        """The checks of an add request, in order, then the request carried as far as it goes."""
        rules = view(policy)
        if form.request_type == "userAdd":
            if not in_scope(op.session, self.tenant_id, rules, subject):
                raise InvalidInputError("The requestor is not in the scope of the policy.", target="assignmentPolicyId")
            if not rules.allows("userAdd"):
                raise InvalidInputError("The policy does not let users request this access package.")
            if form.schedule and not rules.settings["requestorSettings"]["allowCustomAssignmentSchedule"]:
                raise InvalidInputError("The policy does not let requestors choose their schedule.", target="schedule")
            missing = rules.missing_answers(answer_map(form.answers))
            if missing:
                raise InvalidInputError(f"Answer the required question: {missing[0]}", target="answers")
            if rules.justification_required and not (form.justification or "").strip():
                raise InvalidInputError("The policy requires a justification.", target="justification")
        if self._live(op, package.id, subject.id) is not None:
            raise InvalidInputError(
                "The target already has an assignment of this access package.", code="ExistingAssignment"
            )
        open_request = op.session.scalar(
            select(EmRequest.id).where(
                EmRequest.package_id == package.id,
                EmRequest.subject_id == subject.id,
                EmRequest.state.in_(OPEN_REQUEST_STATES),
            )
        )
        if open_request:
            raise InvalidInputError("A request for this access package is already pending.", code="PendingRequest")
        request = EmRequest(
            id=new_id(),
            tenant_id=self.tenant_id,
            package_id=package.id,
            policy_id=policy.id,
            subject_id=subject.id,
            request_type=form.request_type,
            state="submitted",
            status="Accepted",
            justification=form.justification,
            answers=form.answers,
            schedule=form.schedule,
            created_by_id=self.actor.id or None,
            created_by_name=self.actor.display_name,
            created_at=op.now,
        )
        op.session.add(request)
        op.session.flush()
        log_request(op, request, ChangeType.CREATED)
        if rules.needs_approval(form.request_type):
            from hospes.services.entitlement.approvals import open_stages

            open_stages(op, request, rules, subject, package, self.config)
        else:
            approved(op, request, self.config)
        return request

    def _live(self, op: Write, package_id: str, subject_id: str) -> EmAssignment | None:
        return op.session.scalar(
            select(EmAssignment).where(
                EmAssignment.package_id == package_id,
                EmAssignment.subject_id == subject_id,
                EmAssignment.state.in_(LIVE_ASSIGNMENT_STATES),
            )
        )

    def _own_assignment(self, op: Write, form: RequestForm) -> EmAssignment:
        assignment = find(op.session, EmAssignment, self.tenant_id, str(form.assignment_id), lock=True)
        if form.request_type.startswith("user") and assignment.target_user_id != self.actor.id:
            raise NotFoundError(assignment.id)
        if assignment.state not in LIVE_ASSIGNMENT_STATES:
            raise InvalidInputError("The assignment has already ended.", target="assignment")
        return assignment

    def _remove(self, op: Write, form: RequestForm) -> EmRequest:
        assignment = self._own_assignment(op, form)
        policy = op.session.get(EmPolicy, assignment.policy_id) if assignment.policy_id else None
        if form.request_type == "userRemove" and (policy is None or not view(policy).allows("userRemove")):
            raise InvalidInputError("The policy does not let users remove their own access.")
        request = self._follow_up(op, assignment, form)
        return lifecycle.end(op, assignment, request, self.config)

    def _update(self, op: Write, form: RequestForm) -> EmRequest:
        """An extension: the assignment's end moves as the policy allows from now (never past a fixed end)."""
        assignment = self._own_assignment(op, form)
        policy = op.session.get(EmPolicy, assignment.policy_id) if assignment.policy_id else None
        if policy is None:
            raise InvalidInputError("The assignment has no policy to extend it under.")
        rules = view(policy)
        subject = op.session.get(EmSubject, assignment.subject_id)
        if form.request_type == "userUpdate":
            if not rules.allows("userUpdate"):
                raise InvalidInputError("The policy does not let users extend their access.")
            if subject is None or not in_scope(op.session, self.tenant_id, rules, subject):
                raise InvalidInputError("The requestor is no longer in the scope of the policy.")
            if rules.justification_required and not (form.justification or "").strip():
                raise InvalidInputError("The policy requires a justification.", target="justification")
        request = self._follow_up(op, assignment, form)
        if rules.needs_approval(form.request_type) and subject is not None:
            from hospes.services.entitlement.approvals import open_stages

            package = find(op.session, EmPackage, self.tenant_id, assignment.package_id)
            open_stages(op, request, rules, subject, package, self.config)
        else:
            approved(op, request, self.config)
        return request

    def _follow_up(self, op: Write, assignment: EmAssignment, form: RequestForm) -> EmRequest:
        request = EmRequest(
            id=new_id(),
            tenant_id=self.tenant_id,
            package_id=assignment.package_id,
            policy_id=assignment.policy_id,
            assignment_id=assignment.id,
            subject_id=assignment.subject_id,
            request_type=form.request_type,
            state="submitted",
            status="Accepted",
            justification=form.justification,
            answers=form.answers,
            schedule=form.schedule,
            created_by_id=self.actor.id or None,
            created_by_name=self.actor.display_name,
            created_at=op.now,
        )
        op.session.add(request)
        op.session.flush()
        log_request(op, request, ChangeType.CREATED)
        return request

    # -- cancel, delete --------------------------------------------------------------------------------------------

    def cancel(self, request_id: str) -> None:
        with self.write(CATEGORY, "Cancel access package assignment request") as op:
            request = find(op.session, EmRequest, self.tenant_id, request_id, lock=True)
            self._may_see(op.session, request)
            subject = op.session.get(EmSubject, request.subject_id)
            own = request.created_by_id == self.actor.id or (subject is not None and subject.object_id == self.actor.id)
            if not (self.admin or own):
                # An approver sees the request but answers it with a decision, not by withdrawing it.
                raise ForbiddenError("Only the requestor or an administrator can cancel a request.")
            op.target("AccessPackageAssignmentRequest", request.id)
            if request.state not in OPEN_REQUEST_STATES:
                raise InvalidInputError(f"A request in state '{request.state}' cannot be canceled.")
            request.state, request.status, request.completed_at = "canceled", "Canceled", op.now
            for stage in op.session.scalars(select(EmApprovalStage).where(EmApprovalStage.request_id == request.id)):
                timers.cancel(op.session, self.tenant_id, lifecycle.STAGE_TIMEOUT, stage.id)
                if stage.status in ("InProgress", "NotStarted"):
                    stage.status = "Expired"  # nobody is asked any more
            timers.cancel(op.session, self.tenant_id, lifecycle.START, request.id)
            if request.assignment_id and request.request_type.endswith("Add"):
                assignment = op.session.get(EmAssignment, request.assignment_id)
                if assignment is not None and assignment.state not in LIVE_ASSIGNMENT_STATES | {"expired"}:
                    op.session.delete(assignment)
                    request.assignment_id = None
            log_request(op, request)

    def delete(self, request_id: str) -> None:
        if not self.admin:
            raise ForbiddenError()
        with self.write(CATEGORY, "Delete access package assignment request") as op:
            request = find(op.session, EmRequest, self.tenant_id, request_id, lock=True)
            op.target("AccessPackageAssignmentRequest", request.id)
            if request.state not in ("denied", "canceled", "delivered", "deliveryFailed"):
                raise InvalidInputError("Only denied, canceled or completed requests can be deleted.")
            if request.assignment_id and request.request_type.endswith("Add"):
                assignment = op.session.get(EmAssignment, request.assignment_id)
                if assignment is not None and assignment.state in LIVE_ASSIGNMENT_STATES:
                    raise InvalidInputError("The request's assignment is still live.")
            op.session.delete(request)


def view(policy: EmPolicy) -> PolicyView:
    return PolicyView(policy.allowed_target_scope, policy.settings)


def approved(op: Write, request: EmRequest, config: EmConfig | None) -> None:
    """Every stage approved (or none needed): an add makes the assignment and delivers it (or schedules it for its
    start); an extension moves the assignment's end."""
    policy = op.session.get(EmPolicy, request.policy_id) if request.policy_id else None
    rules = view(policy) if policy is not None else None
    start = None
    end = None
    if request.schedule:
        from hospes.domain.entitlements import parse_request

        asked = parse_request(
            {
                "requestType": "adminAdd",
                "assignment": {"accessPackageId": request.package_id},
                "schedule": request.schedule,
            }
        )
        start, end = asked.start_at, asked.end_at
    if request.request_type.endswith("Update"):
        assignment = op.session.get(EmAssignment, request.assignment_id or "")
        if assignment is None or assignment.state not in LIVE_ASSIGNMENT_STATES:
            request.state, request.status, request.completed_at = "deliveryFailed", "AssignmentEnded", op.now
            log_request(op, request)
            return
        assignment.end_at = rules.end_for(op.now, end) if rules is not None else end
        request.state, request.status, request.completed_at = "delivered", "Delivered", op.now
        log_assignment(op, assignment)
        log_request(op, request)
        lifecycle.arm(op, assignment)
        assignment.status = "Delivered"
        return
    subject = op.session.get(EmSubject, request.subject_id)
    assert subject is not None  # a foreign key
    if subject.object_id is None:
        from hospes.services.entitlement.external import create_guest_for

        try:
            with op.session.begin_nested():
                create_guest_for(op, subject, request)
        except InvitationError as exc:
            # The reason stays on the request, where the requestor and the administrator see it.
            request.state, request.status, request.completed_at = "deliveryFailed", exc.message[:128], op.now
            log_request(op, request)
            return
    begin = start if start is not None and start > op.now else op.now
    assignment = EmAssignment(
        id=new_id(),
        tenant_id=op.actor.tenant_id,
        package_id=request.package_id,
        policy_id=request.policy_id,
        subject_id=subject.id,
        target_user_id=subject.object_id,
        state="delivering",
        status="Delivering",
        start_at=begin,
        end_at=rules.end_for(begin, end) if rules is not None else end,
        created_at=op.now,
    )
    op.session.add(assignment)
    op.session.flush()
    request.assignment_id = assignment.id
    log_assignment(op, assignment, ChangeType.CREATED)
    if begin > op.now:
        request.state, request.status = "scheduled", "Scheduled"
        log_request(op, request)
        timers.schedule(op.session, op.actor.tenant_id, lifecycle.START, request.id, begin)
        return
    request.state, request.status = "delivering", "Delivering"
    lifecycle.deliver(op, request, assignment, config)


def requirements(policy: EmPolicy) -> dict[str, Any]:
    """``accessPackageAssignmentRequestRequirements`` of one policy: what a request under it must carry."""
    rules = view(policy)
    approval = policy.settings["requestApprovalSettings"]
    return {
        "policyId": policy.id,
        "policyDisplayName": policy.display_name,
        "policyDescription": policy.description,
        "isApprovalRequiredForAdd": rules.needs_approval("userAdd"),
        "isApprovalRequiredForUpdate": bool(approval["isApprovalRequiredForUpdate"] and approval["stages"]),
        "isRequestorJustificationRequired": rules.justification_required,
        "allowCustomAssignmentSchedule": policy.settings["requestorSettings"]["allowCustomAssignmentSchedule"],
        "questions": rules.questions(),
        "schedule": {"expiration": policy.settings["expiration"]},
    }


def requestable(session: Session, tenant_id: str, user_id: str) -> list[tuple[EmPackage, list[EmPolicy]]]:
    """The packages a directory user may request, each with the policies that let them."""
    user = session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id or user.deleted_at is not None:
        return []
    subject = session.scalar(select(EmSubject).where(EmSubject.tenant_id == tenant_id, EmSubject.object_id == user_id))
    probe = subject or EmSubject(id="", tenant_id=tenant_id, object_id=user_id, email=user.mail)
    out: dict[str, tuple[EmPackage, list[EmPolicy]]] = {}
    rows = session.execute(
        select(EmPackage, EmPolicy)
        .join(EmPolicy, EmPolicy.package_id == EmPackage.id)
        .where(EmPackage.tenant_id == tenant_id)
        .order_by(EmPackage.display_name, EmPackage.id, EmPolicy.created_at)
    )
    for package, policy in rows:
        rules = view(policy)
        if (
            rules.allows("userAdd")
            and policy.allowed_target_scope != "notSpecified"
            and in_scope(session, tenant_id, rules, probe)
        ):
            out.setdefault(package.id, (package, []))[1].append(policy)
    return list(out.values())
