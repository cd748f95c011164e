"""SQLite write transactions of one process take turns (``storage.write_turns``): in the order they began, handed
over at commit, rollback or abandonment, never taken by reads; ``Database.writer_turn_now`` sees them."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.clock import utcnow
from hospes.storage import write_turns
from hospes.storage.engine import Database, WouldWaitError
from hospes.storage.migrate import upgrade
from hospes.storage.tables import ChangeLog


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, write_turns.WriteTurns]]:
    path = Path(tmp_path_factory.mktemp("turns")) / "hospes.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    database = Database.open(url)
    turns = write_turns.turns_for(str(path))
    assert turns is not None and write_turns.turns_for(":memory:") is None
    yield database, turns
    database.dispose()


def _row(tenant: str, object_id: str) -> dict[str, object]:
    return {
        "tenant_id": tenant,
        "object_type": ObjectType.USER,
        "object_id": object_id,
        "change_type": ChangeType.UPDATED,
        "properties": [],
        "at": utcnow(),
    }


def _queued(turns: write_turns.WriteTurns, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(turns._queue) < count:
        assert time.monotonic() < deadline, f"{count} writers never queued"
        time.sleep(0.005)


def _order(database: Database, tenant: str) -> list[str]:
    with database.read_sessions() as session:
        return list(
            session.scalars(select(ChangeLog.object_id).where(ChangeLog.tenant_id == tenant).order_by(ChangeLog.seq))
        )


def test_writers_commit_in_the_order_they_began(sqlite_db: tuple[Database, write_turns.WriteTurns]) -> None:
    database, turns = sqlite_db
    tenant = str(uuid.uuid4())

    def write(name: str) -> None:
        with database.sessions.begin() as session:
            session.execute(insert(ChangeLog).values(**_row(tenant, name)))

    with database.sessions.begin() as holder:
        holder.execute(insert(ChangeLog).values(**_row(tenant, "first")))
        threads = []
        for n in range(5):
            thread = threading.Thread(target=write, args=(f"w{n}",))
            thread.start()
            threads.append(thread)
            _queued(turns, n + 1)
        # A read needs no turn: it runs (on a snapshot) while the writers queue.
        assert _order(database, tenant) == []
    for thread in threads:
        thread.join(10)
    assert _order(database, tenant) == ["first", "w0", "w1", "w2", "w3", "w4"]
    assert turns._owner is None and not turns._queue


def test_a_rolled_back_or_abandoned_transaction_hands_the_turn_over(
    sqlite_db: tuple[Database, write_turns.WriteTurns],
) -> None:
    database, turns = sqlite_db
    tenant = str(uuid.uuid4())
    with pytest.raises(RuntimeError), database.sessions.begin() as session:
        session.execute(insert(ChangeLog).values(**_row(tenant, "rolled back")))
        raise RuntimeError("the write fails")
    assert turns._owner is None
    abandoned = database.sessions()
    abandoned.execute(insert(ChangeLog).values(**_row(tenant, "abandoned")))
    assert turns.held_by_me()
    abandoned.close()  # neither committed nor rolled back by its caller
    assert turns._owner is None
    connection = database.engine.connect()
    connection.begin()
    assert turns.held_by_me()
    connection.invalidate()  # a connection lost mid-transaction
    assert turns._owner is None
    connection.rollback()
    connection.close()
    assert turns._owner is None
    with database.sessions.begin() as session:
        session.execute(insert(ChangeLog).values(**_row(tenant, "kept")))
    assert _order(database, tenant) == ["kept"]


def test_writer_turn_now_refuses_while_another_thread_writes(
    sqlite_db: tuple[Database, write_turns.WriteTurns],
) -> None:
    database, turns = sqlite_db
    began, finish = threading.Event(), threading.Event()

    def long_write() -> None:
        with database.sessions.begin() as session:
            session.execute(insert(ChangeLog).values(**_row(str(uuid.uuid4()), "long")))
            began.set()
            finish.wait(10)

    thread = threading.Thread(target=long_write)
    thread.start()
    assert began.wait(10)
    with pytest.raises(WouldWaitError), database.writer_turn_now():
        pass
    finish.set()
    thread.join(10)
    with database.writer_turn_now(), database.sessions.begin() as session:  # the turn is free, and reentrant
        assert turns.held_by_me()
        session.execute(insert(ChangeLog).values(**_row(str(uuid.uuid4()), "now")))
    assert turns._owner is None
