"""Mail queued in a transaction wakes this process's delivery worker once that transaction commits: not when a
savepoint inside it is released, not at all when it rolls back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.mail.outbox import enqueue_wire, wake_on_commit
from hospes.settings import Settings
from hospes.storage.engine import Database


@pytest.fixture
def woken(settings: Settings) -> Iterator[tuple[sessionmaker[Session], list[int]]]:
    database = Database.open(settings.effective_database_url)  # its own factory: the wake-up is per factory
    calls: list[int] = []
    wake_on_commit(database.sessions, lambda: calls.append(1))
    yield database.sessions, calls
    database.dispose()


def _queue(session: Session) -> None:
    enqueue_wire(
        session,
        "Subject: x\r\n\r\nbody\r\n",
        subject="x",
        envelope_from="noreply@wake.example",
        recipients=["someone@wake.example"],
        kind="test",
        tenant_id=None,
        related_id=None,
        now=utcnow(),
    )


def test_commit_wakes_once_and_a_released_savepoint_does_not(woken: tuple[sessionmaker[Session], list[int]]) -> None:
    sessions, calls = woken
    with sessions.begin() as session:
        _queue(session)
        with session.begin_nested():
            pass
        assert calls == []  # the message is not committed yet
    assert calls == [1]
    with sessions.begin():
        pass  # nothing queued: no wake-up
    assert calls == [1]


def test_rollback_does_not_wake_and_a_rolled_back_savepoint_keeps_the_mark(
    woken: tuple[sessionmaker[Session], list[int]],
) -> None:
    sessions, calls = woken
    with sessions() as session:
        _queue(session)
        session.rollback()
    assert calls == []
    with sessions.begin() as session:
        _queue(session)
        try:
            with session.begin_nested():
                raise RuntimeError("a savepoint fails after the message was queued")
        except RuntimeError:
            pass
    assert calls == [1]
