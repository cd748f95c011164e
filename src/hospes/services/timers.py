"""Durable timers: actions due at a time (an assignment's expiry, a scheduled deletion, a review's end), kept in the
``due_actions`` table so they survive restarts and run exactly once however many workers poll.

* ``schedule(session, tenant_id, kind, subject, due_at)`` / ``cancel(...)`` in the caller's transaction: a timer
  exists exactly when the write that needs it commits. One timer per (tenant, kind, subject); scheduling again moves
  it (and takes it from a worker that holds it).
* ``@handler(kind, category, activity)`` registers what a kind does: ``fn(op, due)`` runs inside a ``Write`` whose
  transaction also marks the timer done, so the action's effects and its "done" commit together or not at all.
  Handlers re-read the state they act on and do nothing when it no longer applies (the subject was extended,
  removed), which makes a late or repeated timer harmless.
* ``TimerProcessor.pass_once()`` is one unit of work: claim a batch of due timers (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL; SQLite's writers are serialized by ``BEGIN IMMEDIATE``) under a lease taken in database time, then run
  them in one transaction, each in a savepoint fenced on the lease: a worker whose lease ended (it was paused, or
  killed and replaced) cannot mark done what another worker now holds, so its work rolls back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from threading import Event
from typing import cast

from sqlalchemy import Table, delete, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.ids import new_id
from hospes.domain.principals import system_principal
from hospes.services.base import Services, Write
from hospes.storage.tables_timers import DueAction

log = logging.getLogger("hospes.timers")
LEASE = timedelta(seconds=60)
BATCH = 100
MAX_ATTEMPTS = 5
RETRY_AFTER = timedelta(seconds=30)  # doubled per failed attempt


@dataclass(frozen=True)
class Due:
    """A timer handed to its handler."""

    id: str
    tenant_id: str
    kind: str
    subject: str
    due_at: datetime
    attempts: int


Handler = Callable[[Write, Due], None]


Prepare = Callable[[Session, list[Due]], None]


@dataclass(frozen=True)
class Registered:
    """``prepare``: optionally called once per batch with the kind's timers before any runs, to read in a few
    statements what each run would otherwise read on its own (the batch runs in one transaction and session)."""

    run: Handler
    category: str
    activity: str
    prepare: Prepare | None = None


HANDLERS: dict[str, Registered] = {}
_TABLE = cast(Table, DueAction.__table__)


def handler(kind: str, category: str, activity: str) -> Callable[[Handler], Handler]:
    """Register ``fn(op, due)`` as what timers of ``kind`` do; ``category``/``activity`` name the audit row of each
    run (the handler may rename it with ``op.name``)."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = Registered(fn, category, activity)
        return fn

    return register


def schedule(session: Session, tenant_id: str, kind: str, subject: str, due_at: datetime) -> None:
    """Make ``kind`` run for ``subject`` at ``due_at``, in the caller's transaction; moves an existing timer of the
    same kind and subject (done or not) to the new time."""
    values = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "kind": kind,
        "subject": subject,
        "due_at": due_at,
        "attempts": 0,
        "created_at": datetime.now(UTC),
    }
    reset = {
        "due_at": due_at,
        "done_at": None,
        "outcome": None,
        "attempts": 0,
        "lease_owner": None,
        "lease_until": None,
        "last_error": None,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(_TABLE).values(**values)
    # On the session's connection: a table statement, without the ORM's flush and synchronization.
    session.connection().execute(
        stmt.on_conflict_do_update(index_elements=["tenant_id", "kind", "subject"], set_=reset)
    )


def cancel(session: Session, tenant_id: str, kind: str, subject: str) -> bool:
    """Drop a pending timer in the caller's transaction; True if there was one."""
    result = session.connection().execute(
        delete(_TABLE).where(
            _TABLE.c.tenant_id == tenant_id,
            _TABLE.c.kind == kind,
            _TABLE.c.subject == subject,
            _TABLE.c.done_at.is_(None),
        )
    )
    return bool(result.rowcount)


def pending(session: Session, tenant_id: str, kind: str, subject: str) -> datetime | None:
    """When a pending timer is due, or None."""
    return session.scalar(
        select(DueAction.due_at).where(
            DueAction.tenant_id == tenant_id,
            DueAction.kind == kind,
            DueAction.subject == subject,
            DueAction.done_at.is_(None),
        )
    )


def database_now(session: Session) -> datetime:
    """The database server's clock: leases compare against it, so hosts whose clocks disagree agree on leases."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.scalar(text("SELECT statement_timestamp()"))
        assert isinstance(value, datetime)
        return value.astimezone(UTC)
    raw = session.scalar(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
    return datetime.fromisoformat(str(raw)).replace(tzinfo=UTC)


class TimerProcessor:
    """Runs due timers: ``pass_once`` claims and runs one batch; ``run_due`` until none is due. ``clock`` decides
    what is due (default: the database's clock; tests pass one they move); leases always use the database's."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        owner: str,
        *,
        handlers: dict[str, Registered] | None = None,
        clock: Callable[[], datetime] | None = None,
        lease: timedelta = LEASE,
        batch: int = BATCH,
        max_attempts: int = MAX_ATTEMPTS,
        tenant_id: str | None = None,
    ) -> None:
        """``tenant_id``: run only that tenant's timers (a tenant's own processing, and tests)."""
        self.sessions, self.owner, self.clock, self.tenant_id = sessions, owner[:100], clock, tenant_id
        self.handlers = HANDLERS if handlers is None else handlers
        self.lease, self.batch, self.max_attempts = lease, batch, max_attempts

    def run_due(self, stop: Event | None = None) -> int:
        """Run every timer due now; the number run (failures included)."""
        total = 0
        while stop is None or not stop.is_set():
            ran = self.pass_once()
            total += ran
            if ran < self.batch:
                return total
        return total

    def pass_once(self) -> int:
        """Claim up to ``batch`` due timers and run them; how many were claimed."""
        claimed = self.claim()
        if claimed:
            self.execute(claimed)
        return len(claimed)

    def claim(self) -> list[Due]:
        with self.sessions.begin() as session:
            db_now = database_now(session)
            now = self.clock() if self.clock is not None else db_now
            rows = list(
                session.scalars(
                    select(DueAction)
                    .where(
                        DueAction.done_at.is_(None),
                        DueAction.due_at <= now,
                        or_(DueAction.lease_until.is_(None), DueAction.lease_until < db_now),
                        *([DueAction.tenant_id == self.tenant_id] if self.tenant_id else []),
                    )
                    .order_by(DueAction.due_at, DueAction.id)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                row.lease_owner, row.lease_until, row.attempts = self.owner, db_now + self.lease, row.attempts + 1
            # One tenant after another: each takes that tenant's change-log ordering lock once, in the same order
            # in every worker, so two workers' batches cannot wait on each other's tenants.
            rows.sort(key=lambda r: (r.tenant_id, r.due_at, r.id))
            return [Due(r.id, r.tenant_id, r.kind, r.subject, r.due_at, r.attempts) for r in rows]

    def execute(self, batch: list[Due]) -> None:
        """Run the claimed timers in one transaction. First all together (one flush per write of the batch); if any
        fails, that transaction rolls back and they run again each in a savepoint, so one that fails rolls back
        alone and is retried later (given up after ``max_attempts``)."""
        try:
            with self.sessions.begin() as session:
                now = self.clock() if self.clock is not None else database_now(session)
                ordered: set[str] = set()
                self._prepare(session, batch)
                for due in batch:
                    if not self._run_one(session, due, now, ordered):
                        log.info("timer %s (%s) was taken over by another worker", due.id, due.kind)
            return
        except Exception:  # one of them failed: find which, alone
            log.info("a timer batch failed; running its timers one by one")
        failures: list[tuple[Due, str]] = []
        with self.sessions.begin() as session:
            now = self.clock() if self.clock is not None else database_now(session)
            ordered = set()
            self._prepare(session, batch)
            for due in batch:
                try:
                    with session.begin_nested():
                        if not self._run_one(session, due, now, ordered):
                            log.info("timer %s (%s) was taken over by another worker", due.id, due.kind)
                except Exception as exc:  # a handler's failure must not stop the batch
                    log.exception("timer %s (%s %s) failed", due.id, due.kind, due.subject)
                    failures.append((due, f"{type(exc).__name__}: {exc}"[:1024]))
                    ordered.discard(due.tenant_id)  # the savepoint's rollback may have taken the lock's statement
            for due, error in failures:
                self._failed(session, due, error, now)

    def _prepare(self, session: Session, batch: list[Due]) -> None:
        kinds: dict[str, list[Due]] = {}
        for due in batch:
            kinds.setdefault(due.kind, []).append(due)
        for kind, dues in kinds.items():
            registered = self.handlers.get(kind)
            if registered is not None and registered.prepare is not None:
                registered.prepare(session, dues)

    def _run_one(self, session: Session, due: Due, now: datetime, ordered: set[str]) -> bool:
        """The timer's action, fenced on this worker's lease; False when the lease was lost (nothing done)."""
        fenced = session.connection().execute(
            update(_TABLE)
            .where(_TABLE.c.id == due.id, _TABLE.c.lease_owner == self.owner, _TABLE.c.done_at.is_(None))
            .values(done_at=now, outcome="done", lease_owner=None, lease_until=None)
        )
        if not fenced.rowcount:
            return False
        registered = self.handlers.get(due.kind)
        if registered is None:
            raise LookupError(f"no handler for timers of kind {due.kind!r}")
        services = Services(self.sessions, system_principal(due.tenant_id))
        # The tenant's change-log ordering lock, once taken in this transaction, holds for its other timers.
        op = Write(session=session, actor=services.actor, now=now, ordered=due.tenant_id in ordered)
        registered.run(op, due)
        if op.ordered:
            ordered.add(due.tenant_id)
        session.add(
            services.audit_row(
                op, op.category or registered.category, op.activity or registered.activity, "success", None
            )
        )
        return True

    def _failed(self, session: Session, due: Due, error: str, now: datetime) -> None:
        give_up = due.attempts >= self.max_attempts
        values: dict[str, object] = {"lease_owner": None, "last_error": error}
        if give_up:
            values.update(done_at=now, outcome="failed", lease_until=None)
        else:
            values["lease_until"] = database_now(session) + RETRY_AFTER * (2 ** (due.attempts - 1))
        session.execute(
            update(DueAction).where(DueAction.id == due.id, DueAction.lease_owner == self.owner).values(**values)
        )

    def release(self) -> None:
        """Hand back what this worker claimed but did not run (a stopping worker), so others need not wait out
        the lease."""
        with self.sessions.begin() as session:
            session.execute(
                update(DueAction)
                .where(DueAction.lease_owner == self.owner, DueAction.done_at.is_(None))
                .values(lease_owner=None, lease_until=None)
            )

    def next_due(self) -> datetime | None:
        with self.sessions() as session:
            return session.scalar(
                select(DueAction.due_at).where(DueAction.done_at.is_(None)).order_by(DueAction.due_at)
            )


def prune_done(sessions: sessionmaker[Session], before: datetime) -> int:
    """Forget timers done before ``before`` (housekeeping)."""
    with sessions.begin() as session:
        result = session.execute(delete(DueAction).where(DueAction.done_at.is_not(None), DueAction.done_at < before))
        return int(getattr(result, "rowcount", 0))
