"""SQLite's one write lock, taken in turns by the threads of a process.

Every write transaction on SQLite begins IMMEDIATE and so queues for the database's single write lock. SQLite's
own queue is its busy handler: a writer that finds the lock taken sleeps 1, 2, 5 ... then 100 ms at a time and
tries again, with no order among the sleepers. Under a crowd of writers (an API, a provisioning runner's jobs,
their journals and leases) the lock is often free while every waiter sleeps, and an unlucky writer loses the
race again and again: in a four-tenant mesh at 100 changes/s single BEGINs waited up to 2.4 s.

``WriteTurns`` is that queue done in the process: a writer's BEGIN first takes its turn, first come first
served, and a finished writer hands the turn to the next one at once. It wraps only what SQLite would serialize
anyway, so nothing runs less in parallel. Other processes on the same file (``hospes worker`` beside ``hospes
serve``) still meet SQLite's busy handler, or ``Database.writer_turn``'s file lock. A turn is reentrant for its
thread (a nested write then meets SQLite's own lock, as before), and a wait longer than the busy timeout goes on
without the turn, so a leaked transaction still ends in SQLite's "database is locked", not in a hang.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Any

from sqlalchemy import Engine, event

_FLAG = "hospes_write_turn"


class WriteTurns:
    """A first-come-first-served lock, reentrant for the thread that holds it."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[tuple[int, threading.Lock]] = deque()

    def acquire(self, timeout: float | None = None) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self._owner is None and not self._queue:
                self._owner, self._depth = me, 1
                return True
            if self._owner == me:
                self._depth += 1
                return True
            if timeout == 0:
                return False
            baton = threading.Lock()
            baton.acquire()
            entry = (me, baton)
            self._queue.append(entry)
        if baton.acquire(timeout=-1 if timeout is None else timeout):
            return True  # handed over by ``release``: this thread owns the turn now
        with self._mutex:
            if entry in self._queue:
                self._queue.remove(entry)
                return False
        baton.acquire()  # handed over just as the wait ran out: the turn is this thread's after all
        return True

    def held_by_me(self) -> bool:
        with self._mutex:
            return self._owner == threading.get_ident()

    def release(self) -> None:
        with self._mutex:
            self._depth -= 1
            if self._depth > 0:
                return
            if self._queue:
                owner, baton = self._queue.popleft()
                self._owner, self._depth = owner, 1
                baton.release()
            else:
                self._owner, self._depth = None, 0


_by_file: dict[str, WriteTurns] = {}
_by_file_lock = threading.Lock()


def turns_for(database: str | None) -> WriteTurns | None:
    """The process's turns for the SQLite database file ``database`` (every engine on that file shares them); None
    for an in-memory database, which is each connection's own."""
    if not database or database == ":memory:":
        return None
    path = os.path.abspath(database)
    with _by_file_lock:
        turns = _by_file.get(path)
        if turns is None:
            turns = _by_file[path] = WriteTurns()
        return turns


def take(info: dict[str, Any], turns: WriteTurns, timeout: float) -> None:
    """Take the turn for the connection whose ``info`` is given (before its BEGIN IMMEDIATE)."""
    if not info.get(_FLAG) and turns.acquire(timeout):
        info[_FLAG] = turns


def hand_back(info: dict[str, Any]) -> None:
    """Give the turn of that connection back, if it holds one (its transaction ended, whichever way)."""
    turns = info.pop(_FLAG, None)
    if turns is not None:
        turns.release()


def install(engine: Engine) -> None:
    """Hand the turn back wherever a transaction of ``engine`` can end: commit, rollback, and the pool's reset,
    check-in or invalidation of a connection whose transaction was abandoned."""
    event.listen(engine, "commit", _ended)
    event.listen(engine, "rollback", _ended)
    event.listen(engine.pool, "reset", _reset)
    event.listen(engine.pool, "invalidate", _invalidated)
    for name in ("checkin", "close"):
        event.listen(engine.pool, name, _returned)


def _ended(conn: Any) -> None:
    if not (conn.invalidated or conn.closed):  # (``info`` would reconnect; the pool's event handed the turn back)
        hand_back(conn.info)


def _reset(_dbapi_conn: Any, record: Any, _state: Any) -> None:
    _returned(_dbapi_conn, record)


def _invalidated(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
    _returned(_dbapi_conn, record)


def _returned(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        hand_back(record.info)
