"""Cross-tenant synchronization survives a SIGKILL mid-cycle, for both connectors: into a tenant of the same
deployment (a ``hospes worker`` process killed, the engine then resumed) and into another deployment over Graph
(the source's ``hospes serve`` killed and started again). Every source user ends up exactly once in the target,
and a change made while the killed cycle ran is not lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from hospes.storage.tables import User
from hospes.storage.tables_provisioning import ProvisioningJob
from tests.helpers.cross_deployment import (
    SOURCE_ENV,
    Deployment,
    allow_sync,
    deployment,
    eventually,
    make_remote_sync,
    many_members,
)
from tests.helpers.cross_tenant import allow_sync as allow_local_sync
from tests.helpers.cross_tenant import make_config
from tests.helpers.live import run_server
from tests.helpers.tenants import TenantHandle

USERS = 300


def _synced(sessions: sessionmaker[Session], target_tenant: str) -> dict[str, int]:
    """Target users per anchor."""
    with sessions() as session:
        rows = session.execute(
            select(User.alt_sec_id, func.count())
            .where(User.tenant_id == target_tenant, User.alt_sec_id.is_not(None))
            .group_by(User.alt_sec_id)
        ).all()
    return {str(anchor): int(count) for anchor, count in rows}


def _job_title(sessions: sessionmaker[Session], target_tenant: str, source_user: str) -> str | None:
    with sessions() as session:
        return session.scalar(
            select(User.job_title).where(User.tenant_id == target_tenant, User.alt_sec_id == f"5::{source_user}")
        )


def _wait_for_some(sessions: sessionmaker[Session], target_tenant: str, alive: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + 90
    while len(_synced(sessions, target_tenant)) < 20:
        assert alive(), log.read_text()[-3000:] if log.exists() else "the process died"
        assert time.monotonic() < deadline, "nothing was synchronized: " + (
            log.read_text()[-3000:] if log.exists() else ""
        )
        time.sleep(0.02)


def test_same_deployment_worker_killed_mid_cycle(
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    sessions: sessionmaker[Session],
    settings: Settings,
    tmp_path: Path,
) -> None:
    source, target = tenant, other_tenant
    allow_local_sync(target, source)
    config = make_config(source, target)
    config.create_job()
    ids = many_members(sessions, source.id, source.domain, "crash", USERS)
    for user_id in ids:
        config.assign(user_id)
    config.start()
    env = {
        **os.environ,
        "HOSPES_DATABASE_URL": settings.effective_database_url,
        "HOSPES_DATA_DIR": str(settings.data_dir),
        "HOSPES_SECRET_KEY": settings.secret_key,
        "HOSPES_PROVISIONING_POLL_SECONDS": "0.05",
        # Two writers at a time: group-committed in batches of eight, the 300 users were all in before the kill.
        "HOSPES_PROVISIONING_CONCURRENCY": "2",
        "HOSPES_SMTP_HOST": "",
        "HOSPES_BULK_WORKER": "false",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:  # a file, not a pipe: a chatty worker must never block on a full pipe
        worker = subprocess.Popen([sys.executable, "-m", "hospes", "worker"], env=env, stdout=sink, stderr=sink)
    try:
        _wait_for_some(sessions, target.id, lambda: worker.poll() is None, log)
        assert source.patch(f"/users/{ids[0]}", json={"jobTitle": "Changed mid-cycle"}).status_code == 204
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    partial = len(_synced(sessions, target.id))
    assert 20 <= partial < USERS, "kill the worker mid-cycle"
    config.settle()  # the engine resumes
    synced = _synced(sessions, target.id)
    assert synced == {f"5::{user_id}": 1 for user_id in ids}  # everyone, once
    assert _job_title(sessions, target.id, ids[0]) == "Changed mid-cycle"


def test_other_deployment_source_server_killed_mid_cycle(tmp_path: Path) -> None:
    with deployment("target", tmp_path) as target_deployment:
        url = f"sqlite:///{tmp_path / 'source.db'}"
        upgrade(url)
        database = Database.open(url)
        data_dir = tmp_path / "source-data"
        data_dir.mkdir()
        source_deployment = Deployment("source", url, database, str(data_dir), dict(SOURCE_ENV))
        try:
            with run_server(url, str(data_dir), SOURCE_ENV) as first:
                source_deployment.server = first
                source, target = source_deployment.tenant("Contoso"), target_deployment.tenant("Fabrikam")
                allow_sync(target, source)
                sync = make_remote_sync(source, target)
                sync.create_job(start=False)
                ids = many_members(database.sessions, source.id, source.domain, "crash", USERS)
                for user_id in ids:
                    sync.assign(user_id)
                assert source.post(f"{sync.base}/jobs/{sync.job_id}/start").status_code == 204
                target_sessions = target_deployment.sessions
                _wait_for_some(target_sessions, target.id, lambda: True, tmp_path / "none")
                assert source.patch(f"/users/{ids[0]}", json={"jobTitle": "Changed mid-cycle"}).status_code == 204
                os.kill(first.pid, signal.SIGKILL)
            partial = len(_synced(target_sessions, target.id))
            assert 20 <= partial < USERS, "kill the server mid-cycle"
            # The killed process's lease on the job would expire within a minute; move it into the past instead of
            # waiting for it.
            with database.sessions.begin() as session:
                session.execute(
                    update(ProvisioningJob)
                    .where(ProvisioningJob.id == sync.job_id)
                    .values(lease_until=utcnow() - timedelta(seconds=1))
                )
            with run_server(url, str(data_dir), SOURCE_ENV) as second:
                source_deployment.server = second
                source.reconnect()
                expected = {f"5::{user_id}": 1 for user_id in ids}
                eventually(lambda: _synced(target_sessions, target.id) == expected, 120, "every user once")
                eventually(
                    lambda: _job_title(target_sessions, target.id, ids[0]) == "Changed mid-cycle", 60, "the change"
                )
                assert _synced(target_sessions, target.id) == expected
        finally:
            database.dispose()
