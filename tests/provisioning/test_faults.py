"""Failure handling end to end: a fault-injecting proxy in front of scim2-server (429 + Retry-After, 500,
timeouts, dropped connections), a wrong token (quarantine and a notification email through the outbox to a real
SMTP server), and a worker process killed mid-cycle. Every object must converge, and none may be duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hospes.domain.provisioning import JobCode, Status, StopReason
from hospes.mail.outbox import deliver_due
from hospes.provisioning.service import ProvisioningService
from hospes.settings import Settings
from tests.helpers.clock import FakeClock
from tests.helpers.faultproxy import FaultPlan, FaultProxy
from tests.helpers.provisioning import App, make_app, person
from tests.helpers.scimtarget import Target
from tests.helpers.tenants import TenantHandle

FAULT_RATES = {"429": 0.08, "500": 0.05, "500_after": 0.04, "timeout": 0.03, "drop": 0.04, "drop_before": 0.03}


@pytest.fixture
def proxy(scim_target: Target) -> Iterator[FaultProxy]:
    fault = FaultProxy(scim_target.base_url, FaultPlan(timeout_seconds=1.0, retry_after="1")).start()
    yield fault
    fault.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked_service(service: ProvisioningService, clock: FakeClock) -> ProvisioningService:
    """The engine on a fake clock: escrow, backoff and quarantine retries come due when the test moves it."""
    return ProvisioningService(service.sessions, service.settings, service.box, clock=clock, sleep=clock.sleep)


@pytest.fixture
def fast_service(clocked_service: ProvisioningService) -> ProvisioningService:
    settings = clocked_service.settings.model_copy(update={"provisioning_timeout_seconds": 0.7})
    return replace(clocked_service, settings=settings)


def converge(app: App, done: Callable[[], bool], clock: FakeClock, timeout: float = 90.0) -> None:
    """Step the engine until ``done``; when nothing is due, move the clock to the next escrow or backoff."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worked = app.service.engine.step(app.job_id)
        if not worked and done():
            return
        if not worked:
            clock.advance(1.0)
    raise AssertionError(f"did not converge; status: {app.status()}")


def test_faults_converge_without_duplicates(
    tenant: TenantHandle, fast_service: ProvisioningService, scim_target: Target, proxy: FaultProxy, clock: FakeClock
) -> None:
    app = make_app(tenant, fast_service, scim_target, base_url=proxy.url)
    users = [person(tenant) for _ in range(16)]
    group = tenant.new_group("Faulty")
    for u in users[:8]:
        tenant.post(
            f"/groups/{group['id']}/members/$ref",
            json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{u['id']}"},
        )
    for u in users[8:]:
        app.assign(u["id"])
    app.assign(group["id"])
    proxy.set_rates(FAULT_RATES)
    wanted = {u["userPrincipalName"] for u in users}

    def created() -> bool:
        names = [u["userName"] for u in scim_target.users()]
        groups = scim_target.groups()
        return set(names) == wanted and len(groups) == 1 and len(groups[0].get("members") or []) == 8

    converge(app, created, clock)
    # Then an update of every user, still through the faults.
    for u in users:
        assert tenant.patch(f"/users/{u['id']}", json={"jobTitle": "Faulted"}).status_code == 204
    converge(app, lambda: all(t.get("title") == "Faulted" for t in scim_target.users()), clock)
    proxy.set_rates({})
    assert app.settle() <= 2
    names = Counter(u["userName"] for u in scim_target.users())
    assert names == Counter(wanted)  # every object once: no duplicate despite retried creates
    groups = scim_target.groups()
    assert [g["displayName"] for g in groups] == ["Faulty"]
    members = [m["value"] for m in groups[0]["members"]]
    assert len(members) == len(set(members)) == 8
    for fault in FAULT_RATES:
        assert proxy.counts[fault] > 0, f"no {fault} was injected: {proxy.counts}"
    assert app.status()["code"] == JobCode.ACTIVE  # throttling and 5xx never quarantine a job


def drain_outbox(service: ProvisioningService, smtp: Settings) -> None:
    """Deliver every due message: the session's shared outbox may hold other tests' mail ahead of ours."""
    while deliver_due(service.sessions, smtp, limit=500).handled:
        pass


def test_wrong_token_quarantines_and_notifies(
    tenant: TenantHandle, clocked_service: ProvisioningService, clock: FakeClock, scim_target: Target, mail_sink: Any
) -> None:
    service = clocked_service
    notice = '{"Enabled": true, "Recipients": "ops@fabrikam.example"}'
    app = make_app(
        tenant, service, scim_target, token="not-the-token", extra_secrets={"SyncNotificationSettings": notice}
    )
    app.assign(person(tenant)["id"])
    app.settle()
    status = app.status()
    assert status["code"] == JobCode.QUARANTINE
    assert status["quarantine"]["reason"] == StopReason.QUARANTINE_EXCEPTION
    assert "401" in status["quarantine"]["error"]["message"]
    assert scim_target.users() == []

    smtp = service.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": mail_sink.port})
    drain_outbox(service, smtp)
    received = mail_sink.wait_for_rcpt("ops@fabrikam.example")
    assert "quarantine" in received.message["Subject"]
    assert "8x8" in received.part("plain") and "401" in received.part("plain")
    # Still wrong: the retry keeps the quarantine and sends no second email for the same reason.
    clock.advance(0.3)  # the first quarantine retry is due (0.2 s)
    app.settle()
    drain_outbox(service, smtp)
    assert len([m for m in mail_sink.messages if "ops@fabrikam.example" in m.rcpt_tos]) == 1

    service.put_secrets(
        tenant.id,
        app.sp_id,
        {"BaseAddress": scim_target.base_url, "SecretToken": scim_target.token, "SyncNotificationSettings": notice},
    )
    clock.advance(0.5)  # the next quarantine retry is due (0.4 s)
    app.settle()
    assert app.status()["code"] == JobCode.ACTIVE and app.status()["quarantine"] is None
    assert len(scim_target.users()) == 1


def test_killed_worker_resumes_without_duplicates_or_lost_changes(
    tenant: TenantHandle, service: ProvisioningService, scim_target: Target, tmp_path: Path
) -> None:
    slow = FaultProxy(scim_target.base_url, FaultPlan(delay=0.06)).start()
    try:
        app = make_app(tenant, service, scim_target, base_url=slow.url)
        users = [person(tenant) for _ in range(80)]
        for u in users:
            app.assign(u["id"])
        settings: Settings = service.settings
        env = {
            **os.environ,
            "HOSPES_DATABASE_URL": settings.effective_database_url,
            "HOSPES_DATA_DIR": str(settings.data_dir),
            "HOSPES_SECRET_KEY": settings.secret_key,  # the worker must read the secrets the test sealed
            "HOSPES_OUTBOUND_ALLOW": "127.0.0.1",
            "HOSPES_PROVISIONING_POLL_SECONDS": "0.05",
            "HOSPES_SMTP_HOST": "",
        }
        log_file = tmp_path / "worker.log"
        with log_file.open("wb") as sink:  # a file, not a pipe: a chatty worker must never block on a full pipe
            worker = subprocess.Popen(
                [sys.executable, "-m", "hospes", "worker"], env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + 60
            while len(scim_target.users()) < 20:
                assert worker.poll() is None, log_file.read_text()
                assert time.monotonic() < deadline, (
                    f"the worker created nothing: {app.status()} " + log_file.read_text()[-3000:]
                )
                time.sleep(0.05)
            # A change made while the cycle runs must not be lost by the crash.
            assert tenant.patch(f"/users/{users[0]['id']}", json={"jobTitle": "Changed mid-cycle"}).status_code == 204
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
        partial = len(scim_target.users())
        assert 20 <= partial < 80, "kill the worker mid-cycle"
        app.settle()  # the restarted engine
        names = Counter(u["userName"] for u in scim_target.users())
        assert names == Counter(u["userPrincipalName"] for u in users)
        assert scim_target.user_by_name(users[0]["userPrincipalName"])["title"] == "Changed mid-cycle"  # type: ignore[index]
        assert app.status()["synchronizedEntryCountByType"][0]["value"] == 80
    finally:
        slow.stop()


def test_failed_objects_are_escrowed_then_retried(
    tenant: TenantHandle, fast_service: ProvisioningService, scim_target: Target, proxy: FaultProxy, clock: FakeClock
) -> None:
    app = make_app(tenant, fast_service, scim_target, base_url=proxy.url)
    app.settle()  # initial cycle with nobody assigned: discovery done, job steady
    users = [person(tenant) for _ in range(3)]
    proxy.set_rates({"500": 1.0})  # the whole target is down: the pass stops and is retried, no quarantine
    app.assign(users[0]["id"])
    app.service.engine.step(app.job_id)
    down = app.status()
    assert down["code"] == JobCode.ACTIVE and down["quarantine"] is None
    assert (
        down["lastExecution"]["state"] == "Failed" and down["lastExecution"]["error"]["code"] == "InternalServerError"
    )
    assert not app.service.engine.step(app.job_id)  # backing off until the next attempt
    proxy.plan.methods = frozenset({"POST"})  # now only creates fail (its other endpoints work)
    clock.advance(2.2)  # first backoff: 2 s, doubling up to 5 min
    for u in users[1:]:
        app.assign(u["id"])
    app.service.engine.step(app.job_id)
    status = app.status()
    assert status["code"] == JobCode.ACTIVE and status["countEscrowed"] == 3
    failures = app.logs(status=Status.FAILURE)
    assert len(failures) == 3
    info = failures[0]["provisioningStatusInfo"]["errorInformation"]
    assert info["errorCode"] == "SystemForCrossDomainIdentityManagementInternalServerError"
    assert info["errorCategory"] == "failure"  # transient: not the tenant's to fix
    proxy.set_rates({})
    converge(app, lambda: len(scim_target.users()) == 3, clock)
    assert app.status()["countEscrowed"] == 0


def test_small_batches_skip_no_change(
    tenant: TenantHandle, service: ProvisioningService, scim_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hospes.provisioning import engine

    app = make_app(tenant, service, scim_target)
    app.settle()
    monkeypatch.setattr(engine, "BATCH", 2)  # every incremental pass sees two change rows per object type
    users = [person(tenant) for _ in range(5)]
    group = tenant.new_group("Batched")
    for u in users:
        app.assign(u["id"])
        tenant.post(
            f"/groups/{group['id']}/members/$ref",
            json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{u['id']}"},
        )
    app.assign(group["id"])
    for u in users:
        tenant.patch(f"/users/{u['id']}", json={"jobTitle": "Batched"})
    app.settle(max_steps=200)
    assert sorted(t["title"] for t in scim_target.users()) == ["Batched"] * 5
    (found,) = scim_target.groups()
    assert len(found["members"]) == 5
