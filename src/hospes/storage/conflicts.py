"""Deadlocks and serialization failures: PostgreSQL aborts one of two transactions that wait on each other
(SQLSTATE 40P01) or that cannot be serialized (40001). Nothing of the aborted transaction was written, so the
request that ran it can simply run again, provided it committed nothing before: this module tells such errors
apart and counts a request's commits (``counting_commits``, set around each request by the app)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

RETRYABLE = frozenset({"40P01", "40001"})
_commits: ContextVar[list[int] | None] = ContextVar("hospes_commits", default=None)


def is_conflict(exc: BaseException) -> bool:
    """True for a deadlock or a serialization failure, raised by SQLAlchemy or by the driver itself."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for candidate in (current, getattr(current, "orig", None)):
            if getattr(candidate, "sqlstate", None) in RETRYABLE:
                return True
        current = current.__cause__ or current.__context__
    return False


@contextmanager
def counting_commits() -> Iterator[list[int]]:
    """Count the commits made in this context (threads started from it with a copy of it included)."""
    box = [0]
    token = _commits.set(box)
    try:
        yield box
    finally:
        _commits.reset(token)


def note_commit() -> None:
    box = _commits.get()
    if box is not None:
        box[0] += 1


@event.listens_for(Engine, "commit")
def _on_commit(_conn: Connection, *_: Any) -> None:
    note_commit()
