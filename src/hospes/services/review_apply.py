"""Applying an access review's denials: the plan (what would be removed, and what cannot be), and the run.

A denial removes only what a removal can undo: a direct group membership or the user's own app role assignment.
Access through a nested group, a group assigned to the app or a dynamic group's rule is reported as
``ApplyNotSupported`` with the reason, never silently kept. Each run carries out at most the definition's cap of
denials (a share of the instance's items); the rest wait, visible in the plan, for the next run an administrator
starts. Removals go through the group and assignment write paths, so the change log, delta and provisioning follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from hospes.domain.access_reviews import Rules, denial_allowance
from hospes.domain.changes import ChangeType, ObjectType
from hospes.services import group_rules
from hospes.services.base import Services, Write
from hospes.services.groups import GroupService
from hospes.services.web_sessions import revoke_user_sessions
from hospes.storage.tables import AppRoleAssignment, Group, GroupMember, User
from hospes.storage.tables_reviews import AccessReviewInstance, AccessReviewItem, UserGovernance

REMOVE = "Remove"
NOT_SUPPORTED = "ApplyNotSupported"
NOT_FOUND = "AppliedSuccessfullyButObjectNotFound"
_CHUNK = 900


@dataclass(frozen=True)
class Step:
    """What applying one denied item does: ``outcome`` Remove (``action`` says how), ApplyNotSupported or
    AppliedSuccessfullyButObjectNotFound, with the reason in words."""

    item_id: str
    principal_id: str
    principal_name: str | None
    resource_id: str | None
    resource_name: str | None
    outcome: str
    action: str | None
    reason: str


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


def plan(session: Session, instance: AccessReviewInstance, checked: Rules) -> list[Step]:
    """The denied items not applied yet, each with what applying would do."""
    items = list(
        session.execute(
            select(
                AccessReviewItem.id,
                AccessReviewItem.principal_id,
                AccessReviewItem.principal_name,
                AccessReviewItem.resource_id,
                AccessReviewItem.resource_name,
            )
            .where(
                AccessReviewItem.instance_id == instance.id,
                AccessReviewItem.current.is_(True),
                AccessReviewItem.decision == "Deny",
                AccessReviewItem.apply_result == "New",
            )
            .order_by(AccessReviewItem.principal_name, AccessReviewItem.principal_id)
        ).all()
    )
    ids = [row.principal_id for row in items]
    live: set[str] = set()
    for chunk in _chunks(ids):
        live |= set(
            session.scalars(
                select(User.id).where(
                    User.tenant_id == instance.tenant_id, User.id.in_(chunk), User.deleted_at.is_(None)
                )
            )
        )
    holds, why_not = _holdings(session, instance, ids)
    steps: list[Step] = []
    for row in items:
        base = (row.id, row.principal_id, row.principal_name, row.resource_id, row.resource_name)
        if row.principal_id not in live:
            steps.append(Step(*base, NOT_FOUND, None, "The user no longer exists."))
        elif checked.disable_and_delete:
            steps.append(Step(*base, REMOVE, "disableAndDelete", "Block sign-in, then delete."))
        elif why_not is not None:
            steps.append(Step(*base, NOT_SUPPORTED if why_not[0] else NOT_FOUND, None, why_not[1]))
        elif row.principal_id in holds:
            action = "removeMembership" if instance.resource_type == "Group" else "removeAssignment"
            steps.append(Step(*base, REMOVE, action, "Direct access is removed."))
        elif instance.resource_type == "Group":
            steps.append(Step(*base, NOT_SUPPORTED, None, "The user is a member through a nested group."))
        else:
            steps.append(Step(*base, NOT_SUPPORTED, None, "The user is assigned to the app through a group."))
    return steps


def _holdings(
    session: Session, instance: AccessReviewInstance, ids: list[str]
) -> tuple[set[str], tuple[bool, str] | None]:
    """Who holds the resource directly; or why nothing can be removed from it (True: not supported, False: gone)."""
    holds: set[str] = set()
    if instance.resource_type == "Group":
        group = session.get(Group, instance.resource_id)
        if group is None or group.deleted_at is not None:
            return holds, (False, "The group no longer exists.")
        if group_rules.is_dynamic(group):
            return holds, (True, "Membership of a dynamic group follows its rule; change the rule or the user.")
        for chunk in _chunks(ids):
            holds |= set(
                session.scalars(
                    select(GroupMember.member_id).where(
                        GroupMember.group_id == group.id,
                        GroupMember.relation == "member",
                        GroupMember.member_id.in_(chunk),
                    )
                )
            )
        return holds, None
    for chunk in _chunks(ids):
        holds |= set(
            session.scalars(
                select(AppRoleAssignment.principal_id).where(
                    AppRoleAssignment.tenant_id == instance.tenant_id,
                    AppRoleAssignment.resource_id == instance.resource_id,
                    AppRoleAssignment.principal_id.in_(chunk),
                )
            )
        )
    return holds, None


def preview(steps: Sequence[Step], total: int, checked: Rules) -> dict[str, Any]:
    removals = [s for s in steps if s.outcome == REMOVE]
    allowed = denial_allowance(len(removals), total, checked.deny_cap)
    return {
        "reviewed": total,
        "denied": len(steps),
        "toRemove": len(removals),
        "removedByNextRun": allowed,
        "heldByDenialCap": len(removals) - allowed,
        "denialCapPercent": checked.deny_cap,
        "steps": [
            {
                "decisionId": s.item_id,
                "principalId": s.principal_id,
                "principalDisplayName": s.principal_name,
                "resourceId": s.resource_id,
                "resourceDisplayName": s.resource_name,
                "outcome": s.outcome,
                "action": s.action,
                "reason": s.reason,
                "inNextRun": s.outcome != REMOVE or index < allowed,
            }
            for index, s in enumerate(sorted(steps, key=lambda s: s.outcome != REMOVE))
        ],
    }


def run(
    svc: Services,
    op: Write,
    instance: AccessReviewInstance,
    checked: Rules,
    definition_id: str,
    due: list[tuple[str, str, datetime]],
) -> dict[str, Any]:
    """One apply run inside ``op``: the unsupported and vanished denials are recorded, and at most the cap's share of
    removals carried out. Returns the instance's apply state."""
    steps = plan(op.session, instance, checked)
    total = op.session.scalar(
        select(func.count(AccessReviewItem.id)).where(
            AccessReviewItem.instance_id == instance.id, AccessReviewItem.current.is_(True)
        )
    )
    removals = [s for s in steps if s.outcome == REMOVE]
    allowed = denial_allowance(len(removals), int(total or 0), checked.deny_cap)
    doing, held = removals[:allowed], removals[allowed:]
    applier = {
        "@odata.type": "#microsoft.graph.userIdentity",
        "id": svc.actor.id,
        "displayName": svc.actor.display_name,
    }
    for outcome in (NOT_SUPPORTED, NOT_FOUND):
        ids = [s.item_id for s in steps if s.outcome == outcome]
        _mark(op.session, ids, outcome, applier, op.now)
    if doing and checked.disable_and_delete:
        _disable(op, [s.principal_id for s in doing], definition_id, instance, checked, due)
    elif doing and instance.resource_type == "Group":
        group = GroupService(svc.sessions, svc.actor).find(op.session, instance.resource_id or "")
        GroupService(svc.sessions, svc.actor).apply_rule_members(
            op, group, [], [(s.principal_id, "user") for s in doing]
        )
    elif doing:
        for chunk in _chunks([s.principal_id for s in doing]):
            op.session.execute(
                delete(AppRoleAssignment).where(
                    AppRoleAssignment.tenant_id == instance.tenant_id,
                    AppRoleAssignment.resource_id == instance.resource_id,
                    AppRoleAssignment.principal_id.in_(chunk),
                )
            )
        for step in doing:
            op.change(ObjectType.USER, step.principal_id, ChangeType.UPDATED, ["appRoleAssignments"])
    _mark(op.session, [s.item_id for s in doing], "AppliedSuccessfully", applier, op.now)
    state = dict(instance.apply_state or {})
    state["runs"] = int(state.get("runs", 0)) + 1
    state["applied"] = int(state.get("applied", 0)) + len(doing)
    state["applyNotSupported"] = int(state.get("applyNotSupported", 0)) + sum(s.outcome == NOT_SUPPORTED for s in steps)
    state["objectNotFound"] = int(state.get("objectNotFound", 0)) + sum(s.outcome == NOT_FOUND for s in steps)
    state["heldByDenialCap"] = len(held)
    state["denialCapPercent"] = checked.deny_cap
    instance.apply_state = state
    instance.applied_at = op.now
    op.target("AccessReview", instance.id, instance.resource_name)
    op.details.update({"definitionId": definition_id, "removed": len(doing), "heldByDenialCap": len(held)})
    for step in doing:
        row = svc.audit_row(op, "AccessReviews", "Remove access denied in review", "success", None)
        row.target_type, row.target_id, row.target_name = "User", step.principal_id, step.principal_name
        row.details = {"instanceId": instance.id, "resourceId": step.resource_id, "action": step.action}
        op.session.add(row)
    return state


def _mark(session: Session, ids: list[str], result: str, applier: dict[str, Any], now: datetime) -> None:
    for chunk in _chunks(ids):
        session.execute(
            update(AccessReviewItem)
            .where(AccessReviewItem.id.in_(chunk))
            .values(apply_result=result, applied_by=applier, applied_at=now)
        )


def _disable(
    op: Write,
    user_ids: list[str],
    definition_id: str,
    instance: AccessReviewInstance,
    checked: Rules,
    due: list[tuple[str, str, datetime]],
) -> None:
    """Block the denied guests now and schedule their deletion, recording why on each (the governance row)."""
    deletion = op.now + checked.delete_after
    for chunk in _chunks(user_ids):
        op.session.execute(update(User).where(User.id.in_(chunk)).values(account_enabled=False))
        op.session.execute(delete(UserGovernance).where(UserGovernance.user_id.in_(chunk)))
    reason = f"Denied in the access review of {instance.resource_name or 'a resource'}"
    for user_id in user_ids:
        revoke_user_sessions(op.session, user_id, op.now)
        op.change(ObjectType.USER, user_id, ChangeType.UPDATED, ["accountEnabled"])
        op.session.add(
            UserGovernance(
                user_id=user_id,
                tenant_id=instance.tenant_id,
                origin="accessReview",
                origin_id=definition_id,
                reason=reason[:1024],
                blocked_at=op.now,
                scheduled_deletion_at=deletion,
            )
        )
        due.append(("governance.deleteGuest", user_id, deletion))
