"""Dynamic groups' use cases beside the group write path: who a rule selects and why (validation, preview,
Graph's ``evaluateDynamicMembership``), "process now", the processing status; and the one reader of users as
rules see them, shared with the processor so that preview and processing read the same values."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.membership_rules import MEMBER_OF, Detail, Rule, RuleEvaluationError
from hospes.services import group_rules
from hospes.services.base import Services
from hospes.services.groups import GroupService
from hospes.storage.tables import GroupMember, User
from hospes.storage.tables_dynamic import DynamicGroupProcessing

PREVIEW_LIMIT = 20  # users one validation checks at once, as in the reference portal
SCAN_CHUNK = 5_000


@dataclass(frozen=True)
class Evaluation:
    """One user against one rule: member or not (``None``: the rule could not decide), and why."""

    user: User
    result: bool | None
    detail: Detail | None
    error: str | None = None


@dataclass(frozen=True)
class ProcessingStatus:
    status: str  # NotStarted | Running | Succeeded | Failed
    last_membership_updated: datetime | None
    error: str | None
    pending: bool  # a full pass is waiting (rule change, resume, process now)


def _columns(rule_columns: Collection[str]) -> list[Any]:
    names = sorted({"id", *rule_columns} - {MEMBER_OF})
    return [getattr(User, name).label(name) for name in names]


def user_views(
    session: Session, tenant_id: str, rules: Collection[Rule], ids: Collection[str]
) -> dict[str, Mapping[Any, Any]]:
    """The live users among ``ids`` as ``rules`` read them (a soft-deleted user is no one's member)."""
    columns = frozenset().union(*(r.columns for r in rules)) if rules else frozenset()
    stmt = select(*_columns(columns)).where(User.tenant_id == tenant_id, User.deleted_at.is_(None), User.id.in_(ids))
    rows: dict[str, Mapping[Any, Any]] = {row.id: row._mapping for row in session.connection().execute(stmt)}
    if MEMBER_OF in columns and rows:
        return _with_member_of(session, tenant_id, rows, rules)
    return rows


def scan_users(session: Session, tenant_id: str, rules: Collection[Rule]) -> Iterator[list[Mapping[Any, Any]]]:
    """Every live user of the tenant as ``rules`` read them, in chunks (keyset order, never OFFSET)."""
    columns = frozenset().union(*(r.columns for r in rules))
    after = ""
    while True:
        stmt = (
            select(*_columns(columns))
            .where(User.tenant_id == tenant_id, User.deleted_at.is_(None), User.id > after)
            .order_by(User.id)
            .limit(SCAN_CHUNK)
        )
        # Through the connection: plain rows, without the ORM's loading (a third of a full pass otherwise).
        chunk: list[Mapping[Any, Any]] = [row._mapping for row in session.connection().execute(stmt)]
        if not chunk:
            return
        after = chunk[-1]["id"]
        if MEMBER_OF in columns:
            chunk = list(_with_member_of(session, tenant_id, {r["id"]: r for r in chunk}, rules).values())
        yield chunk


def _with_member_of(
    session: Session, tenant_id: str, rows: dict[str, Mapping[Any, Any]], rules: Collection[Rule]
) -> dict[str, Mapping[Any, Any]]:
    """Adds ``member_of``: the groups among those the rules name that each user directly belongs to."""
    named = sorted(frozenset().union(*(r.member_of for r in rules)))
    groups: dict[str, set[str]] = {}
    if named:
        links = session.execute(
            select(GroupMember.member_id, GroupMember.group_id).where(
                GroupMember.tenant_id == tenant_id,
                GroupMember.relation == "member",
                GroupMember.group_id.in_(named),
                GroupMember.member_id.in_(list(rows)),
            )
        )
        for member_id, group_id in links:
            groups.setdefault(member_id, set()).add(group_id.casefold())
    return {uid: {**row, MEMBER_OF: frozenset(groups.get(uid, ()))} for uid, row in rows.items()}


def decide(rule: Rule, view: Mapping[Any, Any]) -> bool | None:
    """The one call that decides membership (validation, preview and processing); None when the rule cannot
    decide for this user (a regular expression ran out of time)."""
    try:
        return rule.matches(view)
    except RuleEvaluationError:
        return None


class DynamicGroupService(Services):
    def evaluate(
        self, rule_text: str | None, group_id: str | None, user_ids: list[str]
    ) -> tuple[Rule, list[Evaluation]]:
        """``rule_text`` (or the group's own rule) against up to 20 users of the tenant."""
        if len(user_ids) > PREVIEW_LIMIT:
            raise InvalidInputError(f"At most {PREVIEW_LIMIT} users can be checked at once.")
        with self.read() as session:
            if rule_text is None:
                if group_id is None:
                    raise InvalidInputError("Give a membershipRule or a group.")
                group = GroupService(self.sessions, self.actor).find(session, group_id)
                if not group_rules.is_dynamic(group) or not group.membership_rule:
                    raise InvalidInputError("The group has no membershipRule.", target="membershipRule")
                rule_text = group.membership_rule
            rule = group_rules.checked_rule(rule_text)
            users = {
                u.id: u
                for u in session.scalars(
                    select(User).where(
                        User.tenant_id == self.tenant_id, User.id.in_(user_ids), User.deleted_at.is_(None)
                    )
                )
            }
            views = user_views(session, self.tenant_id, [rule], list(users))
        results = []
        for user_id in user_ids:
            user = users.get(user_id)
            if user is None:
                raise NotFoundError(user_id)
            view = views[user_id]
            result = decide(rule, view)
            if result is None:
                results.append(Evaluation(user, None, None, "A regular expression took too long for this user."))
            else:
                results.append(Evaluation(user, result, rule.explain(view)))
        return rule, results

    def resolve_users(self, keys: list[str]) -> tuple[list[str], list[str]]:
        """Ids of the live users named by id or sign-in name (in order, once each), and the keys naming none."""
        found: list[str] = []
        missing: list[str] = []
        with self.read() as session:
            for key in keys:
                user_id = session.scalar(
                    select(User.id).where(
                        User.tenant_id == self.tenant_id,
                        User.deleted_at.is_(None),
                        (User.id == key.strip().lower()) | (User.upn_key == key.strip().lower()),
                    )
                )
                if user_id is None:
                    missing.append(key)
                elif user_id not in found:
                    found.append(user_id)
        return found, missing

    def process_now(self, group_id: str) -> None:
        """Ask for a full pass of a dynamic group now (any time, not only after a rule change)."""
        with self.write("GroupManagement", "Process dynamic group membership") as op:
            group = GroupService(self.sessions, self.actor).find(op.session, group_id)
            op.target("Group", group.id, group.display_name)
            if not group_rules.is_dynamic(group):
                raise InvalidInputError("Only a dynamic group's membership can be processed.")
            if group.membership_rule_processing_state != "On":
                raise InvalidInputError("The group's membership processing is paused; resume it first.")
            group_rules.request_pass(op.session, self.tenant_id, group.id)

    def statuses(self, group_ids: Collection[str]) -> dict[str, ProcessingStatus]:
        with self.read() as session:
            rows = session.scalars(
                select(DynamicGroupProcessing).where(
                    DynamicGroupProcessing.tenant_id == self.tenant_id, DynamicGroupProcessing.group_id.in_(group_ids)
                )
            )
            return {
                row.group_id: ProcessingStatus(
                    row.status, row.last_membership_updated, row.error, row.requested > row.processed
                )
                for row in rows
            }
