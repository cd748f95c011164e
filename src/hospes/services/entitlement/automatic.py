"""Automatic assignment policies (``automaticRequestSettings.requestAccessForAllowedTargets``): every directory user
the policy's targets name (a membership rule, groups, single users) holds the package, through ``systemAdd``
requests delivered at once; with ``removeAccessWhenTargetLeavesAllowedTargets`` a holder who no longer matches
loses it through a ``systemRemove``. Reconciled in the write that creates or replaces the policy, and for every
automatic policy by the fleet's periodic task, so attribute and membership changes are followed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.changes import ChangeType
from hospes.domain.entitlements import LIVE_ASSIGNMENT_STATES
from hospes.domain.ids import new_id
from hospes.domain.principals import system_principal
from hospes.services.base import Services, Write
from hospes.services.dynamic_groups import decide, scan_users
from hospes.services.entitlement import lifecycle
from hospes.services.entitlement.common import CATEGORY, log_request, subject_for_user
from hospes.services.entitlement.notify import EmConfig
from hospes.services.group_rules import checked_rule
from hospes.services.memberships import member_users
from hospes.storage.tables import User
from hospes.storage.tables_entitlement import EmAssignment, EmPolicy, EmRequest


def is_automatic(policy: EmPolicy) -> bool:
    settings = policy.settings.get("automaticRequestSettings") or {}
    return bool(settings.get("requestAccessForAllowedTargets"))


def _wanted(session: Session, tenant_id: str, targets: list[dict[str, Any]]) -> set[str]:
    """The live, enabled members of the tenant the targets name."""
    found: set[str] = set()
    rules = [checked_rule(t["membershipRule"]) for t in targets if "membershipRule" in t]
    for chunk in scan_users(session, tenant_id, rules) if rules else ():
        for view in chunk:
            if any(decide(rule, view) is True for rule in rules):
                found.add(str(view["id"]))
    for target in targets:
        if "userId" in target:
            found.add(target["userId"])
        elif "groupId" in target:
            found |= member_users(session, tenant_id, target["groupId"])
    live = session.scalars(
        select(User.id).where(
            User.tenant_id == tenant_id, User.id.in_(found), User.deleted_at.is_(None), User.account_enabled.is_(True)
        )
    )
    return set(live)


def reconcile(op: Write, policy: EmPolicy, config: EmConfig | None) -> tuple[int, int]:
    """Assign whoever the policy names and lacks it; remove (when the policy says so) whoever no longer matches.
    The numbers added and removed."""
    if not is_automatic(policy):
        return 0, 0
    from hospes.services.entitlement.requests import approved

    tenant = op.actor.tenant_id
    wanted = _wanted(op.session, tenant, list(policy.settings["specificAllowedTargets"]))
    holding = {
        a.target_user_id: a
        for a in op.session.scalars(
            select(EmAssignment).where(
                EmAssignment.policy_id == policy.id, EmAssignment.state.in_(LIVE_ASSIGNMENT_STATES)
            )
        )
        if a.target_user_id
    }
    added = removed = 0
    for user_id in sorted(wanted - holding.keys()):
        user = op.session.get(User, user_id)
        assert user is not None  # read live just above
        subject = subject_for_user(
            op, user.id, display_name=user.display_name, upn=user.user_principal_name, mail=user.mail
        )
        request = _system_request(op, policy, subject.id, "systemAdd", None)
        approved(op, request, config)
        added += 1
    settings = policy.settings.get("automaticRequestSettings") or {}
    if settings.get("removeAccessWhenTargetLeavesAllowedTargets"):
        for user_id in sorted(holding.keys() - wanted):
            assignment = holding[user_id]
            request = _system_request(op, policy, assignment.subject_id, "systemRemove", assignment.id)
            lifecycle.end(op, assignment, request, config)
            removed += 1
    op.details.update(automaticallyAdded=added, automaticallyRemoved=removed)
    return added, removed


def _system_request(op: Write, policy: EmPolicy, subject_id: str, kind: str, assignment_id: str | None) -> EmRequest:
    request = EmRequest(
        id=new_id(),
        tenant_id=op.actor.tenant_id,
        package_id=policy.package_id,
        policy_id=policy.id,
        assignment_id=assignment_id,
        subject_id=subject_id,
        request_type=kind,
        state="submitted",
        status="Accepted",
        answers=[],
        created_by_name="Hospes",
        created_at=op.now,
    )
    op.session.add(request)
    op.session.flush()
    log_request(op, request, ChangeType.CREATED)
    return request


def reconcile_all(sessions: sessionmaker[Session], config: EmConfig | None) -> int:
    """Every automatic policy of every tenant, each in its own write (the fleet's periodic task)."""
    with sessions() as session:
        policies = [(p.id, p.tenant_id) for p in session.scalars(select(EmPolicy)) if is_automatic(p)]
    changed = 0
    for policy_id, tenant_id in policies:
        services = Services(sessions, system_principal(tenant_id))
        with services.write(CATEGORY, "Reconcile automatic assignment policy") as op:
            policy = op.session.get(EmPolicy, policy_id)
            if policy is None:
                continue
            op.target("AccessPackageAssignmentPolicy", policy.id, policy.display_name)
            added, removed = reconcile(op, policy, config)
            changed += added + removed
    return changed
