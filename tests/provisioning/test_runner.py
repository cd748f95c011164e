"""The background runner: a change committed in the directory reaches the target within seconds (no interval),
and a schema change with a scoping filter re-evaluates every object."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from hospes.domain.provisioning import Action, CycleKind, JobCode
from hospes.provisioning import ProvisioningRunner
from hospes.provisioning.credentials import seal
from hospes.provisioning.engine import Engine
from hospes.provisioning.lease import JobLease, LostLeaseError
from hospes.provisioning.service import ProvisioningService
from hospes.storage.tables_provisioning import ProvisioningJob, ProvisioningSecrets
from tests.helpers.clock import FakeClock
from tests.helpers.faultproxy import FaultPlan, FaultProxy
from tests.helpers.provisioning import App, make_app, person
from tests.helpers.scimtarget import Target
from tests.helpers.tenants import TenantHandle


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def lease_owner(app: App) -> str | None:
    with app.service.sessions() as session:
        owner: str | None = session.scalar(select(ProvisioningJob.lease_owner).where(ProvisioningJob.id == app.job_id))
        return owner


def test_runner_propagates_changes_within_seconds(sync_app: App) -> None:
    app = sync_app
    user = person(app.tenant)
    app.assign(user["id"])
    runner = ProvisioningRunner(app.service.sessions, app.service.settings, app.service.box)
    runner.start()
    try:
        wait_for(lambda: app.target.user_by_name(user["userPrincipalName"]) is not None)
        assert app.tenant.patch(f"/users/{user['id']}", json={"jobTitle": "Live"}).status_code == 204
        wait_for(lambda: (app.target.user_by_name(user["userPrincipalName"]) or {}).get("title") == "Live")
        assert app.tenant.delete(f"/users/{user['id']}").status_code == 204
        wait_for(lambda: (app.target.user_by_name(user["userPrincipalName"]) or {}).get("active") is False)
        app.service.pause(app.tenant.id, app.sp_id, app.job_id)
        wait_for(lambda: lease_owner(app) is None)  # the runner saw the pause and let the job go
        app.tenant.post(f"/directory/deletedItems/{user['id']}/restore")
        assert not app.service.engine.step(app.job_id)  # a paused job has no work, and no runner thread claims it
        assert lease_owner(app) is None
        assert app.target.user_by_name(user["userPrincipalName"])["active"] is False  # type: ignore[index]
    finally:
        runner.stop()


def test_scoping_filter_from_schema(sync_app: App) -> None:
    app = sync_app
    sales = person(app.tenant, department="Sales")
    ops = person(app.tenant, department="Ops")
    for u in (sales, ops):
        app.assign(u["id"])
    schema = copy.deepcopy(app.service.get_schema(app.tenant.id, app.sp_id, app.job_id))
    user_mapping = schema["synchronizationRules"][0]["objectMappings"][0]
    user_mapping["scope"] = {
        "groups": [
            {
                "name": "Sales only",
                "clauses": [
                    {
                        "operatorName": "EQUALS",
                        "sourceOperandName": "department",
                        "targetOperand": {"values": ["Sales"]},
                    }
                ],
            }
        ]
    }
    del user_mapping["flowTypes"]  # as the Graph SDK sends it: kept from the stored schema
    app.service.replace_schema(app.tenant.id, app.sp_id, app.job_id, schema)
    app.settle()
    names = {u["userName"] for u in app.target.users()}
    assert names == {sales["userPrincipalName"]}
    assert app.tenant.patch(f"/users/{sales['id']}", json={"department": "Ops"}).status_code == 204
    app.settle()
    assert app.target.user_by_name(sales["userPrincipalName"])["active"] is False  # type: ignore[index]
    disabled = app.logs(action=Action.DISABLE)[0]
    assert "scoping filters" in disabled["provisioningSteps"][1]["description"]


def test_restart_during_a_full_cycle_is_not_lost(sync_app: App) -> None:
    import threading

    from tests.helpers.faultproxy import FaultPlan, FaultProxy

    app = sync_app
    slow = FaultProxy(app.target.base_url, FaultPlan(delay=0.05)).start()
    try:
        app.service.put_secrets(app.tenant.id, app.sp_id, {"BaseAddress": slow.url, "SecretToken": app.target.token})
        for _ in range(20):
            app.assign(person(app.tenant)["id"])
        run = app.service.engine.open_cycle(app.job_id, CycleKind.INITIAL)
        cycle = threading.Thread(target=run.full)
        cycle.start()
        wait_for(lambda: len(app.target.users()) >= 3)
        app.service.restart(app.tenant.id, app.sp_id, app.job_id, "Watermark")
        cycle.join()
        assert len(app.target.users()) == 20
        with app.service.sessions() as session:
            job = session.get(ProvisioningJob, app.job_id)
            assert job is not None and job.full_pending  # the restart asked for another full cycle
        app.settle()
        with app.service.sessions() as session:
            job = session.get(ProvisioningJob, app.job_id)
            assert job is not None and not job.full_pending
    finally:
        slow.stop()


def test_stored_base_address_the_guard_refuses_quarantines_the_job(
    sync_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    """A base address saved before the guard refused its spelling (an octal IPv4 address here; such an address is
    a 400 when saved now) fails the job into quarantine, logged: no exception out of the cycle, so no crash loop of
    the runner re-claiming the job."""
    app = sync_app
    with app.service.sessions.begin() as session:
        row = session.get(ProvisioningSecrets, app.sp_id)
        assert row is not None
        secrets = {"BaseAddress": "https://0177.0.0.1/scim", "SecretToken": app.target.token}
        row.sealed = seal(app.service.box, app.sp_id, secrets)
    app.assign(person(app.tenant)["id"])
    runner = ProvisioningRunner(app.service.sessions, app.service.settings, app.service.box)
    with caplog.at_level(logging.WARNING, logger="hospes.provisioning"):
        runner.start()
        try:
            wait_for(lambda: app.status()["code"] == JobCode.QUARANTINE, timeout=10.0)
        finally:
            runner.stop()
        # The next quarantine retries go the same way (the engine on a clock moved past each backoff).
        clock = FakeClock()
        engine = Engine(app.service.sessions, app.service.settings, app.service.box, clock=clock, sleep=clock.sleep)
        series = app.status()["quarantine"]["seriesCount"]
        for _ in range(2):
            clock.advance(60)
            assert engine.step(app.job_id)
    quarantine = app.status()["quarantine"]
    assert quarantine["seriesCount"] == series + 2
    assert quarantine["error"]["code"] == "InvalidBaseAddress"
    assert "0177.0.0.1" in quarantine["error"]["message"]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert any("quarantined" in r.getMessage() for r in caplog.records)
    assert app.target.users() == []


def test_a_live_runner_keeps_its_lease_through_a_long_phase(
    tenant: TenantHandle, service: ProvisioningService, scim_target: Target
) -> None:
    """One object at a time through a slow target: the phase (about 9 s) outlasts the 4-s lease twice over. The
    lease is renewed while the runner lives, so a second runner never takes the job over, and each user is created
    once. (A 3-s lease left the heartbeat too little slack on a loaded CI machine: a renewal late by a second is a
    takeover, which is what the lease is for, not what this test is about.)"""
    slow = FaultProxy(scim_target.base_url, FaultPlan(delay=0.15)).start()
    slow.record = True
    settings = service.settings.model_copy(update={"provisioning_lease_seconds": 4, "provisioning_concurrency": 1})
    runners: list[ProvisioningRunner] = []
    try:
        app = make_app(
            tenant, ProvisioningService(service.sessions, settings, service.box), scim_target, base_url=slow.url
        )
        users = [person(tenant) for _ in range(60)]
        for user in users:
            app.assign(user["id"])
        runners = [ProvisioningRunner(service.sessions, settings, service.box) for _ in range(2)]
        runners[0].start()
        wait_for(lambda: len(scim_target.users()) >= 1, timeout=60)
        runners[1].start()
        wait_for(lambda: len(scim_target.users()) == len(users), timeout=90)
    finally:
        for runner in runners:
            runner.stop()
        slow.stop()
    with service.sessions() as session:
        epoch = session.scalar(select(ProvisioningJob.lease_epoch).where(ProvisioningJob.id == app.job_id))
    assert epoch == 1  # claimed once, never taken over
    creates = [a for a in slow.arrivals if a.method == "POST" and a.path.rstrip("/").endswith("/Users")]
    assert len(creates) == len(users)


def test_a_runner_whose_lease_was_taken_over_writes_and_pushes_nothing(sync_app: App) -> None:
    app = sync_app
    for _ in range(3):
        app.assign(person(app.tenant)["id"])
    with app.service.sessions.begin() as session:
        session.execute(
            update(ProvisioningJob)
            .where(ProvisioningJob.id == app.job_id)
            .values(lease_owner="other-host", lease_epoch=ProvisioningJob.lease_epoch + 1)
        )
        epoch = session.scalar(select(ProvisioningJob.lease_epoch).where(ProvisioningJob.id == app.job_id))
    stale = JobLease(app.job_id, "this-host", int(epoch or 0) - 1)  # the claim before the takeover
    with pytest.raises(LostLeaseError):
        app.service.engine.step(app.job_id, None, stale)
    assert app.target.users() == []
    with app.service.sessions() as session:
        job = session.get(ProvisioningJob, app.job_id)
        assert job is not None and job.cycle_id is None and job.lease_owner == "other-host"
