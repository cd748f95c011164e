"""The scheduler of periodic tasks: several schedulers on one database run each task once per period, never two
runs at once, and a run whose lease was taken over does not record itself."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.scheduler import PeriodicTask, Scheduler, runs_of
from hospes.storage.dbtime import db_now
from hospes.storage.tables_fleet import SchedulerLease


def test_two_schedulers_run_a_task_once_per_period(sessions: sessionmaker[Session]) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    period, lasting = 0.4, 2.2
    runs: list[tuple[float, float, str]] = []
    lock = threading.Lock()

    def task_of(who: str) -> PeriodicTask:
        def run() -> None:
            started = time.monotonic()
            time.sleep(0.05)
            with lock:
                runs.append((started, time.monotonic(), who))

        return PeriodicTask(name, period, run, first_after=0)

    schedulers = [Scheduler(sessions, [task_of("a")]), Scheduler(sessions, [task_of("b")])]
    began = time.monotonic()
    for scheduler in schedulers:
        scheduler.start()
    time.sleep(lasting)
    for scheduler in schedulers:
        scheduler.stop()
    elapsed = time.monotonic() - began
    runs.sort()
    assert all(earlier[1] <= later[0] for earlier, later in zip(runs, runs[1:], strict=False)), "two runs overlapped"
    # Once per period: never more than the periods that passed (plus the first run at once).
    assert 2 <= len(runs) <= int(elapsed / period) + 1
    assert runs_of(sessions, name) == len(runs)


def test_a_run_whose_lease_was_taken_over_records_nothing(sessions: sessionmaker[Session]) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    first, second = Scheduler(sessions, [], lease_seconds=60), Scheduler(sessions, [], lease_seconds=60)
    taken_over: list[int | None] = []

    def run() -> None:
        # While this run is busy, its lease lapses (as after a long stall) and another scheduler claims the task.
        with sessions.begin() as session:
            past = db_now(session) - timedelta(seconds=1)
            session.execute(
                update(SchedulerLease).where(SchedulerLease.name == name).values(lease_until=past, next_run_at=past)
            )
        taken_over.append(second._claim(task))

    task = PeriodicTask(name, 3600, run, first_after=0)
    first.register(task)
    second.register(task)
    first._create_rows()
    epoch = first._claim(task)
    assert epoch is not None
    assert second._claim(task) is None  # held, and not due again for an hour
    first._run(task, epoch)
    assert taken_over == [epoch + 1]
    assert runs_of(sessions, name) == 0  # the first run's end was fenced off; the second holds the task now
