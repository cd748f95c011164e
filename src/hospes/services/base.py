"""Transactions, the change log and the audit log: every directory write goes through ``Services.write``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes import metrics
from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.clock import utcnow
from hospes.domain.errors import ConflictError, DomainError
from hospes.domain.ids import new_id
from hospes.domain.principals import Principal
from hospes.logs import current_request_id
from hospes.storage.tables import AuditLog, ChangeLog, User

R = TypeVar("R")


@dataclass
class Write:
    """One directory write in progress: its session, and what the audit row will say about it."""

    session: Session
    actor: Principal
    now: datetime
    target_type: str | None = None
    target_id: str | None = None
    target_name: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    ordered: bool = False  # this transaction holds the tenant's change-log ordering lock
    activity: str | None = None  # the audit row's activity, when only the write itself can tell (see ``name``)
    category: str | None = None

    def name(self, activity: str, category: str | None = None) -> None:
        """Name the audit row's activity (and category) once the write knows what it did: a restore of a user or
        of a group, blocking sign-in rather than another change."""
        self.activity = activity
        self.category = category or self.category

    def record_changes(self, row: Any, values: dict[str, Any], names: dict[str, str]) -> list[str]:
        """Note the properties of ``row`` that ``values`` changes, with their old and new values, for the audit
        log's detail (``details["changes"]``, beside ``modifiedProperties``); returns their Graph names. Call before
        setting the values. Only plain values are kept, cut to 256 characters; never pass a secret."""
        changes = self.details.setdefault("changes", [])
        changed: list[str] = []
        for attr, new in values.items():
            old = getattr(row, attr)
            if old != new:
                name = names.get(attr, attr)
                changed.append(name)
                changes.append({"property": name, "old": _plain(old), "new": _plain(new)})
        return changed

    def target(self, kind: str, object_id: str, name: str | None = None) -> None:
        self.target_type, self.target_id, self.target_name = kind, object_id, name

    def change(
        self,
        object_type: ObjectType,
        object_id: str,
        change_type: ChangeType,
        properties: list[str] | None = None,
        related_id: str | None = None,
        related_type: str | None = None,
    ) -> None:
        """Append to the change log in this write's transaction (delta and provisioning read it)."""
        self._order_with_other_writers()
        self.session.info[_CHANGED] = True
        self.session.add(
            ChangeLog(
                tenant_id=self.actor.tenant_id,
                object_type=object_type,
                object_id=object_id,
                change_type=change_type,
                properties=sorted(properties or []),
                related_id=related_id,
                related_type=related_type,
                at=self.now,
            )
        )

    def order_now(self) -> None:
        """Take the tenant's writer ordering now, before reads that must see every write committed before this
        one (otherwise it is taken at the first change row)."""
        self._order_with_other_writers()

    def _order_with_other_writers(self) -> None:
        if not self.ordered:
            self.ordered = True
            order_with_other_writers(self.session, self.actor.tenant_id)


_CHANGED = "hospes.change_logged"
_ON_CHANGE = "hospes.on_change"


def wake_on_change(sessions: sessionmaker[Session], wake: Callable[[], None]) -> None:
    """Call ``wake`` after every commit, through ``sessions``, of a transaction that appended to the change log: a
    change-log reader in this process (dynamic-group processing) starts at once instead of at its next poll. Readers
    in other processes still poll."""
    wakers = [*sessions.kw.get("info", {}).get(_ON_CHANGE, ()), wake]
    sessions.configure(info={**sessions.kw.get("info", {}), _ON_CHANGE: tuple(wakers)})


# Both events also fire when a savepoint is released or rolled back; only the outermost transaction's end counts.
@event.listens_for(Session, "after_commit")
def _change_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return
    if session.info.pop(_CHANGED, False):
        for wake in session.info.get(_ON_CHANGE, ()):
            wake()


@event.listens_for(Session, "after_rollback")
def _change_rolled_back(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_CHANGED, None)


def settings_row_for_update(session: Session, model: type[R], tenant_id: str, make: Callable[[], R], what: str) -> R:
    """A tenant's one-row settings (``model`` keyed by tenant id), locked for update and created on first write. Two
    first writes race on the primary key: the loser re-reads the winner's row."""
    row = session.get(model, tenant_id, with_for_update=True)
    if row is not None:
        return row
    row = make()
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        found = session.get(model, tenant_id, with_for_update=True)
        if found is None:  # written by another transaction and removed again before this read
            raise ConflictError(f"The {what} changed meanwhile. Try again.") from None
        return found
    return row


_shared = threading.local()


def _shared_session(sessions: sessionmaker[Session]) -> Session | None:
    if getattr(_shared, "sessions", None) is sessions:
        session: Session = _shared.session
        return session
    return None


@contextmanager
def one_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Every ``Services.write`` (and ``read``) through ``sessions`` in this thread, inside the block, runs in one
    transaction, each write in its own savepoint: a failed write rolls back alone, its failure audit row stays. For
    writers that come in crowds (synchronization into a tenant of this deployment), one commit then carries many
    writes: per write, a BEGIN, a commit and the checks every write repeats were most of the cost. Nothing is
    committed if the block raises."""
    if getattr(_shared, "sessions", None) is not None:
        raise RuntimeError("one_transaction does not nest")
    session = sessions()
    try:
        with session.begin():
            _shared.sessions, _shared.session = sessions, session
            try:
                yield session
            finally:
                _shared.sessions = _shared.session = None
    finally:
        session.close()


def _failure_reason(exc: Exception) -> str:
    """What a failed write's audit row says: the domain's message, else only the kind of error (never its text,
    which may hold SQL or values)."""
    return exc.message if isinstance(exc, DomainError) else type(exc).__name__


def order_with_other_writers(session: Session, tenant_id: str) -> None:
    """Make change-log sequence order equal commit order within a tenant: call before the transaction's first
    change row of that tenant gets its sequence value.

    A reader that has seen sequence N must never later find a smaller sequence committed, or delta and
    provisioning would skip it. SQLite already serializes writers (BEGIN IMMEDIATE); on PostgreSQL a
    transaction-scoped advisory lock per tenant, held until commit, gives the same guarantee without touching
    row locks.
    """
    if session.get_bind().dialect.name == "postgresql":
        started = time.perf_counter()
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:tenant))"), {"tenant": tenant_id})
        metrics.TENANT_LOCK_WAIT.observe(time.perf_counter() - started)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value[:20]]
    return str(value)[:256]


@dataclass
class Services:
    """The acting principal plus the session factory: what every use case needs."""

    sessions: sessionmaker[Session]
    actor: Principal
    clock: Callable[[], datetime] = utcnow

    @property
    def tenant_id(self) -> str:
        return self.actor.tenant_id

    @contextmanager
    def read(self) -> Iterator[Session]:
        shared = _shared_session(self.sessions)
        if shared is not None:
            yield shared  # a second connection would wait for the write lock this thread's transaction holds
            return
        with self.sessions() as session:
            yield session

    @contextmanager
    def write(self, category: str, activity: str) -> Iterator[Write]:
        """Run one atomic write; audit it as success in the same transaction, or as failure in a new one. Inside
        ``one_transaction`` the write is a savepoint of the shared transaction instead, and so is its failure row."""
        shared = _shared_session(self.sessions)
        if shared is not None:
            with self._write_in(shared, category, activity) as op:
                yield op
            return
        session = self.sessions()
        op = Write(session=session, actor=self.actor, now=self.clock())
        try:
            with session.begin():
                yield op
                session.add(self.audit_row(op, op.category or category, op.activity or activity, "success", None))
        except Exception as exc:
            self._audit_failure(op, op.category or category, op.activity or activity, _failure_reason(exc))
            raise
        finally:
            session.close()

    @contextmanager
    def _write_in(self, session: Session, category: str, activity: str) -> Iterator[Write]:
        op = Write(session=session, actor=self.actor, now=self.clock())
        try:
            with session.begin_nested():
                yield op
                session.add(self.audit_row(op, op.category or category, op.activity or activity, "success", None))
        except Exception as exc:
            failure = _failure_reason(exc)
            session.add(self.audit_row(op, op.category or category, op.activity or activity, "failure", failure))
            raise

    def audit_each(self, op: Write, category: str, activity: str, targets: list[Any]) -> None:
        """A write on several users or groups at once: the write's own audit row names the first, and each other one
        gets its own row in the same transaction, so the log reads as if each had been done on its own."""
        kind = "User" if targets and isinstance(targets[0], User) else "Group"
        for index, obj in enumerate(targets):
            name = obj.user_principal_name if kind == "User" else obj.display_name
            if index == 0:
                op.target(kind, obj.id, name)
                continue
            row = self.audit_row(op, category, activity, "success", None)
            row.target_type, row.target_id, row.target_name = kind, obj.id, name
            op.session.add(row)

    def _audit_failure(self, op: Write, category: str, activity: str, reason: str) -> None:
        with self.sessions.begin() as session:
            session.add(self.audit_row(op, category, activity, "failure", reason))

    def audit_row(self, op: Write, category: str, activity: str, result: str, reason: str | None) -> AuditLog:
        return AuditLog(
            id=new_id(),
            tenant_id=self.actor.tenant_id,
            at=op.now,
            category=category,
            activity=activity,
            result=result,
            result_reason=reason,
            actor_type=self.actor.kind,
            actor_id=self.actor.id or None,
            actor_name=self.actor.display_name,
            target_type=op.target_type,
            target_id=op.target_id,
            target_name=op.target_name,
            details=op.details,
            request_id=current_request_id(),
        )
