"""My Access, the requestor's and approver's pages: the packages a signed-in user may request (with what a
request needs), their requests and assignments, and the approvals waiting for them; the actions go through
``RequestService`` and ``ApprovalService`` acting as the user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.entitlement_policy import PolicyView
from hospes.domain.entitlements import LIVE_ASSIGNMENT_STATES
from hospes.domain.principals import Principal
from hospes.services.entitlement.approvals import ApprovalService
from hospes.services.entitlement.notify import EmConfig
from hospes.services.entitlement.requests import RequestService, requestable, view
from hospes.storage.tables_entitlement import EmApprovalStage, EmAssignment, EmPackage, EmPolicy, EmRequest, EmSubject


@dataclass(frozen=True)
class Offer:
    package_id: str
    name: str
    description: str | None
    policy_id: str
    needs_approval: bool
    justification_required: bool
    questions: list[dict[str, Any]]
    held: bool  # the user already holds it (or asked for it)


@dataclass(frozen=True)
class MyRequest:
    id: str
    package: str
    kind: str
    state: str
    status: str
    created: datetime
    cancellable: bool


@dataclass(frozen=True)
class MyAssignment:
    id: str
    package: str
    state: str
    end: datetime | None
    extendable: bool


@dataclass(frozen=True)
class Waiting:
    request_id: str
    stage_id: str
    stage_no: int
    package: str
    requestor: str
    justification: str | None
    answers: list[tuple[str, str]]
    due: datetime | None
    justification_required: bool


class MyAccess:
    def __init__(self, sessions: sessionmaker[Session], config: EmConfig) -> None:
        self.sessions, self.config = sessions, config

    def requests(self, actor: Principal) -> RequestService:
        return RequestService(self.sessions, actor, config=self.config)

    def approvals(self, actor: Principal) -> ApprovalService:
        return ApprovalService(self.sessions, actor, config=self.config)

    def offers(self, tenant_id: str, user_id: str, package_id: str | None = None) -> list[Offer]:
        with self.sessions() as session:
            busy = self._busy_packages(session, tenant_id, user_id)
            out = []
            for package, policies in requestable(session, tenant_id, user_id):
                if package_id is not None and package.id != package_id:
                    continue
                if package_id is None and package.is_hidden:
                    continue  # a hidden package is reached through its link only
                policy = policies[0]
                rules = view(policy)
                out.append(
                    Offer(
                        package.id,
                        package.display_name,
                        package.description,
                        policy.id,
                        rules.needs_approval("userAdd"),
                        rules.justification_required,
                        rules.questions(),
                        package.id in busy,
                    )
                )
            return out

    @staticmethod
    def _busy_packages(session: Session, tenant_id: str, user_id: str) -> set[str]:
        subject = session.scalar(
            select(EmSubject).where(EmSubject.tenant_id == tenant_id, EmSubject.object_id == user_id)
        )
        if subject is None:
            return set()
        held = session.scalars(
            select(EmAssignment.package_id).where(
                EmAssignment.subject_id == subject.id, EmAssignment.state.in_(LIVE_ASSIGNMENT_STATES)
            )
        )
        asked = session.scalars(
            select(EmRequest.package_id).where(
                EmRequest.subject_id == subject.id, EmRequest.state.in_(("submitted", "pendingApproval", "scheduled"))
            )
        )
        return set(held) | set(asked)

    def my_requests(self, tenant_id: str, user_id: str) -> list[MyRequest]:
        with self.sessions() as session:
            rows = session.execute(
                select(EmRequest, EmPackage.display_name)
                .join(EmSubject, EmSubject.id == EmRequest.subject_id)
                .join(EmPackage, EmPackage.id == EmRequest.package_id)
                .where(EmRequest.tenant_id == tenant_id, EmSubject.object_id == user_id)
                .order_by(EmRequest.created_at.desc())
                .limit(100)
            )
            return [
                MyRequest(
                    r.id,
                    name,
                    r.request_type,
                    r.state,
                    r.status,
                    r.created_at,
                    r.state in ("submitted", "pendingApproval", "scheduled"),
                )
                for r, name in rows
            ]

    def my_assignments(self, tenant_id: str, user_id: str) -> list[MyAssignment]:
        with self.sessions() as session:
            rows = session.execute(
                select(EmAssignment, EmPackage.display_name, EmPolicy)
                .join(EmPackage, EmPackage.id == EmAssignment.package_id)
                .outerjoin(EmPolicy, EmPolicy.id == EmAssignment.policy_id)
                .where(EmAssignment.tenant_id == tenant_id, EmAssignment.target_user_id == user_id)
                .order_by(EmAssignment.created_at.desc())
                .limit(100)
            )
            return [
                MyAssignment(
                    a.id,
                    name,
                    a.state,
                    a.end_at,
                    a.state == "delivered"
                    and a.end_at is not None
                    and policy is not None
                    and view(policy).allows("userUpdate"),
                )
                for a, name, policy in rows
            ]

    def waiting(self, tenant_id: str, user_id: str) -> list[Waiting]:
        with self.sessions() as session:
            stages = session.scalars(
                select(EmApprovalStage).where(
                    EmApprovalStage.tenant_id == tenant_id, EmApprovalStage.status == "InProgress"
                )
            )
            out = []
            for stage in stages:
                if user_id not in stage.approvers and not (stage.escalated and user_id in stage.escalation_approvers):
                    continue
                request = session.get(EmRequest, stage.request_id)
                if request is None:
                    continue
                package = session.get(EmPackage, request.package_id)
                subject = session.get(EmSubject, request.subject_id)
                policy = session.get(EmPolicy, request.policy_id) if request.policy_id else None
                questions = {q["id"]: q["text"] for q in (view(policy).questions() if policy else [])}
                answers = [
                    (questions.get(str((a.get("answeredQuestion") or {}).get("id")), "?"), str(a.get("value", "")))
                    for a in request.answers or []
                ]
                settings = PolicyView(policy.allowed_target_scope, policy.settings).stages if policy else []
                required = bool(
                    settings
                    and stage.stage_no <= len(settings)
                    and settings[stage.stage_no - 1]["isApproverJustificationRequired"]
                )
                out.append(
                    Waiting(
                        request.id,
                        stage.id,
                        stage.stage_no,
                        package.display_name if package else "",
                        (subject.display_name or subject.email or "") if subject else "",
                        request.justification,
                        answers,
                        stage.due_at,
                        required,
                    )
                )
            return out
