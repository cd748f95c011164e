"""The membership rule of a group as the group write path sees it: checking ``groupTypes``/``membershipRule``/
``membershipRuleProcessingState`` on create and update, refusing manual membership changes, and asking the
processor for a full pass (in the same transaction as the change that needs it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hospes.domain.errors import ForbiddenError, InvalidInputError
from hospes.membership_rules import Rule, RuleError, compile_rule
from hospes.storage import changelog
from hospes.storage.tables import Group
from hospes.storage.tables_dynamic import DynamicGroupProcessing, DynamicMembershipCursor

DYNAMIC = "DynamicMembership"
STATES = {"on": "On", "paused": "Paused"}
MAX_DYNAMIC_GROUPS = 15_000  # per tenant, as in the reference service
MANAGED_BY_RULE = (
    "Insufficient privileges to complete the operation. Membership of a dynamic group is managed by its membershipRule."
)


def is_dynamic(group: Group) -> bool:
    return DYNAMIC in (group.group_types or [])


def refuse_manual_members(group: Group) -> None:
    if is_dynamic(group):
        raise ForbiddenError(MANAGED_BY_RULE)


def checked_rule(text: str) -> Rule:
    """The compiled rule, or the reference's 400 with the position of the problem."""
    try:
        return compile_rule(text)
    except RuleError as exc:
        raise InvalidInputError(exc.message, target="membershipRule") from None


def prepare(session: Session, tenant_id: str, group: Group | None, values: dict[str, Any]) -> bool:
    """Check and normalize the dynamic-membership values of a create (``group`` None) or an update, in place.
    True when the group's membership must be worked out again from its rule (new rule, resumed, made dynamic)."""
    before_types = list(group.group_types or []) if group is not None else []
    if "group_types" in values:
        values["group_types"] = [DYNAMIC if t.casefold() == DYNAMIC.casefold() else t for t in values["group_types"]]
    types = values.get("group_types", before_types) or []
    dynamic = DYNAMIC in types
    rule_text = values.get("membership_rule", group.membership_rule if group is not None else None)
    state_given = values.get("membership_rule_processing_state")
    if state_given is not None:
        state = STATES.get(str(state_given).casefold())
        if state is None:
            raise InvalidInputError(
                "Invalid value specified for property 'membershipRuleProcessingState': expected On or Paused.",
                target="membershipRuleProcessingState",
            )
        values["membership_rule_processing_state"] = state
    if not dynamic:
        if values.get("membership_rule") or state_given is not None:
            raise InvalidInputError(
                f"membershipRule and membershipRuleProcessingState apply only to groups whose groupTypes "
                f"contain '{DYNAMIC}'.",
                target="membershipRule",
            )
        return False
    if not rule_text:
        raise InvalidInputError(
            f"A group whose groupTypes contain '{DYNAMIC}' needs a membershipRule.", target="membershipRule"
        )
    rule = checked_rule(rule_text)
    _check_member_of(session, tenant_id, group, rule)
    if group is None or group.membership_rule_processing_state is None:
        values.setdefault("membership_rule_processing_state", "On")
    was_dynamic = DYNAMIC in before_types
    if not was_dynamic:
        _check_quota(session, tenant_id)
    old_state = group.membership_rule_processing_state if group is not None else None
    new_state = values.get("membership_rule_processing_state", old_state)
    rule_changed = group is None or rule_text != group.membership_rule
    return new_state == "On" and (not was_dynamic or rule_changed or old_state != "On")


def _check_member_of(session: Session, tenant_id: str, group: Group | None, rule: Rule) -> None:
    """memberOf names existing groups of the tenant, never the group itself, and no group whose own rule uses
    memberOf (no chains)."""
    for group_id in sorted(rule.member_of):
        if group is not None and group_id == group.id.casefold():
            raise InvalidInputError("A membership rule cannot name its own group in memberOf.")
        found = session.scalar(
            select(Group).where(Group.tenant_id == tenant_id, Group.id == group_id, Group.deleted_at.is_(None))
        )
        if found is None:
            raise InvalidInputError(f"memberOf names group '{group_id}', which does not exist.")
        if is_dynamic(found) and found.membership_rule and _uses_member_of(found.membership_rule):
            raise InvalidInputError(f"memberOf names group '{group_id}', whose own rule uses memberOf.")


def _uses_member_of(text: str) -> bool:
    try:
        return bool(compile_rule(text).member_of)
    except RuleError:
        return False


def _check_quota(session: Session, tenant_id: str) -> None:
    count = session.scalar(
        select(func.count())
        .select_from(Group)
        .where(Group.tenant_id == tenant_id, Group.deleted_at.is_(None), Group.membership_rule.is_not(None))
    )
    if (count or 0) >= MAX_DYNAMIC_GROUPS:
        raise InvalidInputError("Dynamic group policies max allowed groups count reached")


def request_pass(session: Session, tenant_id: str, group_id: str) -> None:
    """Ask for a full pass of the group, in the caller's transaction: the processor sees it once this commits.
    The tenant's cursor starts at the log's head when its first dynamic group appears: the pass covers what came
    before."""
    row = session.get(DynamicGroupProcessing, group_id, with_for_update=True)
    if row is None:
        session.add(DynamicGroupProcessing(group_id=group_id, tenant_id=tenant_id, requested=1, processed=0))
    else:
        row.requested += 1
    if session.get(DynamicMembershipCursor, tenant_id) is None:
        session.add(DynamicMembershipCursor(tenant_id=tenant_id, seq=changelog.head(session, tenant_id)))
    session.flush()
