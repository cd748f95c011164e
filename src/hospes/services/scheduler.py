"""Periodic work that runs once per period across the fleet, however many processes run a scheduler.

Each task has a row in ``scheduler_leases`` (created by the first process that registers it): when it is due
next, and the lease of the process running it now. Every scheduler polls; the first to claim a due task
(``UPDATE … WHERE next_run_at <= now AND the lease is free``, compared in database time) runs it, renewing the
lease while it runs, then moves ``next_run_at`` one period on. The claim raises ``epoch``: a run whose lease lapsed
and was taken over cannot record itself, so the new holder's schedule stands. A process that dies mid-run leaves
its lease to expire; the task is then taken up by another scheduler.

Registering a task is one line in ``hospes.workers.periodic_tasks``::

    PeriodicTask("sign-in-log-retention", hours(1), lambda: prune_sign_ins(sessions, ...))
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from hospes import metrics
from hospes.background import BackgroundLoop, owner_id
from hospes.storage.dbtime import db_now
from hospes.storage.tables_fleet import SchedulerLease

log = logging.getLogger("hospes.scheduler")
LEASE_SECONDS = 120.0  # renewed every third while the task runs: a dead process's task is taken up this late
MAX_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class PeriodicTask:
    """``run`` is called once per ``period`` seconds across the fleet; the first run is ``first_after`` seconds
    after the task's row is created (default: one period, so a deployment that restarts often does not run
    everything at each start)."""

    name: str
    period: float
    run: Callable[[], object]
    first_after: float | None = None


class Scheduler(BackgroundLoop):
    thread_name = "scheduler"
    failure_message = "scheduler pass failed; retrying"
    logger = log

    def __init__(
        self, sessions: sessionmaker[Session], tasks: list[PeriodicTask], *, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        super().__init__()
        self.sessions, self.lease_seconds = sessions, lease_seconds
        self.tasks: dict[str, PeriodicTask] = {}
        self.owner = owner_id()
        self._rows_ready = False
        for task in tasks:
            self.register(task)

    def register(self, task: PeriodicTask) -> None:
        if len(task.name) > 64 or task.period <= 0:
            raise ValueError(f"periodic task {task.name!r}: a name of at most 64 characters and a positive period")
        self.tasks[task.name] = task
        self._rows_ready = False

    def poll_seconds(self) -> float:
        periods = [task.period for task in self.tasks.values()]
        return min([MAX_POLL_SECONDS, *(period / 4 for period in periods)])

    def pass_once(self) -> bool:
        if not self._rows_ready:
            self._create_rows()
        for task in list(self.tasks.values()):
            if self._stop.is_set():
                break
            epoch = self._claim(task)
            if epoch is not None:
                self._run(task, epoch)
        return False

    def _create_rows(self) -> None:
        with self.sessions.begin() as session:
            now = db_now(session)
            dialect = session.get_bind().dialect.name
            make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
            for task in self.tasks.values():
                first = task.period if task.first_after is None else task.first_after
                session.execute(
                    make_insert(SchedulerLease)
                    .values(name=task.name, next_run_at=now + timedelta(seconds=first), epoch=0, runs=0)
                    .on_conflict_do_nothing(index_elements=["name"])
                )
        self._rows_ready = True

    def _claim(self, task: PeriodicTask) -> int | None:
        with self.sessions.begin() as session:
            now = db_now(session)
            epoch: int | None = session.execute(
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == task.name,
                    SchedulerLease.next_run_at <= now,
                    or_(SchedulerLease.lease_until.is_(None), SchedulerLease.lease_until < now),
                )
                .values(
                    lease_owner=self.owner,
                    lease_until=now + timedelta(seconds=self.lease_seconds),
                    epoch=SchedulerLease.epoch + 1,
                    # The next period counts from this claim, so the cadence holds whatever a run lasts.
                    next_run_at=now + timedelta(seconds=task.period),
                )
                .returning(SchedulerLease.epoch)
            ).scalar_one_or_none()
            return epoch

    def _held(self, task: PeriodicTask, epoch: int) -> ColumnElement[bool]:
        return and_(
            SchedulerLease.name == task.name,
            SchedulerLease.lease_owner == self.owner,
            SchedulerLease.epoch == epoch,
        )

    def _run(self, task: PeriodicTask, epoch: int) -> None:
        done = threading.Event()
        beat = threading.Thread(target=self._renew, args=(task, epoch, done), name=f"scheduler-{task.name}"[:32])
        beat.start()
        error: str | None = None
        try:
            with metrics.scheduler_run(task.name):
                task.run()
        except Exception as exc:  # a failed run is retried next period, as a successful one would run again
            log.exception("periodic task %s failed", task.name)
            error = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            done.set()
            beat.join()
        with self.sessions.begin() as session:
            now = db_now(session)
            recorded = session.execute(
                update(SchedulerLease)
                .where(self._held(task, epoch))
                .values(
                    lease_owner=None,
                    lease_until=None,
                    runs=SchedulerLease.runs + 1,
                    last_run_at=now,
                    last_owner=self.owner,
                    last_error=error,
                )
            ).rowcount  # type: ignore[attr-defined]
        if not recorded:
            log.warning("periodic task %s ran past its lease; another process holds it now", task.name)

    def _renew(self, task: PeriodicTask, epoch: int, done: threading.Event) -> None:
        while not done.wait(self.lease_seconds / 3):
            try:
                with self.sessions.begin() as session:
                    until = db_now(session) + timedelta(seconds=self.lease_seconds)
                    session.execute(update(SchedulerLease).where(self._held(task, epoch)).values(lease_until=until))
            except Exception:  # the next beat tries again; the lease has two more thirds to run
                log.exception("renewing the lease of periodic task %s failed", task.name)


def runs_of(sessions: sessionmaker[Session], name: str) -> int:
    """How many runs of ``name`` the fleet has recorded (operators, tests)."""
    with sessions() as session:
        return int(session.scalar(select(SchedulerLease.runs).where(SchedulerLease.name == name)) or 0)
