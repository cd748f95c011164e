"""The durable timers: due actions run once, with their effects, across workers and lost leases; moved, cancelled,
retried and given up as documented."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.services.base import Write
from hospes.services.timers import Due, Registered, TimerProcessor, cancel, pending, schedule
from hospes.storage.tables import AuditLog
from hospes.storage.tables_timers import DueAction
from tests.helpers.tenants import TenantHandle

KIND = "test.tick"


def tick(op: Write, due: Due) -> None:
    op.target("User", due.subject)


def boom(op: Write, due: Due) -> None:
    op.target("User", due.subject)
    raise RuntimeError("handler failed")


HANDLERS = {KIND: Registered(tick, "Test", "Tick"), "test.boom": Registered(boom, "Test", "Boom")}


def at(offset_seconds: float) -> Any:
    def clock() -> datetime:
        return utcnow() + timedelta(seconds=offset_seconds)

    return clock


def processor(sessions: sessionmaker[Session], owner: str = "w1", **kw: Any) -> TimerProcessor:
    return TimerProcessor(sessions, owner, handlers=HANDLERS, **kw)


def plan(
    sessions: sessionmaker[Session], tenant_id: str, n: int, kind: str = KIND, due: datetime | None = None
) -> list[str]:
    subjects = [uuid.uuid4().hex for _ in range(n)]
    with sessions.begin() as s:
        for subject in subjects:
            schedule(s, tenant_id, kind, subject, due or utcnow() - timedelta(seconds=1))
    return subjects


def ticks(sessions: sessionmaker[Session], tenant_id: str, activity: str = "Tick") -> dict[str, int]:
    with sessions() as s:
        rows = s.execute(
            select(AuditLog.target_id, func.count())
            .where(AuditLog.tenant_id == tenant_id, AuditLog.activity == activity, AuditLog.result == "success")
            .group_by(AuditLog.target_id)
        )
        return {str(r[0]): int(r[1]) for r in rows}


def test_runs_when_due_once(sessions: sessionmaker[Session], tenant: TenantHandle) -> None:
    [subject] = plan(sessions, tenant.id, 1, due=utcnow() + timedelta(hours=1))
    assert processor(sessions, tenant_id=tenant.id).run_due() == 0  # not due yet
    later = processor(sessions, tenant_id=tenant.id, clock=at(3601))
    assert later.run_due() == 1
    assert later.run_due() == 0
    assert ticks(sessions, tenant.id) == {subject: 1}
    with sessions() as s:
        row = s.scalars(select(DueAction).where(DueAction.subject == subject)).one()
        assert (row.outcome, row.lease_owner, row.attempts) == ("done", None, 1)
        assert pending(s, tenant.id, KIND, subject) is None


def test_schedule_again_moves_and_cancel_drops(sessions: sessionmaker[Session], tenant: TenantHandle) -> None:
    moved, dropped = plan(sessions, tenant.id, 2, due=utcnow() + timedelta(minutes=5))
    new_time = utcnow() + timedelta(days=2)
    with sessions.begin() as s:
        schedule(s, tenant.id, KIND, moved, new_time)
        assert cancel(s, tenant.id, KIND, dropped)
        assert not cancel(s, tenant.id, KIND, dropped)
    assert processor(sessions, tenant_id=tenant.id, clock=at(3600)).run_due() == 0
    with sessions() as s:
        assert abs((pending(s, tenant.id, KIND, moved) or utcnow()) - new_time) < timedelta(seconds=1)
    assert processor(sessions, tenant_id=tenant.id, clock=at(3 * 86400)).run_due() == 1
    assert ticks(sessions, tenant.id) == {moved: 1}
    # A done timer scheduled again runs again.
    with sessions.begin() as s:
        schedule(s, tenant.id, KIND, moved, utcnow() - timedelta(seconds=1))
    assert processor(sessions, tenant_id=tenant.id).run_due() == 1
    assert ticks(sessions, tenant.id) == {moved: 2}


def test_failure_rolls_back_retries_then_gives_up(sessions: sessionmaker[Session], tenant: TenantHandle) -> None:
    [bad] = plan(sessions, tenant.id, 1, kind="test.boom")
    [good] = plan(sessions, tenant.id, 1)
    worker = processor(sessions, tenant_id=tenant.id, max_attempts=2)
    assert worker.run_due() == 2
    assert ticks(sessions, tenant.id, "Boom") == {}  # its effects rolled back with it
    assert ticks(sessions, tenant.id) == {good: 1}  # the batch went on
    assert worker.run_due() == 0  # backing off
    with sessions.begin() as s:
        row = s.scalars(select(DueAction).where(DueAction.subject == bad)).one()
        assert row.done_at is None and row.last_error and "handler failed" in row.last_error
        row.lease_until = utcnow() - timedelta(seconds=1)
    assert worker.run_due() == 1
    with sessions() as s:
        row = s.scalars(select(DueAction).where(DueAction.subject == bad)).one()
        assert (row.outcome, row.attempts) == ("failed", 2)


def test_a_worker_that_lost_its_lease_cannot_mark_done(sessions: sessionmaker[Session], tenant: TenantHandle) -> None:
    subjects = plan(sessions, tenant.id, 5)
    slow = processor(sessions, "slow", tenant_id=tenant.id, lease=timedelta(0))
    claimed = slow.claim()  # then it stalls past its lease
    assert {d.subject for d in claimed} >= set(subjects)
    fast = processor(sessions, "fast", tenant_id=tenant.id)
    assert fast.run_due() >= 5
    slow.execute(claimed)  # fenced: the other worker holds (and finished) them
    assert ticks(sessions, tenant.id) == dict.fromkeys(subjects, 1)


def test_moving_a_claimed_timer_takes_it_back(sessions: sessionmaker[Session], tenant: TenantHandle) -> None:
    [subject] = plan(sessions, tenant.id, 1)
    worker = processor(sessions, tenant_id=tenant.id)
    claimed = worker.claim()
    with sessions.begin() as s:
        schedule(s, tenant.id, KIND, subject, utcnow() + timedelta(days=1))
    worker.execute(claimed)
    assert ticks(sessions, tenant.id) == {}
    with sessions() as s:
        assert pending(s, tenant.id, KIND, subject) is not None


def test_concurrent_workers_run_each_timer_once(sessions: sessionmaker[Session], tenant: TenantHandle) -> None:
    subjects = plan(sessions, tenant.id, 240)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            processor(sessions, name, batch=20, tenant_id=tenant.id).run_due()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    processor(sessions, "sweeper", tenant_id=tenant.id).run_due()
    assert ticks(sessions, tenant.id) == dict.fromkeys(subjects, 1)


@pytest.mark.parametrize("owner", ["a", "b"])
def test_release_hands_back_unrun_claims(sessions: sessionmaker[Session], tenant: TenantHandle, owner: str) -> None:
    [subject] = plan(sessions, tenant.id, 1)
    stopping = processor(sessions, owner, tenant_id=tenant.id)
    assert stopping.claim()
    assert processor(sessions, "other", tenant_id=tenant.id).run_due() == 0  # still leased
    stopping.release()
    assert processor(sessions, "other", tenant_id=tenant.id).run_due() == 1
    assert ticks(sessions, tenant.id) == {subject: 1}
