"""Group commit for synchronization into a tenant of this deployment.

A job applies its objects with several threads, and a mesh runs a job per ordered pair of tenants, so writes into
one target tenant arrive in crowds. Committed one by one they cost a BEGIN, a commit and the per-write checks each,
and on SQLite they queue for its single write lock. Here each caller hands its write over and waits; whichever
caller finds the committer free becomes the leader and runs everything waiting (its own write included) in one
transaction (``services.base.one_transaction``), each write in its own savepoint, so one refused write fails alone.
Results are handed back only after the commit: a caller never sees a write succeed that was then rolled back.

One committer per database and target tenant: a transaction holds one tenant's ordering lock only (on PostgreSQL two
batches taking several tenants' locks in different orders could deadlock). A gate per database bounds the batches
in flight (one on SQLite, which has one write lock anyway).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.base import one_transaction

T = TypeVar("T")
BATCH_MAX = 64  # writes per transaction: bounds how long a batch holds the tenant's lock


class GroupCommitter:
    def __init__(self, sessions: sessionmaker[Session], gate: threading.BoundedSemaphore) -> None:
        self.sessions, self.gate = sessions, gate
        self._cond = threading.Condition()
        self._waiting: list[tuple[Callable[[], Any], Future[Any]]] = []
        self._leading = False

    def run(self, write: Callable[[], T]) -> T:
        """Run ``write`` (a ``Services`` write through ``sessions``) in the next batch; its result or exception."""
        future: Future[Any] = Future()
        with self._cond:
            self._waiting.append((write, future))
            while not future.done():
                if self._leading or not self._waiting:
                    self._cond.wait()
                    continue
                self._leading = True
                batch, self._waiting = self._waiting[:BATCH_MAX], self._waiting[BATCH_MAX:]
                self._cond.release()
                try:
                    self._commit(batch)
                finally:
                    self._cond.acquire()
                    self._leading = False
                    self._cond.notify_all()
        result: T = future.result()
        return result

    def _commit(self, batch: list[tuple[Callable[[], Any], Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.gate, one_transaction(self.sessions):
                for write, _ in batch:
                    try:
                        outcomes.append((True, write()))
                    except Exception as exc:  # this write's savepoint is rolled back; the others go on
                        outcomes.append((False, exc))
        except BaseException as exc:  # the commit (or the database) failed: nothing of the batch was written
            for _, future in batch:
                future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (ok, value), (_, future) in zip(outcomes, batch, strict=True):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


_committers: weakref.WeakKeyDictionary[Engine, dict[str, GroupCommitter]] = weakref.WeakKeyDictionary()
_gates: weakref.WeakKeyDictionary[Engine, threading.BoundedSemaphore] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def committer_for(sessions: sessionmaker[Session], target_tenant: str) -> GroupCommitter:
    """The process's committer for writes into ``target_tenant`` through ``sessions``."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        return GroupCommitter(sessions, threading.BoundedSemaphore(1))
    with _lock:
        gate = _gates.get(bind)
        if gate is None:
            # SQLite: one batch at a time (one write lock; a second would sleep in its busy handler). PostgreSQL:
            # up to a quarter of the pool, the rest left to the API and the jobs' journals.
            size = 1 if bind.dialect.name == "sqlite" else max(2, getattr(bind.pool, "size", lambda: 8)() // 4)
            gate = _gates[bind] = threading.BoundedSemaphore(size)
        by_tenant = _committers.setdefault(bind, {})
        committer = by_tenant.get(target_tenant)
        if committer is None or committer.sessions is not sessions:
            committer = by_tenant[target_tenant] = GroupCommitter(sessions, gate)
        return committer
