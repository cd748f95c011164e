"""Delivery and end of assignments, and the external-user lifecycle, each step within the caller's write; and the
durable timers that run them when due (expiry, the notice before it, a scheduled start, the deletion of a blocked
guest, a stage's timeout).

The order at expiry (one unit of work per assignment): a ``systemRemove`` request is made, the roles are revoked
with grant counting, the assignment becomes ``expired`` and the request ``delivered``, the "access ended" mail is
queued, and a governed guest left with no live assignment is blocked (sessions and refresh tokens revoked) and,
under ``blockSignInAndDelete``, scheduled for deletion; a delivery before that date cancels the deletion.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.entitlements import GROUP, LIVE_ASSIGNMENT_STATES, parse_duration
from hospes.domain.ids import new_id
from hospes.services import timers
from hospes.services.base import Write
from hospes.services.entitlement import grants
from hospes.services.entitlement.common import CATEGORY, log_assignment, log_request
from hospes.services.entitlement.notify import EmConfig, recipient_of, send
from hospes.services.web_sessions import revoke_user_sessions
from hospes.storage.tables import AuditLog, Group, GroupMember, Tenant, User
from hospes.storage.tables_entitlement import (
    EmAssignment,
    EmPackage,
    EmPolicy,
    EmRequest,
    EmRoleScope,
    EmSettings,
    EmSubject,
)

EXPIRE, NOTICE, NOTICE14, START, DELETE_GUEST, STAGE_TIMEOUT, ESCALATE = (
    "entitlement.expire",
    "entitlement.notice",
    "entitlement.notice14",
    "entitlement.start",
    "entitlement.deleteGuest",
    "entitlement.stageTimeout",
    "entitlement.escalate",
)
NOTICE_BEFORE = timedelta(days=1)
NOTICES = ((NOTICE14, timedelta(days=14)), (NOTICE, NOTICE_BEFORE))


def arm(op: Write, assignment: EmAssignment) -> None:
    """The timers of an assignment's end: the expiry, and the notices 14 days and 1 day before it (those still
    ahead)."""
    if assignment.end_at is None:
        timers.cancel(op.session, op.actor.tenant_id, EXPIRE, assignment.id)
        return
    timers.schedule(op.session, op.actor.tenant_id, EXPIRE, assignment.id, assignment.end_at)
    for kind, before in NOTICES:
        if assignment.end_at - before > op.now:
            timers.schedule(op.session, op.actor.tenant_id, kind, assignment.id, assignment.end_at - before)


def deliver(op: Write, request: EmRequest, assignment: EmAssignment, config: EmConfig | None) -> None:
    """Grant the package's roles and mark the assignment and its request delivered; arm the expiry."""
    assignment.state, assignment.status = "delivered", "Delivered"
    grants.grant_all(op, assignment)
    request.state, request.status, request.completed_at = "delivered", "Delivered", op.now
    log_assignment(op, assignment)
    log_request(op, request)
    arm(op, assignment)
    if assignment.target_user_id:
        _keep_guest(op, assignment.target_user_id)
    package = op.session.get(EmPackage, assignment.package_id)
    subject = op.session.get(EmSubject, assignment.subject_id)
    if package is not None and subject is not None:
        send(op, config, "granted", recipient_of(op, subject), package, end=assignment.end_at)


def end(op: Write, assignment: EmAssignment, request: EmRequest | None, config: EmConfig | None) -> EmRequest:
    """End a live assignment in the normative order; ``request`` is the removal asked for (none at expiry: a
    ``systemRemove`` request is made to record it). Returns the removal request."""
    if request is None:
        request = EmRequest(
            id=new_id(),
            tenant_id=op.actor.tenant_id,
            package_id=assignment.package_id,
            policy_id=assignment.policy_id,
            assignment_id=assignment.id,
            subject_id=assignment.subject_id,
            request_type="systemRemove",
            state="delivering",
            status="Delivering",
            answers=[],
            created_by_name="Hospes",
            created_at=op.now,
        )
        op.session.add(request)
    else:
        request.state, request.status = "delivering", "Delivering"
    assignment.state = "expired"  # before revoking, so this assignment no longer counts as holding its roles
    revoked = grants.revoke_all(op, assignment)
    assignment.status, assignment.expired_at = "ExpiredNotificationTriggered", op.now
    request.state, request.status, request.completed_at = "delivered", "Delivered", op.now
    log_assignment(op, assignment)
    log_request(op, request, ChangeType.CREATED if request.request_type == "systemRemove" else ChangeType.UPDATED)
    op.details.setdefault("revokedRoleScopes", []).extend(revoked)
    # The assignment's expiry and notice timers are left to find it ended and do nothing: cancelling them here
    # would cost two statements per assignment in every expiry batch.
    package = op.session.get(EmPackage, assignment.package_id)
    subject = op.session.get(EmSubject, assignment.subject_id)
    if package is not None and subject is not None:
        send(op, config, "ended", recipient_of(op, subject), package)
        if subject.lifecycle == "governed" and subject.object_id:
            after_last_assignment(op, subject.object_id)
    return request


def live_count(op: Write, user_id: str) -> int:
    return len(
        list(
            op.session.scalars(
                select(EmAssignment.id).where(
                    EmAssignment.tenant_id == op.actor.tenant_id,
                    EmAssignment.target_user_id == user_id,
                    EmAssignment.state.in_(LIVE_ASSIGNMENT_STATES),
                )
            )
        )
    )


def settings_of(op: Write) -> EmSettings:
    row = op.session.get(EmSettings, op.actor.tenant_id)
    return (
        row
        if row is not None
        else EmSettings(tenant_id=op.actor.tenant_id, lifecycle_action="blockSignInAndDelete", delete_after="P30D")
    )


def after_last_assignment(op: Write, user_id: str) -> None:
    """A governed guest who holds no live assignment any more: block sign-in, then delete after the configured
    time, as the settings say at this moment (a later change of settings leaves this date alone)."""
    if live_count(op, user_id):
        return
    settings = settings_of(op)
    if settings.lifecycle_action not in ("blockSignIn", "blockSignInAndDelete"):
        return
    user = op.session.get(User, user_id)
    if user is None or user.deleted_at is not None or user.tenant_id != op.actor.tenant_id:
        return
    if user.account_enabled:
        user.account_enabled = False
        revoke_user_sessions(op.session, user.id, op.now)
        op.change(ObjectType.USER, user.id, ChangeType.UPDATED, ["accountEnabled"])
        _audit(op, "UserManagement", "Disable account", user)
    if settings.lifecycle_action == "blockSignInAndDelete":
        delay = parse_duration(settings.delete_after, "durationUntilExternalUserDeletedAfterBlocked")
        if delay <= timedelta(0):
            delete_guest(op, user)
        else:
            timers.schedule(op.session, op.actor.tenant_id, DELETE_GUEST, user.id, op.now + delay)


def _keep_guest(op: Write, user_id: str) -> None:
    """A delivery before a blocked guest's deletion date: the deletion is cancelled and sign-in allowed again."""
    if timers.cancel(op.session, op.actor.tenant_id, DELETE_GUEST, user_id):
        user = op.session.get(User, user_id)
        if user is not None and not user.account_enabled and user.deleted_at is None:
            user.account_enabled = True
            op.change(ObjectType.USER, user.id, ChangeType.UPDATED, ["accountEnabled"])
            _audit(op, "UserManagement", "Enable account", user)


def delete_guest(op: Write, user: User, *, audit: bool = True) -> None:
    """Soft delete (the guest stays restorable with the deleted users); ``audit``: a row of its own, unless the
    write's own row is this deletion."""
    user.deleted_at = op.now
    revoke_user_sessions(op.session, user.id, op.now)
    op.change(ObjectType.USER, user.id, ChangeType.DELETED)
    if audit:
        _audit(op, "UserManagement", "Delete user", user)


def _audit(op: Write, category: str, activity: str, user: User) -> None:
    """A directory change made as a consequence of an entitlement step gets its own audit row, as if done alone."""
    op.session.add(
        AuditLog(
            id=new_id(),
            tenant_id=op.actor.tenant_id,
            at=op.now,
            category=category,
            activity=activity,
            result="success",
            actor_type=op.actor.kind,
            actor_id=op.actor.id or None,
            actor_name=op.actor.display_name,
            target_type="User",
            target_id=user.id,
            target_name=user.user_principal_name,
            details={"initiatedBy": "EntitlementManagement"},
        )
    )


# -- timers --------------------------------------------------------------------------------------------------------


def timer_handlers(config: EmConfig | None) -> dict[str, timers.Registered]:
    """The handlers of entitlement management's timers, bound to the process's mail settings."""

    def expire(op: Write, due: timers.Due) -> None:
        locked = due.subject in op.session.info.get(_LOCKED, ())
        assignment = op.session.get(EmAssignment, due.subject, with_for_update=not locked)
        if assignment is None or assignment.state not in LIVE_ASSIGNMENT_STATES:
            return
        if assignment.end_at is None or assignment.end_at > op.now:  # extended since: the new date has its timer
            return
        op.target("AccessPackageAssignment", assignment.id)
        end(op, assignment, None, config)

    def notice(op: Write, due: timers.Due) -> None:
        """The mail before the end (14 days, 1 day), when the requestor may still extend; the last one is also
        recorded in the assignment's status."""
        assignment = op.session.get(EmAssignment, due.subject)
        if assignment is None or assignment.state != "delivered" or assignment.end_at is None:
            return
        op.target("AccessPackageAssignment", assignment.id)
        if due.kind == NOTICE:
            assignment.status = "NearExpiry1DayNotificationTriggered"
            log_assignment(op, assignment)
        policy = op.session.get(EmPolicy, assignment.policy_id) if assignment.policy_id else None
        if policy is None or not policy.settings["requestorSettings"].get("enableTargetsToSelfUpdateAccess"):
            return
        package = op.session.get(EmPackage, assignment.package_id)
        subject = op.session.get(EmSubject, assignment.subject_id)
        if package is not None and subject is not None:
            send(op, config, "expiring", recipient_of(op, subject), package, end=assignment.end_at)

    def start(op: Write, due: timers.Due) -> None:
        request = op.session.get(EmRequest, due.subject, with_for_update=True)
        if request is None or request.state != "scheduled" or not request.assignment_id:
            return
        assignment = op.session.get(EmAssignment, request.assignment_id)
        if assignment is not None:
            op.target("AccessPackageAssignment", assignment.id)
            deliver(op, request, assignment, config)

    def delete(op: Write, due: timers.Due) -> None:
        user = op.session.get(User, due.subject)
        if user is None or user.deleted_at is not None or user.tenant_id != due.tenant_id:
            return
        if live_count(op, user.id):  # a delivery raced the timer's cancellation: keep the guest
            return
        op.target("User", user.id, user.user_principal_name)
        delete_guest(op, user, audit=False)

    def stage_timeout(op: Write, due: timers.Due) -> None:
        from hospes.services.entitlement.approvals import time_out

        time_out(op, due.subject, config)

    def escalate(op: Write, due: timers.Due) -> None:
        from hospes.services.entitlement.approvals import escalate as forward

        forward(op, due.subject, config)

    return {
        ESCALATE: timers.Registered(escalate, CATEGORY, "Access package approval escalated"),
        EXPIRE: timers.Registered(expire, CATEGORY, "Access package assignment expired", prepare_expiry),
        NOTICE: timers.Registered(notice, CATEGORY, "Access package assignment expiring"),
        NOTICE14: timers.Registered(notice, CATEGORY, "Access package assignment expiring"),
        START: timers.Registered(start, CATEGORY, "Access package assignment started"),
        DELETE_GUEST: timers.Registered(delete, "UserManagement", "Delete user"),
        STAGE_TIMEOUT: timers.Registered(stage_timeout, CATEGORY, "Access package approval timed out"),
    }


_LOCKED = "hospes.entitlement.locked"  # assignments a batch's ``prepare_expiry`` read with FOR UPDATE
_KEPT = "hospes.entitlement.kept"


def prepare_expiry(session: Session, dues: list[timers.Due]) -> None:
    """A batch of expiries reads what they touch in a few statements (assignments locked, their subjects, users,
    packages, role scopes, groups and memberships, who else holds each role), so each expiry only writes."""
    # The session's identity map holds objects weakly: the batch keeps what it read until it ends.
    kept: list[object] = session.info.setdefault(_KEPT, [])
    by_tenant: dict[str, list[str]] = {}
    for due in dues:
        by_tenant.setdefault(due.tenant_id, []).append(due.subject)
    for tenant_id, ids in by_tenant.items():
        assignments = list(
            session.scalars(
                select(EmAssignment)
                .where(EmAssignment.tenant_id == tenant_id, EmAssignment.id.in_(ids))
                .with_for_update()
            )
        )
        session.info.setdefault(_LOCKED, set()).update(a.id for a in assignments)
        users = {a.target_user_id for a in assignments if a.target_user_id}
        packages = {a.package_id for a in assignments}
        kept.extend(assignments)
        kept.extend(session.scalars(select(EmSubject).where(EmSubject.id.in_({a.subject_id for a in assignments}))))
        kept.extend(session.scalars(select(User).where(User.id.in_(users))))
        kept.extend(session.scalars(select(EmPackage).where(EmPackage.id.in_(packages))))
        scopes = list(session.scalars(select(EmRoleScope).where(EmRoleScope.package_id.in_(packages))))
        grants.remember_scopes(session, scopes, packages)
        groups = {s.origin_id for s in scopes if s.origin_system == GROUP}
        if groups:
            kept.extend(session.scalars(select(Group).where(Group.id.in_(groups))))
            kept.extend(
                session.scalars(
                    select(GroupMember).where(GroupMember.group_id.in_(groups), GroupMember.member_id.in_(users))
                )
            )
        kept.append(session.get(Tenant, tenant_id))
        grants.preload(session, tenant_id, users)
