"""Delta query (``/users/delta``, ``/groups/delta``) as a framework-free use case.

A round starts with a *full* phase: every live object of the tenant, by keyset over its id, with the
change-log watermark ``W`` (the largest sequence number visible when the round started) kept in the cursor.
Every later round is a *log* phase: the change log of the tenant and object type after the cursor, read
through the ``(tenant_id, object_type, seq)`` index with a LIMIT, and only the touched objects are loaded.
Cost therefore follows the number of changes, never the size of the directory.

Why nothing is ever skipped: within a tenant, change-log sequence order equals commit order (see
``Write._order_with_other_writers``), so the rows a reader sees always form a prefix of the final sequence.
Any write the full phase may have missed (it committed after ``W`` was read) has a sequence above ``W`` and is
returned by the next round; any row a log window saw is below the next cursor only if it was returned. Objects
are always emitted in their *current* state, which may already include a later change: that change is then
returned once more by the next round. Hence the documented page-boundary semantics: no change is skipped, a
change may appear twice at most.

Change rows are grouped in *windows* of at most ``page_size * WINDOW_FACTOR`` rows; within a window every
object appears once, in its latest state, however many times it changed. A round that has to catch up more
rows than one window holds continues through further windows (still ``nextLink`` pages), so an object changed
in two windows of one round appears twice. Pages within a window re-read the window (bounded), so they need no
state beyond the cursor."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.changes import MEMBER_CHANGES, ChangeRecord, ChangeType, ObjectType
from hospes.domain.errors import InvalidInputError, SyncStateNotFoundError
from hospes.domain.schema import GROUP, USER, Resource
from hospes.services.base import Services
from hospes.storage import changelog
from hospes.storage.tables import Group, GroupMember, User

# Change rows in one log window, per object of page size: bounds the work of one page while keeping repeated
# changes of one object together.
WINDOW_FACTOR = 50
# Member items (members@delta) in one page of the full phase, per object of page size; a bigger group is split
# across pages, the same group repeating with the next chunk, as Graph does.
MEMBER_FACTOR = 10
# A change row's ``at`` is the start time of its transaction, which may precede the commit of the previous
# sequence number by the duration of a transaction: the retention check keeps this margin.
HORIZON_SKEW = timedelta(hours=1)
MAX_IDS = 50

_TABLES: dict[str, tuple[Resource, Any]] = {ObjectType.USER: (USER, User), ObjectType.GROUP: (GROUP, Group)}
_ALWAYS = frozenset({ChangeType.CREATED, ChangeType.DELETED, ChangeType.RESTORED, ChangeType.HARD_DELETED})
_REAPPEARS = frozenset({ChangeType.CREATED, ChangeType.RESTORED, ChangeType.DELETED, ChangeType.HARD_DELETED})


@dataclass(frozen=True)
class DeltaQuery:
    """What the client asked for; it is sealed into every link of the round."""

    kind: str  # "user" | "group"
    select: tuple[str, ...] | None = None  # Graph names; "members" allowed for groups
    ids: tuple[str, ...] | None = None  # $filter=id eq '...' or ...
    page_size: int = 100

    def __post_init__(self) -> None:
        if self.kind not in _TABLES:
            raise ValueError(f"delta of {self.kind!r} is not supported")
        if self.ids is not None and not 1 <= len(self.ids) <= MAX_IDS:
            raise InvalidInputError(f"Delta query can filter on {MAX_IDS} ids at most.")

    @property
    def resource(self) -> Resource:
        return _TABLES[self.kind][0]

    @property
    def tracked(self) -> frozenset[str]:
        """Properties whose changes surface an object: the selected ones, else the default representation."""
        if self.select:
            return frozenset(self.select)
        names = {p.name for p in self.resource.default_props}
        if self.kind == "group":
            names.add("members")
        return frozenset(names)

    @property
    def members(self) -> bool:
        return self.kind == "group" and "members" in self.tracked


@dataclass(frozen=True)
class Cursor:
    """Where a round stands. ``horizon`` (epoch seconds) is a time such that every change row the cursor
    still has to read was written after ``horizon - HORIZON_SKEW``: once retention may have pruned such rows,
    the cursor is refused (410 syncStateNotFound) instead of silently skipping them."""

    phase: str  # "full" | "log"
    seq: int  # full: the watermark W; log: the window starts after this sequence number
    horizon: float
    after: str | None = None  # full: last object id emitted (or in progress, with member_after)
    member_after: str | None = None  # full: the group ``after`` is split; resume after this member id
    end: int | None = None  # log: last sequence number of the current window, once read
    end_horizon: float | None = None  # log: horizon of the rows after ``end``
    capped: bool = False  # log: the window was cut at its size limit, more rows follow it
    last: int = 0  # log: last-change sequence of the last object emitted from this window

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"p": self.phase, "s": self.seq, "h": self.horizon}
        for key, value in (
            ("a", self.after),
            ("ma", self.member_after),
            ("e", self.end),
            ("eh", self.end_horizon),
        ):
            if value is not None:
                out[key] = value
        if self.capped:
            out["x"] = True
        if self.last:
            out["l"] = self.last
        return out

    @classmethod
    def from_json(cls, data: Any) -> Cursor:
        """Raise ValueError on anything that is not a cursor this module wrote."""
        if not isinstance(data, dict) or data.get("p") not in ("full", "log"):
            raise ValueError("not a cursor")
        cursor = cls(
            phase=data["p"],
            seq=data.get("s"),  # type: ignore[arg-type]
            horizon=data.get("h"),  # type: ignore[arg-type]
            after=data.get("a"),
            member_after=data.get("ma"),
            end=data.get("e"),
            end_horizon=data.get("eh"),
            capped=data.get("x", False),
            last=data.get("l", 0),
        )
        checks = (
            isinstance(cursor.seq, int) and cursor.seq >= 0,
            isinstance(cursor.horizon, int | float),
            cursor.after is None or isinstance(cursor.after, str),
            cursor.member_after is None or isinstance(cursor.member_after, str),
            cursor.end is None or isinstance(cursor.end, int),
            cursor.end_horizon is None or isinstance(cursor.end_horizon, int | float),
            isinstance(cursor.capped, bool) and isinstance(cursor.last, int),
        )
        if not all(checks):
            raise ValueError("not a cursor")
        return cursor


@dataclass(frozen=True)
class MemberDelta:
    kind: str  # Graph type of the member: user | group | servicePrincipal
    id: str
    removed: bool = False


@dataclass
class Entry:
    """One item of a delta page: a present object (``row``) or a removal (``removed``: changed | deleted)."""

    id: str
    row: Any = None
    removed: str | None = None
    changed: frozenset[str] | None = None  # tracked properties that changed; None = full representation
    members: list[MemberDelta] = field(default_factory=list)


@dataclass
class DeltaPage:
    entries: list[Entry]
    next: Cursor | None = None  # more pages in this round (nextLink)
    delta: Cursor | None = None  # round complete (deltaLink)


@dataclass
class _Touched:
    """One object's changes within a log window, coalesced."""

    id: str
    last: int = 0
    relevant: bool = False
    kinds: set[str] = field(default_factory=set)
    props: set[str] = field(default_factory=set)
    members: dict[str, MemberDelta] = field(default_factory=dict)  # last action per member wins


class DeltaService(Services):
    def initial(self, query: DeltaQuery) -> Cursor:
        """A new round: full phase, with the watermark read before any object."""
        horizon = self.clock().timestamp()
        with self.read() as session:
            return Cursor("full", self._watermark(session, query.kind), horizon)

    def latest(self, query: DeltaQuery) -> Cursor:
        """``$deltatoken=latest``: changes from now on, no data."""
        return replace(self.initial(query), phase="log")

    def check_fresh(self, cursor: Cursor, retention_days: int) -> None:
        """Refuse a cursor whose next change rows may already have been pruned."""
        oldest_safe = self.clock() - timedelta(days=retention_days) + HORIZON_SKEW
        if cursor.horizon < oldest_safe.timestamp():
            raise SyncStateNotFoundError(
                "The delta token is expired (older than the change log's retention) and data must be "
                "synchronized again: restart with the URL in the Location header."
            )

    def check_known(self, query: DeltaQuery, cursor: Cursor) -> None:
        """Refuse a cursor past the last change this database holds: it was issued by a database that had more
        changes (a primary lost in a failover, whose last commits the promoted standby never received, or a
        restore from backup). Reading on would skip the changes that reuse those sequence numbers here, and the
        client would keep objects this database never had."""
        position = max(cursor.seq, cursor.end or 0)
        with self.read() as session:
            # Per tenant and type: only there is sequence order commit order, so a standby holding a later
            # number of another tenant may still miss this one.
            known = self._watermark(session, query.kind)
        if position > known:
            raise SyncStateNotFoundError(
                "The delta token names changes this directory does not have (it was restored or failed over) "
                "and data must be synchronized again: restart with the URL in the Location header."
            )

    def page(self, query: DeltaQuery, cursor: Cursor) -> DeltaPage:
        with self.read() as session:
            if cursor.phase == "full":
                return self._full_page(session, query, cursor)
            return self._log_page(session, query, cursor)

    # --- full phase ---------------------------------------------------------------------------------------

    def _watermark(self, session: Session, kind: str) -> int:
        return changelog.head(session, self.tenant_id, [ObjectType(kind)])

    def _full_page(self, session: Session, query: DeltaQuery, cursor: Cursor) -> DeltaPage:
        table = _TABLES[query.kind][1]
        stmt = select(table).where(table.tenant_id == self.tenant_id, table.deleted_at.is_(None))
        if query.ids:
            stmt = stmt.where(table.id.in_(query.ids))
        if cursor.after is not None:
            # A group split across pages is read again (>=) to emit its next member chunk.
            stmt = stmt.where(table.id >= cursor.after if cursor.member_after is not None else table.id > cursor.after)
        rows = list(session.scalars(stmt.order_by(table.id).limit(query.page_size + 1)))
        more = len(rows) > query.page_size
        rows = rows[: query.page_size]
        entries: list[Entry] = []
        budget = query.page_size * MEMBER_FACTOR
        for row in rows:
            entry = Entry(id=row.id, row=row)
            if query.members:
                resume = cursor.member_after if row.id == cursor.after else None
                links = self._member_links(session, row.id, resume, budget + 1)
                if len(links) > budget:
                    if budget == 0:  # the page is full of members: this group starts the next page
                        return DeltaPage(entries, next=replace(cursor, after=entries[-1].id, member_after=None))
                    entry.members = [MemberDelta(link.member_type, link.member_id) for link in links[:budget]]
                    entries.append(entry)
                    split = replace(cursor, after=row.id, member_after=links[budget - 1].member_id)
                    return DeltaPage(entries, next=split)
                entry.members = [MemberDelta(link.member_type, link.member_id) for link in links]
                budget -= len(links)
            entries.append(entry)
        if more:
            return DeltaPage(entries, next=replace(cursor, after=rows[-1].id, member_after=None))
        return DeltaPage(entries, delta=Cursor("log", cursor.seq, cursor.horizon))

    def _member_links(self, session: Session, group_id: str, after: str | None, limit: int) -> list[GroupMember]:
        stmt = select(GroupMember).where(
            GroupMember.group_id == group_id,
            GroupMember.relation == "member",
            GroupMember.tenant_id == self.tenant_id,
        )
        if after is not None:
            stmt = stmt.where(GroupMember.member_id > after)
        return list(session.scalars(stmt.order_by(GroupMember.member_id).limit(limit)))

    # --- log phase ----------------------------------------------------------------------------------------

    def _log_page(self, session: Session, query: DeltaQuery, cursor: Cursor) -> DeltaPage:
        window = query.page_size * WINDOW_FACTOR
        kinds = [ObjectType(query.kind)]
        if cursor.end is None:
            read_at = self.clock().timestamp()
            # One statement, so no cap: the window is whatever it saw, and ``end`` caps the pages after it.
            rows = changelog.after(session, self.tenant_id, kinds, cursor.seq, window + 1, upto=None, ids=query.ids)
            capped = len(rows) > window
            rows = rows[:window]
            end = rows[-1].seq if rows else cursor.seq
            # Rows after a cut window committed after its last row; rows after an uncut one, after this read.
            end_horizon = rows[-1].at.timestamp() if capped else read_at
            cursor = replace(cursor, end=end, end_horizon=end_horizon, capped=capped)
        else:
            # The window's rows, read again: it holds at most ``window`` of them.
            rows = changelog.after(session, self.tenant_id, kinds, cursor.seq, window, upto=cursor.end, ids=query.ids)
        pending = [t for t in _coalesce(rows, query) if t.relevant and t.last > cursor.last]
        batch = pending[: query.page_size]
        entries = self._materialize(session, query, batch)
        if len(pending) > query.page_size:
            return DeltaPage(entries, next=replace(cursor, last=batch[-1].last))
        if cursor.end is None or cursor.end_horizon is None:
            raise ValueError("a log round's cursor always carries its window end")
        following = Cursor("log", cursor.end, max(cursor.horizon, cursor.end_horizon))
        if cursor.capped:
            return DeltaPage(entries, next=following)  # more windows to catch up in this round
        return DeltaPage(entries, delta=following)

    def _materialize(self, session: Session, query: DeltaQuery, batch: list[_Touched]) -> list[Entry]:
        """Load only the touched objects, and turn each into its entry in its current state."""
        if not batch:
            return []
        table = _TABLES[query.kind][1]
        ids = [t.id for t in batch]
        current = {
            row.id: row
            for row in session.scalars(select(table).where(table.tenant_id == self.tenant_id, table.id.in_(ids)))
        }
        restored_members = self._current_members(
            session, [t.id for t in batch if query.members and t.kinds & _REAPPEARS]
        )
        entries: list[Entry] = []
        for touched in batch:
            row = current.get(touched.id)
            if row is None:
                entries.append(Entry(id=touched.id, removed="deleted"))
                continue
            if row.deleted_at is not None:
                entries.append(Entry(id=touched.id, removed="changed"))
                continue
            full = bool(touched.kinds & _REAPPEARS)
            entry = Entry(id=touched.id, row=row, changed=None if full else frozenset(touched.props))
            if query.members:
                entry.members = _member_items(touched, restored_members.get(touched.id) if full else None)
            entries.append(entry)
        return entries

    def _current_members(self, session: Session, group_ids: list[str]) -> dict[str, list[MemberDelta]]:
        """Whole member lists of groups that (re)appear in this window: a client that dropped the group on its
        removal needs them all back. Bounded by the size of those groups only."""
        out: dict[str, list[MemberDelta]] = {gid: [] for gid in group_ids}
        if not group_ids:
            return out
        links = session.scalars(
            select(GroupMember)
            .where(
                GroupMember.tenant_id == self.tenant_id,
                GroupMember.group_id.in_(group_ids),
                GroupMember.relation == "member",
            )
            .order_by(GroupMember.group_id, GroupMember.member_id)
        )
        for link in links:
            out[link.group_id].append(MemberDelta(link.member_type, link.member_id))
        return out


def _coalesce(rows: list[ChangeRecord], query: DeltaQuery) -> list[_Touched]:
    """Group a window's change rows by object, in the order of each object's last change."""
    tracked = query.tracked
    touched: dict[str, _Touched] = {}
    for row in rows:
        item = touched.get(row.object_id)
        if item is None:
            item = touched[row.object_id] = _Touched(row.object_id)
        item.last = row.seq
        kind = row.change_type
        if kind in _ALWAYS:
            item.relevant = True
            item.kinds.add(kind)
        elif kind in MEMBER_CHANGES:
            if query.members and row.related_id:
                item.relevant = True
                item.props.add("members")
                removed = kind == ChangeType.MEMBER_REMOVED
                item.members[row.related_id] = MemberDelta(row.related_type or "user", row.related_id, removed)
        else:
            hits = tracked.intersection(row.properties)
            if hits:
                item.relevant = True
                item.props.update(hits)
    return sorted(touched.values(), key=lambda t: t.last)


def _member_items(touched: _Touched, current: list[MemberDelta] | None) -> list[MemberDelta]:
    """Members@delta of one group: the net member changes of the window, or, for a group that (re)appears, its
    whole current member list plus the window's removals of members it no longer has."""
    if current is None:
        return sorted(touched.members.values(), key=lambda m: m.id)
    present = {m.id for m in current}
    gone = [m for m in touched.members.values() if m.removed and m.id not in present]
    return current + sorted(gone, key=lambda m: m.id)
