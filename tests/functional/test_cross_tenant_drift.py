"""Drift repair of cross-tenant synchronization in one deployment: the target tenant's administrators edit a
synchronized user out of band, and the job (reading the target tenant's change log from its saved position) puts
the source's values back at its next pass, logs it, never loops on its own writes, and falls back to one full
comparison when its position is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.changes import ObjectType
from hospes.provisioning.drift import DriftWatch
from hospes.storage.tables import ChangeLog, User
from hospes.storage.tables_provisioning import ProvisioningJob
from tests.helpers.cross_tenant import SyncConfig, allow_sync, make_config
from tests.helpers.tenants import TenantHandle

REPAIRED = "drift repaired"


@pytest.fixture
def config(tenant: TenantHandle, other_tenant: TenantHandle) -> Iterator[SyncConfig]:
    allow_sync(other_tenant, tenant)
    sync = make_config(tenant, other_tenant)
    assert sync.validate().status_code == 204
    sync.create_job()
    sync.start()
    watch = sync.service.engine.drift
    interval, watch.interval = watch.interval, 0.0  # the feed is read at every step: the test drives the passes
    try:
        yield sync
    finally:
        watch.interval = interval


def _synced(sessions: sessionmaker[Session], target: TenantHandle, source_user_id: str) -> User:
    with sessions() as session:
        user = session.scalar(
            select(User).where(User.tenant_id == target.id, User.alt_sec_id == f"5::{source_user_id}")
        )
    assert user is not None
    return user


def _synchronized_member(config: SyncConfig, sessions: sessionmaker[Session], nick: str) -> tuple[dict[str, Any], User]:
    source = config.source
    member = source.new_user(nick, mail=f"{nick}@{source.domain}", jobTitle="Engineer", department="R&D")
    config.assign(member["id"])
    config.settle()
    return member, _synced(sessions, config.target, member["id"])


def _repairs(config: SyncConfig) -> list[dict[str, Any]]:
    return [
        row
        for row in config.logs()
        if row["provisioningAction"] == "update"
        and any(REPAIRED in (s["description"] or "") for s in row["provisioningSteps"])
    ]


def _target_changes(sessions: sessionmaker[Session], target: TenantHandle, user_id: str) -> int:
    with sessions() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    ChangeLog.tenant_id == target.id,
                    ChangeLog.object_type == ObjectType.USER,
                    ChangeLog.object_id == user_id,
                )
            )
            or 0
        )


def test_a_target_admins_edit_and_disable_are_repaired_and_logged(
    config: SyncConfig, sessions: sessionmaker[Session]
) -> None:
    member, synced = _synchronized_member(config, sessions, "alice")
    edited = config.target.patch(f"/users/{synced.id}", json={"jobTitle": "Intern", "accountEnabled": False})
    assert edited.status_code == 204, edited.text
    assert _synced(sessions, config.target, member["id"]).job_title == "Intern"
    config.settle()
    back = _synced(sessions, config.target, member["id"])
    assert back.id == synced.id and back.job_title == "Engineer" and back.account_enabled is True
    [row] = _repairs(config)
    assert row["provisioningStatusInfo"]["status"] == "success"
    assert row["targetIdentity"]["id"] == synced.id
    changed = {p["displayName"]: (p["oldValue"], p["newValue"]) for p in row["modifiedProperties"]}
    assert changed == {"jobTitle": ("Intern", "Engineer"), "accountEnabled": ("False", "True")}
    with sessions() as session:
        job = session.get(ProvisioningJob, config.job_id)
        assert job is not None and (job.drift_position or "").startswith(f"log:{config.target.id}:")


def test_the_jobs_own_writes_are_no_drift(config: SyncConfig, sessions: sessionmaker[Session]) -> None:
    member, synced = _synchronized_member(config, sessions, "bob")
    for title in ("Lead", "Architect", "Director"):
        assert config.source.patch(f"/users/{member['id']}", json={"jobTitle": title}).status_code == 204
        config.settle()
    writes = _target_changes(sessions, config.target, synced.id)
    for _ in range(5):  # every step reads the feed again, its own updates included
        config.service.engine.step(config.job_id)
    assert _target_changes(sessions, config.target, synced.id) == writes
    assert _synced(sessions, config.target, member["id"]).job_title == "Director"
    assert _repairs(config) == []


def test_a_refused_position_falls_back_to_one_full_comparison(
    config: SyncConfig, sessions: sessionmaker[Session]
) -> None:
    member, synced = _synchronized_member(config, sessions, "carol")
    config.settle()  # the first read starts the feed from now on; the position is saved
    assert config.target.patch(f"/users/{synced.id}", json={"department": "Sales"}).status_code == 204
    with sessions() as session:
        head = session.scalar(select(func.max(ChangeLog.seq)).where(ChangeLog.tenant_id == config.target.id))
    # A position past the edit, but older than the change log's retention: refused, so everything is compared.
    expired = f"log:{config.target.id}:{head}:0"
    for position in (expired, "graph:not-this-target"):
        with sessions.begin() as session:
            session.execute(
                update(ProvisioningJob).where(ProvisioningJob.id == config.job_id).values(drift_position=position)
            )
        config.settle()
        assert _synced(sessions, config.target, member["id"]).department == "R&D"
        with sessions() as session:
            job = session.get(ProvisioningJob, config.job_id)
            assert job is not None and job.drift_position is not None and job.drift_position != position
            assert job.drift_position.startswith(f"log:{config.target.id}:")
        assert config.target.patch(f"/users/{synced.id}", json={"department": "Sales"}).status_code == 204
    assert len(_repairs(config)) == 2  # one per refused position: each full comparison found the edit


def test_a_user_the_target_admin_deleted_stays_deleted(config: SyncConfig, sessions: sessionmaker[Session]) -> None:
    member, synced = _synchronized_member(config, sessions, "dave")
    assert config.target.delete(f"/users/{synced.id}").status_code == 204
    config.settle()
    assert _synced(sessions, config.target, member["id"]).deleted_at is not None  # not restored
    for _ in range(3):
        config.service.engine.step(config.job_id)
    assert _synced(sessions, config.target, member["id"]).deleted_at is not None
    notes = [
        row
        for row in config.logs()
        if (row["provisioningStatusInfo"]["errorInformation"] or {}).get("errorCode")
        == "AzureActiveDirectoryObjectDeletedInTarget"
    ]
    assert len(notes) == 1 and notes[0]["provisioningStatusInfo"]["status"] == "skipped"  # logged once
    assert _repairs(config) == []


def test_a_user_purged_in_the_target_is_provisioned_again(config: SyncConfig, sessions: sessionmaker[Session]) -> None:
    member, synced = _synchronized_member(config, sessions, "erin")
    assert config.target.delete(f"/users/{synced.id}").status_code == 204
    config.settle()  # soft-deleted by its admin: left so
    purged = config.target.delete(f"/directory/deletedItems/{synced.id}")
    assert purged.status_code == 204, purged.text
    config.settle()
    again = _synced(sessions, config.target, member["id"])
    assert again.id != synced.id and again.deleted_at is None and again.job_title == "Engineer"


def test_a_reconciliation_compares_every_user(config: SyncConfig, sessions: sessionmaker[Session]) -> None:
    member, synced = _synchronized_member(config, sessions, "fay")
    assert config.target.patch(f"/users/{synced.id}", json={"officeLocation": "Attic"}).status_code == 204
    with sessions() as session:
        head = session.scalar(select(func.max(ChangeLog.seq)).where(ChangeLog.tenant_id == config.target.id))
    # A valid position past the edit, as if the feed had never shown it: only a full comparison finds it.
    past = f"log:{config.target.id}:{head}:{int(time.time())}"
    with sessions.begin() as session:
        session.execute(update(ProvisioningJob).where(ProvisioningJob.id == config.job_id).values(drift_position=past))
    config.settle()
    assert _synced(sessions, config.target, member["id"]).office_location == "Attic"
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    with sessions.begin() as session:
        job = update(ProvisioningJob).where(ProvisioningJob.id == config.job_id)
        session.execute(job.values(last_reconcile_at=long_ago))
    config.settle()  # the reconciliation, then a read of the feed that compares every user
    assert _synced(sessions, config.target, member["id"]).office_location is None
    [row] = _repairs(config)
    assert [(p["displayName"], p["oldValue"]) for p in row["modifiedProperties"]] == [("officeLocation", "Attic")]


def test_the_position_survives_a_restart(config: SyncConfig, sessions: sessionmaker[Session]) -> None:
    member, synced = _synchronized_member(config, sessions, "gus")
    assert config.source.patch(f"/users/{member['id']}", json={"jobTitle": "Lead"}).status_code == 204
    config.settle()  # reads the feed past the job's own update (a newer position, kept in memory only)
    assert config.target.patch(f"/users/{synced.id}", json={"jobTitle": "Intern"}).status_code == 204
    engine = config.service.engine
    kept = engine.drift
    engine.drift = DriftWatch(0.0)  # a new process: nothing in memory, the position from the database
    try:
        config.settle()
    finally:
        engine.drift = kept
    # Had the position been lost, a new job's feed would start from now on and miss the edit.
    assert _synced(sessions, config.target, member["id"]).job_title == "Lead"
    assert len(_repairs(config)) == 1
