"""Durable bulk-invite jobs (services/invitations/jobs.py, jobs_worker.py) on both backends: upload, a worker run
and the results; a worker that dies after some rows and another that resumes once the lease expired, every row
invited exactly once; a crash inside a row's transaction; a worker that lost its lease cannot record; concurrent
workers; visibility by tenant, uploader and Global Administrator; an uploader who lost the role; the groups and app
roles an upload chose, added in each row's invitation transaction (once, even across a crash)."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import secret_box
from hospes.domain.clock import utcnow
from hospes.domain.errors import ConflictError
from hospes.domain.principals import (
    GLOBAL_ADMINISTRATOR,
    GUEST_INVITER,
    USER_ADMINISTRATOR,
    Principal,
    system_principal,
)
from hospes.services.apps import AppService
from hospes.services.invitations import jobs_worker
from hospes.services.invitations.jobs import UPLOADER_CANNOT_ADD, BulkJobs, prune
from hospes.services.invitations.jobs_worker import BulkJobWorker, LostLeaseError
from hospes.services.invitations.onboarding import AppGrant
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.tables import AppRoleAssignment, GroupMember, Invitation, User
from hospes.storage.tables_bulk import BulkInviteJob, BulkInviteRow
from tests.helpers.tenants import TenantHandle


class Crash(BaseException):
    """Stands for the process dying: nothing below catches it, no cleanup code runs."""


def _person(tenant: TenantHandle, role: str | None = GUEST_INVITER) -> Principal:
    user = tenant.new_user()
    if role:
        body = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user['id']}"}
        assert tenant.post(f"/directoryRoles/{role}/members/$ref", json=body).status_code == 204
    return Principal(tenant.id, "user", user["id"], user["displayName"])


def _rows(prefix: str, count: int, send: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "invitedUserEmailAddress": f"{prefix}{i}@partner.example",
            "invitedUserDisplayName": f"{prefix} {i}",
            "inviteRedirectUrl": "https://a.example",
            "sendInvitationMessage": send,
        }
        for i in range(count)
    ]


@pytest.fixture
def worker(app: FastAPI, settings: Settings, database: Database) -> Callable[..., BulkJobWorker]:
    def make(clock: Callable[[], datetime] = utcnow) -> BulkJobWorker:
        box = secret_box(settings.secret_key, settings.data_dir)
        return BulkJobWorker(database, settings, box, app.state.runtime.keys.seal, clock=clock)

    return make


@pytest.fixture(autouse=True)
def _no_leftover_jobs(worker: Any) -> None:
    """The database is shared by the session's tests and workers take the oldest job first: finish whatever an
    earlier test left (a far clock also takes over stale leases)."""
    _drain(worker(clock=_later(24 * 60)))


def _later(minutes: int) -> Callable[[], datetime]:
    return lambda: utcnow() + timedelta(minutes=minutes)


def _job(sessions: sessionmaker[Session], job_id: str) -> BulkInviteJob:
    with sessions() as s:
        job = s.get(BulkInviteJob, job_id)
        assert job is not None
        return job


def _invitations_per_email(sessions: sessionmaker[Session], tenant_id: str) -> dict[str, int]:
    with sessions() as s:
        rows = s.execute(
            select(Invitation.email, func.count()).where(Invitation.tenant_id == tenant_id).group_by(Invitation.email)
        )
        return {email: int(n) for email, n in rows}


def _guests_per_email(sessions: sessionmaker[Session], tenant_id: str) -> dict[str, int]:
    with sessions() as s:
        rows = s.execute(
            select(User.mail_key, func.count())
            .where(User.tenant_id == tenant_id, User.creation_type == "Invitation")
            .group_by(User.mail_key)
        )
        return {str(email): int(n) for email, n in rows}


def _drain(w: BulkJobWorker) -> None:
    while w.work_once() is not None:
        pass


def test_upload_then_worker_then_results(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], settings: Settings, worker: Any
) -> None:
    me = _person(tenant)
    formula = {"invitedUserEmailAddress": "=HYPERLINK(1)", "inviteRedirectUrl": "https://a.example"}
    rows = [*_rows("ok", 4), {"invitedUserEmailAddress": "not-an-address", "inviteRedirectUrl": "https://a.example"}]
    rows.append(formula)
    jobs = BulkJobs(database, me)
    job_id = jobs.create("guests.csv", rows)
    view = jobs.find(job_id, see_all=False)
    assert view is not None and (view.status, view.total, view.done) == ("queued", 6, 0)
    assert worker().work_once() == 6
    view = jobs.find(job_id, see_all=False)
    assert view is not None and view.finished and (view.done, view.succeeded, view.failed) == (6, 4, 2)
    assert [f.line for f in jobs.failures(job_id)] == [6, 7]
    results = list(
        csv.DictReader(io.StringIO(jobs.results_csv(job_id, secret_box(settings.secret_key, settings.data_dir))))
    )
    assert [r["result"] for r in results] == ["ok"] * 4 + ["error", "error"]
    assert results[5]["email"] == "'=HYPERLINK(1)"  # a spreadsheet shows it, does not run it
    assert all(r["inviteRedeemUrl"].startswith("http") and "/redeem?" in r["inviteRedeemUrl"] for r in results[:4])
    assert results[4]["row"] == "6" and results[4]["error"]
    # The links are sealed at rest, never stored in clear.
    with sessions() as s:
        sealed = list(s.scalars(select(BulkInviteRow.redeem_url_sealed).where(BulkInviteRow.job_id == job_id)))
    assert all(v is None or "/redeem?" not in v for v in sealed) and sum(v is not None for v in sealed) == 4
    assert _job(sessions, job_id).active_owner is None  # the person may upload again
    assert worker().work_once() is None  # nothing left to claim


def test_sent_invitations_keep_no_link(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], settings: Settings, worker: Any
) -> None:
    jobs = BulkJobs(database, _person(tenant))
    job_id = jobs.create("mail.csv", _rows("mailed", 2, send=True))
    _drain(worker())
    results = list(
        csv.DictReader(io.StringIO(jobs.results_csv(job_id, secret_box(settings.secret_key, settings.data_dir))))
    )
    assert [(r["result"], r["inviteRedeemUrl"]) for r in results] == [("ok", ""), ("ok", "")]


def test_one_active_upload_per_person(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    me, other = _person(tenant), _person(tenant)
    BulkJobs(database, me).create("a.csv", _rows("one", 2))
    with pytest.raises(ConflictError):
        BulkJobs(database, me).create("b.csv", _rows("two", 2))
    BulkJobs(database, other).create("c.csv", _rows("three", 2))  # someone else is not held up
    _drain(worker())
    BulkJobs(database, me).create("b.csv", _rows("two", 2))  # finished: a new upload is accepted
    _drain(worker())


def test_a_dead_worker_is_resumed_after_its_lease(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    job_id = BulkJobs(database, _person(tenant)).create("big.csv", _rows("resume", 30))
    first = worker()
    assert first.work_once(limit=7) == 7  # ... and then the process dies, holding the lease
    job = _job(sessions, job_id)
    assert (job.status, job.done, job.claimed_by) == ("running", 7, first.owner)
    assert worker().work_once() is None  # the lease is still valid: nobody else takes the job
    second = worker(clock=_later(5))  # after the lease expired
    assert second.work_once() == 23
    job = _job(sessions, job_id)
    assert (job.status, job.done, job.succeeded) == ("done", 30, 30)
    expected = {f"resume{i}@partner.example": 1 for i in range(30)}
    assert _invitations_per_email(sessions, tenant.id) == expected
    assert _guests_per_email(sessions, tenant.id) == expected


def test_a_crash_inside_a_row_transaction_leaves_no_invitation(
    tenant: TenantHandle,
    database: Database,
    sessions: sessionmaker[Session],
    worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = BulkJobs(database, _person(tenant)).create("crash.csv", _rows("crash", 6))
    original = BulkJobWorker.record
    calls = {"n": 0}

    def dying_record(self: BulkJobWorker, s: Session, *args: Any, **kw: Any) -> None:
        calls["n"] += 1
        original(self, s, *args, **kw)
        if calls["n"] == 4:  # row 3's invitation and outcome are written, not yet committed
            raise Crash()

    monkeypatch.setattr(BulkJobWorker, "record", dying_record)
    with pytest.raises(Crash):
        worker().work_once()
    monkeypatch.setattr(BulkJobWorker, "record", original)
    invited = _invitations_per_email(sessions, tenant.id)
    assert set(invited) == {f"crash{i}@partner.example" for i in range(3)}  # row 3 rolled back with its outcome
    with sessions() as s:
        statuses = list(
            s.scalars(select(BulkInviteRow.status).where(BulkInviteRow.job_id == job_id).order_by(BulkInviteRow.row_no))
        )
    assert statuses == ["ok", "ok", "ok", "pending", "pending", "pending"]
    assert worker(clock=_later(5)).work_once() == 3
    expected = {f"crash{i}@partner.example": 1 for i in range(6)}
    assert _invitations_per_email(sessions, tenant.id) == expected
    assert _guests_per_email(sessions, tenant.id) == expected


def test_a_worker_that_lost_its_lease_cannot_record(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    """A worker that was only slow (not dead) wakes up after another took its job over: its next invitation
    rolls back instead of inviting a row twice."""
    job_id = BulkJobs(database, _person(tenant)).create("slow.csv", _rows("slow", 4))
    slow = worker()
    claim = slow._claim()
    assert claim is not None
    service = slow._service(claim)
    assert service is not None
    assert worker(clock=_later(5)).work_once(limit=1) == 1  # took over, did row 0
    with sessions() as s:
        body = s.get(BulkInviteRow, (job_id, 1))
        assert body is not None
        row_input = dict(body.input)
    with pytest.raises(LostLeaseError):
        slow._invite(service, claim, 1, row_input)
    assert "slow1@partner.example" not in _invitations_per_email(sessions, tenant.id)
    assert worker(clock=_later(10)).work_once() == 3
    assert _invitations_per_email(sessions, tenant.id) == {f"slow{i}@partner.example": 1 for i in range(4)}


def test_concurrent_workers_share_jobs_without_doubles(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    for n in range(3):
        BulkJobs(database, _person(tenant)).create(f"{n}.csv", _rows(f"c{n}x", 8))
    workers = [worker() for _ in range(3)]
    errors: list[BaseException] = []

    def run(w: BulkJobWorker) -> None:
        try:
            _drain(w)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    expected = {f"c{n}x{i}@partner.example": 1 for n in range(3) for i in range(8)}
    assert _invitations_per_email(sessions, tenant.id) == expected
    with sessions() as s:
        jobs = list(s.scalars(select(BulkInviteJob).where(BulkInviteJob.tenant_id == tenant.id)))
    assert [(j.status, j.done) for j in jobs] == [("done", 8)] * 3


def test_visibility_by_tenant_uploader_and_global_admin(
    tenant: TenantHandle, other_tenant: TenantHandle, database: Database, sessions: sessionmaker[Session]
) -> None:
    me, colleague = _person(tenant), _person(tenant)
    admin = _person(tenant, GLOBAL_ADMINISTRATOR)
    stranger = _person(other_tenant, GLOBAL_ADMINISTRATOR)
    job_id = BulkJobs(database, me).create("mine.csv", _rows("vis", 1))
    assert BulkJobs(database, me).find(job_id, see_all=False) is not None
    assert BulkJobs(database, colleague).find(job_id, see_all=False) is None
    assert [j.id for j in BulkJobs(database, colleague).recent(see_all=False)] == []
    assert BulkJobs(database, admin).find(job_id, see_all=True) is not None
    assert BulkJobs(database, stranger).find(job_id, see_all=True) is None  # another tenant, even as its GA
    assert BulkJobs(database, stranger).recent(see_all=True) == []


def test_an_uploader_who_lost_the_role_stops_the_job(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    me = _person(tenant)
    job_id = BulkJobs(database, me).create("late.csv", _rows("late", 3))
    assert tenant.delete(f"/directoryRoles/{GUEST_INVITER}/members/{me.id}/$ref").status_code == 204
    assert worker().work_once() == 0
    job = _job(sessions, job_id)
    assert (job.status, job.done, job.failed, job.active_owner) == ("failed", 3, 3, None)
    assert _invitations_per_email(sessions, tenant.id) == {}


def test_old_finished_jobs_are_pruned(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    job_id = BulkJobs(database, _person(tenant)).create("old.csv", _rows("old", 1))
    _drain(worker())
    assert prune(sessions, utcnow() - timedelta(days=1)) == 0
    assert prune(sessions, utcnow() + timedelta(seconds=1)) >= 1
    with sessions() as s:
        assert s.get(BulkInviteJob, job_id) is None
        assert s.scalar(select(func.count()).where(BulkInviteRow.job_id == job_id)) == 0


def test_a_killed_worker_process_is_resumed_without_doubles(
    tenant: TenantHandle,
    database: Database,
    sessions: sessionmaker[Session],
    settings: Settings,
    worker: Any,
    tmp_path: Path,
) -> None:
    """``hospes worker`` in its own process, killed with SIGKILL mid-job: the rows it committed stay done, the
    next worker finishes the rest once the lease expired, and every address is invited exactly once."""
    total = 400
    job_id = BulkJobs(database, _person(tenant)).create("kill.csv", _rows("kill", total))
    env = {
        **os.environ,
        "HOSPES_DATABASE_URL": settings.effective_database_url,
        "HOSPES_DATA_DIR": str(settings.data_dir),
        "HOSPES_SECRET_KEY": settings.secret_key,
        "HOSPES_PUBLIC_URL": settings.public_url,
        "HOSPES_SMTP_HOST": "",
    }
    log_file = tmp_path / "worker.log"
    with log_file.open("wb") as sink:  # a file, not a pipe: a chatty worker must never block on a full pipe
        proc = subprocess.Popen([sys.executable, "-m", "hospes", "worker"], env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 60
        while _job(sessions, job_id).done < 20:
            assert proc.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, "the worker invited nothing: " + log_file.read_text()[-3000:]
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    job = _job(sessions, job_id)
    assert job.status == "running" and 20 <= job.done < total, "kill the worker mid-job"
    assert worker().work_once() is None  # its lease still holds
    assert worker(clock=_later(5)).work_once() == total - job.done
    job = _job(sessions, job_id)
    assert (job.status, job.done, job.succeeded) == ("done", total, total)
    expected = {f"kill{i}@partner.example": 1 for i in range(total)}
    assert _invitations_per_email(sessions, tenant.id) == expected
    assert _guests_per_email(sessions, tenant.id) == expected


def test_a_worker_takes_its_own_job_back_at_once(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    """After an error in its own process (say the database went away mid-job) a worker holding the lease carries
    on at its next pass instead of waiting for the lease to expire."""
    job_id = BulkJobs(database, _person(tenant)).create("own.csv", _rows("own", 5))
    w = worker()
    assert w.work_once(limit=2) == 2
    assert worker().work_once() is None  # others still wait for the lease
    assert w.work_once() == 3
    assert _job(sessions, job_id).status == "done"


def test_the_lease_is_renewed_while_rows_are_invited(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    job_id = BulkJobs(database, _person(tenant)).create("long.csv", _rows("long", 6))
    start = utcnow()
    ticks = {"n": 0}

    def clock() -> datetime:  # every reading is 15 s later: a slow job
        ticks["n"] += 1
        return start + timedelta(seconds=15 * ticks["n"])

    w = worker(clock=clock)
    assert w.work_once(limit=5) == 5
    first_lease = start + timedelta(seconds=15) + jobs_worker.LEASE
    lease = _job(sessions, job_id).lease_until
    assert lease is not None and lease > first_lease
    # At the time the first lease would have ended, nobody may take the job over.
    assert worker(clock=lambda: first_lease + timedelta(seconds=1)).work_once() is None


def test_a_job_without_a_live_worker_is_shown_as_stalled(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session]
) -> None:
    jobs = BulkJobs(database, _person(tenant))
    job_id = jobs.create("stalled.csv", _rows("stalled", 2))
    view = jobs.find(job_id, see_all=False)
    assert view is not None and not view.stalled  # just uploaded: a worker polls every 2 s
    with sessions.begin() as s:
        job = s.get(BulkInviteJob, job_id)
        assert job is not None
        job.created_at -= timedelta(minutes=1)
    view = jobs.find(job_id, see_all=False)
    assert view is not None and view.stalled
    with sessions.begin() as s:
        job = s.get(BulkInviteJob, job_id)
        assert job is not None
        job.status, job.claimed_by, job.lease_until = "running", "gone", utcnow() + timedelta(seconds=30)
    view = jobs.find(job_id, see_all=False)
    assert view is not None and not view.stalled  # a worker holds a live lease
    with sessions.begin() as s:
        job = s.get(BulkInviteJob, job_id)
        assert job is not None
        job.lease_until = utcnow() - timedelta(seconds=1)
    view = jobs.find(job_id, see_all=False)
    assert view is not None and view.stalled  # its worker died


def test_a_row_that_keeps_erring_fails_after_three_attempts(
    tenant: TenantHandle,
    database: Database,
    sessions: sessionmaker[Session],
    worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = BulkJobs(database, _person(tenant)).create("poison.csv", _rows("poison", 3))
    real = jobs_worker.invite_rows
    tries = {"n": 0}

    def buggy(service: Any, rows: list[dict[str, Any]], **kwargs: Any) -> Any:
        if rows[0]["invitedUserEmailAddress"] == "poison1@partner.example":
            tries["n"] += 1
            raise RuntimeError("a bug")
        return real(service, rows, **kwargs)

    monkeypatch.setattr(jobs_worker, "invite_rows", buggy)
    assert worker().work_once() == 5  # rows 0 and 2 once, row 1 three times
    assert tries["n"] == 3
    job = _job(sessions, job_id)
    assert (job.status, job.succeeded, job.failed) == ("done", 2, 1)
    with sessions() as s:
        row = s.get(BulkInviteRow, (job_id, 1))
        assert row is not None and (row.status, row.error_code, row.attempts) == ("failed", "internalError", 3)


# -- groups and app roles chosen with the upload -----------------------------------------------------------------


def _access(sessions: sessionmaker[Session], group_id: str, sp_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """Per guest email: memberships of the group, and assignments to the app."""
    with sessions() as s:
        members = s.execute(
            select(User.mail_key, func.count())
            .join(GroupMember, (GroupMember.member_id == User.id) & (GroupMember.relation == "member"))
            .where(GroupMember.group_id == group_id)
            .group_by(User.mail_key)
        )
        assigned = s.execute(
            select(User.mail_key, func.count())
            .join(AppRoleAssignment, AppRoleAssignment.principal_id == User.id)
            .where(AppRoleAssignment.resource_id == sp_id)
            .group_by(User.mail_key)
        )
        return {str(e): int(n) for e, n in members}, {str(e): int(n) for e, n in assigned}


def _group_and_app(tenant: TenantHandle, sessions: sessionmaker[Session]) -> tuple[str, AppGrant]:
    group = tenant.new_group("Bulk partners")
    apps = AppService(sessions, system_principal(tenant.id))
    sp = apps.create_enterprise_app("Partner wiki", ["Reader"])
    _sp, roles = apps.get_sp(sp.id)
    return group["id"], AppGrant(sp.id, next(r["id"] for r in roles if r["value"] == "Reader"))


def test_guests_are_added_to_the_chosen_groups_and_app_roles(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    group_id, grant = _group_and_app(tenant, sessions)
    admin = _person(tenant, GLOBAL_ADMINISTRATOR)
    already = tenant.post("/invitations", json=_rows("acc", 1)[0]).json()["invitedUser"]["id"]
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{already}"}
    assert tenant.post(f"/groups/{group_id}/members/$ref", json=ref).status_code == 204
    job_id = BulkJobs(database, admin).create("access.csv", _rows("acc", 3), groups=[group_id], grants=[grant])
    view = BulkJobs(database, admin).find(job_id, see_all=True)
    assert view is not None and (view.groups, view.app_roles) == (1, 1)
    _drain(worker())
    job = _job(sessions, job_id)
    assert (job.status, job.succeeded) == ("done", 3)
    expected = {f"acc{i}@partner.example": 1 for i in range(3)}
    assert _access(sessions, group_id, grant.resource_id) == (expected, expected)  # acc0 was a member: kept once


def test_a_crash_after_adding_a_guest_leaves_no_membership(
    tenant: TenantHandle,
    database: Database,
    sessions: sessionmaker[Session],
    worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group_id, grant = _group_and_app(tenant, sessions)
    admin = _person(tenant, GLOBAL_ADMINISTRATOR)
    job_id = BulkJobs(database, admin).create("crash.csv", _rows("acr", 4), groups=[group_id], grants=[grant])
    original = BulkJobWorker.record
    calls = {"n": 0}

    def dying_record(self: BulkJobWorker, s: Session, *args: Any, **kw: Any) -> None:
        calls["n"] += 1
        original(self, s, *args, **kw)
        if calls["n"] == 2:  # row 1: invited, added to the group and app, recorded; not committed
            raise Crash()

    monkeypatch.setattr(BulkJobWorker, "record", dying_record)
    with pytest.raises(Crash):
        worker().work_once()
    monkeypatch.setattr(BulkJobWorker, "record", original)
    only_first = {"acr0@partner.example": 1}
    assert _access(sessions, group_id, grant.resource_id) == (only_first, only_first)
    assert _invitations_per_email(sessions, tenant.id) == only_first
    # A second worker resumes; a slow first one could not add anything twice (its rows are no longer pending).
    assert worker(clock=_later(5)).work_once() == 3
    assert _job(sessions, job_id).succeeded == 4
    expected = {f"acr{i}@partner.example": 1 for i in range(4)}
    assert _access(sessions, group_id, grant.resource_id) == (expected, expected)
    assert _invitations_per_email(sessions, tenant.id) == expected


def test_a_group_deleted_after_the_upload_fails_its_rows_without_guests(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    group_id, _grant = _group_and_app(tenant, sessions)
    job_id = BulkJobs(database, _person(tenant, GLOBAL_ADMINISTRATOR)).create(
        "gone.csv", _rows("gone", 2), groups=[group_id]
    )
    assert tenant.delete(f"/groups/{group_id}").status_code == 204
    _drain(worker())
    job = _job(sessions, job_id)
    assert (job.status, job.succeeded, job.failed) == ("done", 0, 2)
    assert _invitations_per_email(sessions, tenant.id) == {}
    assert _guests_per_email(sessions, tenant.id) == {}


def test_an_uploader_who_no_longer_manages_the_group_stops_the_job(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    group_id, grant = _group_and_app(tenant, sessions)
    me = _person(tenant, USER_ADMINISTRATOR)  # may add guests to any group, may not assign app roles
    job_id = BulkJobs(database, me).create("late.csv", _rows("lost", 2), groups=[group_id])
    # Now only a Guest Inviter: still allowed to bulk invite, no longer to add guests to groups.
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{me.id}"}
    assert tenant.post(f"/directoryRoles/{GUEST_INVITER}/members/$ref", json=ref).status_code == 204
    assert tenant.delete(f"/directoryRoles/{USER_ADMINISTRATOR}/members/{me.id}/$ref").status_code == 204
    assert worker().work_once() == 0
    job = _job(sessions, job_id)
    assert (job.status, job.failed, job.error) == ("failed", 2, UPLOADER_CANNOT_ADD)
    assert _invitations_per_email(sessions, tenant.id) == {}
    apps_job = BulkJobs(database, _person(tenant)).create("apps.csv", _rows("app", 1), grants=[grant])
    assert worker().work_once() == 0  # a Guest Inviter may not assign app roles
    assert _job(sessions, apps_job).error == UPLOADER_CANNOT_ADD


def test_the_uploads_request_id_reaches_its_background_work(
    tenant: TenantHandle, database: Database, sessions: sessionmaker[Session], worker: Any
) -> None:
    """The worker invites as part of the upload's request: the invitations' audit rows and emails carry its id."""
    import contextvars

    from hospes.logs import begin_request
    from hospes.storage.tables import AuditLog, OutboxMessage

    def upload() -> str:
        begin_request("upload-request-7")
        return BulkJobs(database, _person(tenant)).create("guests.csv", _rows("rid", 2, send=True))

    job_id = contextvars.copy_context().run(upload)
    assert _job(sessions, job_id).request_id == "upload-request-7"
    assert worker().work_once() == 2
    with sessions() as s:
        audits = s.scalars(
            select(AuditLog.request_id).where(
                AuditLog.tenant_id == tenant.id, AuditLog.activity == "Invite external user"
            )
        ).all()
        mails = s.scalars(select(OutboxMessage.request_id).where(OutboxMessage.tenant_id == tenant.id)).all()
    assert audits == ["upload-request-7"] * 2
    assert mails == ["upload-request-7"] * 2
