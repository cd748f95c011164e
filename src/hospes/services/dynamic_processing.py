"""Dynamic-group processing, driven by the change log (run by ``workers.DynamicGroupsWorker``).

Per tenant with dynamic groups, one process at a time (a lease on the tenant's cursor row):
1. Full passes: every group whose rule changed, that was resumed or made dynamic, or whose "process now" was
   asked, evaluates every live user of the tenant once and applies the difference with its current members:
   adds first, then removes, in batches through the group write path. The group is never emptied and refilled,
   so a reader never sees it empty (unless the new rule selects no one).
2. Incremental: the change-log window after the tenant's cursor. A user's change re-evaluates that user against
   the rules that read a changed property (``Rule.reads``): unrelated changes cost a set intersection. A new,
   restored or deleted user goes through every rule; a membership change of a group that a ``memberOf`` rule names
   re-evaluates that member for that rule. The cursor moves in the transaction that applies the window's
   memberships, so a restart resumes exactly there and nothing is applied twice.
Paused groups are skipped by both; resuming asks for a full pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.changes import ChangeRecord, ChangeType, ObjectType
from hospes.domain.clock import utcnow
from hospes.domain.principals import system_principal
from hospes.membership_rules import Rule, RuleError, RuleEvaluationError, compile_rule
from hospes.services.base import Write
from hospes.services.dynamic_groups import decide, scan_users, user_views
from hospes.services.group_rules import DYNAMIC
from hospes.services.groups import GroupService
from hospes.storage import changelog
from hospes.storage.dbtime import db_now
from hospes.storage.tables import Group, GroupMember
from hospes.storage.tables_dynamic import DynamicGroupProcessing, DynamicMembershipCursor

log = logging.getLogger("hospes.dynamic_groups")
LEASE = timedelta(seconds=60)
BATCH = 500  # membership changes per transaction
WINDOW = 2_000  # change-log rows read at once
_KINDS = (ObjectType.USER, ObjectType.GROUP)
_EVERY_RULE = frozenset({ChangeType.CREATED, ChangeType.RESTORED, ChangeType.DELETED})


@lru_cache(maxsize=4096)
def _compiled(text: str) -> Rule | None:
    try:
        return compile_rule(text)
    except RuleError:
        return None  # saved rules were valid when saved; a later language change must not stop the tenant


@dataclass
class _Dynamic:
    group_id: str
    rule: Rule
    text: str
    requested: int
    processed: int


@dataclass
class _Plan:
    """Membership differences to apply: per group, users to add and members (id, type) to remove."""

    adds: dict[str, list[str]] = field(default_factory=dict)
    removes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class MembershipProcessor:
    """The processing of every tenant's dynamic groups; ``pass_once`` does what is due now."""

    def __init__(self, sessions: sessionmaker[Session], owner: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions, self.owner, self.clock = sessions, owner, clock
        self._held: dict[str, datetime] = {}  # tenant → the end of the lease this processor last wrote

    def pass_once(self, stop: threading.Event | None = None) -> bool:
        """Work on every tenant this process can lease; True when more may be waiting."""
        with self.sessions() as session:
            tenants = list(session.scalars(select(DynamicMembershipCursor.tenant_id)))
        more = False
        for tenant_id in tenants:
            if stop is not None and stop.is_set():
                return False
            if self.claim(tenant_id):
                more |= self.run_tenant(tenant_id)
        return more

    def release(self) -> None:
        self._held.clear()
        with self.sessions.begin() as session:
            session.execute(
                update(DynamicMembershipCursor)
                .where(DynamicMembershipCursor.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    def claim(self, tenant_id: str) -> bool:
        """Take or renew the tenant's lease; a lease with more than half its time left is kept without a write
        (a pass runs after every commit of the process: renewing each time would compete with the writers)."""
        now = self.clock()
        held = self._held.get(tenant_id)
        if held is not None and held - now > LEASE / 2:
            return True
        self._held.pop(tenant_id, None)
        with self.sessions.begin() as session:
            # Leases are compared in the database's time (hosts' clocks differ); a test's own clock stands for it.
            at = db_now(session) if self.clock is utcnow else now
            result = session.execute(
                update(DynamicMembershipCursor)
                .where(
                    DynamicMembershipCursor.tenant_id == tenant_id,
                    or_(
                        DynamicMembershipCursor.lease_owner.is_(None),
                        DynamicMembershipCursor.lease_owner == self.owner,
                        DynamicMembershipCursor.lease_until < at,
                    ),
                )
                .values(lease_owner=self.owner, lease_until=at + LEASE)
            )
            if not getattr(result, "rowcount", 0):
                return False
        self._held[tenant_id] = now + LEASE
        return True

    def run_tenant(self, tenant_id: str) -> bool:
        """Full passes that are due, then one window of the change log; True when the window was full."""
        groups = self._groups(tenant_id)
        due = [group for group in groups.values() if group.requested > group.processed]
        if due:
            self.full_pass(tenant_id, due)
        return self._incremental(tenant_id, groups)

    def _groups(self, tenant_id: str) -> dict[str, _Dynamic]:
        """The tenant's live dynamic groups whose processing is On."""
        with self.sessions() as session:
            rows = session.execute(
                select(Group.id, Group.group_types, Group.membership_rule, DynamicGroupProcessing)
                .join(DynamicGroupProcessing, DynamicGroupProcessing.group_id == Group.id)
                .where(
                    Group.tenant_id == tenant_id,
                    Group.deleted_at.is_(None),
                    Group.membership_rule_processing_state == "On",
                )
            )
            out: dict[str, _Dynamic] = {}
            for group_id, types, text, processing in rows:
                rule = _compiled(text) if text and DYNAMIC in (types or []) else None
                if rule is not None:
                    out[group_id] = _Dynamic(group_id, rule, str(text), processing.requested, processing.processed)
            return out

    def full_pass(self, tenant_id: str, groups: list[_Dynamic]) -> None:
        """Evaluate every live user once for all of ``groups`` (one read of the tenant's users, whatever the number
        of rules that changed together) and apply each group's difference with its members."""
        for group in groups:
            self._status(group.group_id, status="Running")
        matched: dict[str, set[str]] = {group.group_id: set() for group in groups}
        undecided: dict[str, set[str]] = {group.group_id: set() for group in groups}
        current: dict[str, dict[str, str]] = {}
        with self.sessions() as session:
            for chunk in scan_users(session, tenant_id, [group.rule for group in groups]):
                for group in groups:
                    matches, found = group.rule.matches, matched[group.group_id]
                    try:
                        found.update(row["id"] for row in chunk if matches(row))
                    except RuleEvaluationError:  # a regex out of time: decide this chunk's users one by one
                        for row in chunk:
                            result = decide(group.rule, row)
                            if result is None:
                                undecided[group.group_id].add(row["id"])
                            elif result:
                                found.add(row["id"])
            for group in groups:
                current[group.group_id] = dict(
                    session.execute(
                        select(GroupMember.member_id, GroupMember.member_type).where(
                            GroupMember.group_id == group.group_id, GroupMember.relation == "member"
                        )
                    ).all()
                )
        plan = _Plan()
        for group in groups:
            gid, chosen, members = group.group_id, matched[group.group_id], current[group.group_id]
            plan.adds[gid] = sorted(chosen - members.keys())
            plan.removes[gid] = sorted(
                (m, t) for m, t in members.items() if m not in chosen and m not in undecided[gid]
            )
            if undecided[gid]:
                plan.errors[gid] = f"{len(undecided[gid])} users could not be evaluated (regular expression timeout)"
        self._apply(tenant_id, plan, rules={group.group_id: group.text for group in groups})
        for group in groups:
            failed = group.group_id in plan.errors
            self._status(
                group.group_id,
                status="Failed" if failed else "Succeeded",
                processed=group.requested,
                error=plan.errors.get(group.group_id),
            )
            group.processed = group.requested

    def _incremental(self, tenant_id: str, groups: dict[str, _Dynamic]) -> bool:
        with self.sessions() as session:
            cursor = session.get(DynamicMembershipCursor, tenant_id)
            if cursor is None:
                return False
            start = cursor.seq
            head = changelog.head(session, tenant_id, _KINDS)
            if head <= start:
                return False
            records = changelog.after(session, tenant_id, _KINDS, start, WINDOW, upto=head)
            if not records:
                return False
            wanted = self._affected(records, groups)
            plan = self._plan(session, tenant_id, wanted, groups)
        self._apply(tenant_id, plan, rules={g: groups[g].text for g in wanted_groups(wanted)}, cursor=records[-1].seq)
        for group_id, message in plan.errors.items():
            self._status(group_id, error=message)
        return len(records) >= WINDOW

    def _affected(self, records: list[ChangeRecord], groups: dict[str, _Dynamic]) -> dict[str, set[str]]:
        """user id → the dynamic groups whose rule must look at that user again."""
        by_property: dict[str, set[str]] = {}
        by_named_group: dict[str, set[str]] = {}
        for group in groups.values():
            for prop in group.rule.reads:
                by_property.setdefault(prop, set()).add(group.group_id)
            for named in group.rule.member_of:
                by_named_group.setdefault(named, set()).add(group.group_id)
        everything = set(groups)
        wanted: dict[str, set[str]] = {}
        for record in records:
            if record.object_type == ObjectType.USER:
                if record.change_type in _EVERY_RULE:
                    hit = everything
                elif record.change_type == ChangeType.UPDATED:
                    hit = set().union(*(by_property.get(p, ()) for p in record.properties))
                else:
                    continue
                if hit:
                    wanted.setdefault(record.object_id, set()).update(hit)
            elif record.related_type == "user" and record.related_id and record.object_id.casefold() in by_named_group:
                wanted.setdefault(record.related_id, set()).update(by_named_group[record.object_id.casefold()])
        return wanted

    def _plan(
        self, session: Session, tenant_id: str, wanted: dict[str, set[str]], groups: dict[str, _Dynamic]
    ) -> _Plan:
        plan = _Plan()
        if not wanted:
            return plan
        group_ids = sorted(wanted_groups(wanted))
        views = user_views(session, tenant_id, [groups[g].rule for g in group_ids], list(wanted))
        members: dict[str, set[str]] = {}
        for group_id, member_id in session.execute(
            select(GroupMember.group_id, GroupMember.member_id).where(
                GroupMember.tenant_id == tenant_id,
                GroupMember.relation == "member",
                GroupMember.member_id.in_(list(wanted)),
                GroupMember.group_id.in_(group_ids),
            )
        ):
            members.setdefault(member_id, set()).add(group_id)
        for user_id, targets in sorted(wanted.items()):
            view = views.get(user_id)  # None: deleted or gone, a member of no dynamic group
            for group_id in sorted(targets):
                should = False if view is None else decide(groups[group_id].rule, view)
                if should is None:
                    plan.errors[group_id] = f"user {user_id} could not be evaluated (regular expression timeout)"
                    continue
                present = group_id in members.get(user_id, ())
                if should and not present:
                    plan.adds.setdefault(group_id, []).append(user_id)
                elif present and not should:
                    plan.removes.setdefault(group_id, []).append((user_id, "user"))
        return plan

    def _apply(self, tenant_id: str, plan: _Plan, rules: dict[str, str], cursor: int | None = None) -> bool:
        """Apply ``plan`` in transactions of at most ``BATCH`` changes, adds before removes; the last one also
        moves the cursor. A group whose rule changed meanwhile is left to its next full pass."""
        steps: list[tuple[str, list[str], list[tuple[str, str]]]] = []
        for group_id, adds in plan.adds.items():
            steps.extend((group_id, adds[i : i + BATCH], []) for i in range(0, len(adds), BATCH))
        for group_id, removes in plan.removes.items():
            steps.extend((group_id, [], removes[i : i + BATCH]) for i in range(0, len(removes), BATCH))
        if not steps:
            if cursor is not None:
                self._move_cursor(tenant_id, cursor)
            return False
        groups = GroupService(self.sessions, system_principal(tenant_id), self.clock)
        batches: list[list[tuple[str, list[str], list[tuple[str, str]]]]] = [[]]
        for step in steps:
            if sum(len(a) + len(r) for _, a, r in batches[-1]) + len(step[1]) + len(step[2]) > BATCH:
                batches.append([])
            batches[-1].append(step)
        changed = False
        for index, batch in enumerate(batches):
            last = index == len(batches) - 1
            self.claim(tenant_id)  # a long apply keeps its lease (a write only when half of it has run out)
            with groups.write("GroupManagement", "Update dynamic group membership") as op:
                for group_id, adds, removes in batch:
                    changed |= self._apply_step(op, groups, group_id, rules.get(group_id), adds, removes)
                if last and cursor is not None:
                    self._move_cursor(tenant_id, cursor, op.session)
        return changed

    def _move_cursor(self, tenant_id: str, seq: int, session: Session | None = None) -> None:
        if session is None:
            with self.sessions.begin() as own:
                self._move_cursor(tenant_id, seq, own)
            return
        session.execute(
            update(DynamicMembershipCursor)
            .where(DynamicMembershipCursor.tenant_id == tenant_id, DynamicMembershipCursor.seq < seq)
            .values(seq=seq)
        )

    def _apply_step(
        self,
        op: Write,
        groups: GroupService,
        group_id: str,
        rule_text: str | None,
        adds: list[str],
        removes: list[tuple[str, str]],
    ) -> bool:
        group = op.session.get(Group, group_id)
        if (
            group is None
            or group.deleted_at is not None
            or group.membership_rule != rule_text
            or group.membership_rule_processing_state != "On"
        ):
            return False
        present = set(
            op.session.scalars(
                select(GroupMember.member_id).where(
                    GroupMember.group_id == group_id,
                    GroupMember.relation == "member",
                    GroupMember.member_id.in_([*adds, *(m for m, _ in removes)]),
                )
            )
        )
        adds = [u for u in adds if u not in present]
        removes = [(m, t) for m, t in removes if m in present]
        if not adds and not removes:
            return False
        op.target("Group", group.id, group.display_name)
        op.details.setdefault("groups", []).append({"id": group.id, "added": len(adds), "removed": len(removes)})
        groups.apply_rule_members(op, group, adds, removes)
        row = op.session.get(DynamicGroupProcessing, group_id)
        if row is not None:
            row.last_membership_updated = op.now
        return True

    def _status(
        self,
        group_id: str,
        *,
        status: str | None = None,
        processed: int | None = None,
        error: str | None = None,
    ) -> None:
        with self.sessions.begin() as session:
            row = session.get(DynamicGroupProcessing, group_id)
            if row is None:
                return
            if status is not None:
                row.status = status
                row.error = error
            elif error is not None:
                row.error = error
            if processed is not None:
                row.processed = max(row.processed, processed)


def wanted_groups(wanted: dict[str, set[str]]) -> set[str]:
    return set().union(*wanted.values()) if wanted else set()
