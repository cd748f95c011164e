"""Durability of the timers: a batch of access-package expiries is due, ``hospes worker`` is killed with SIGKILL
once it has started on them, and a second worker finishes: every assignment expired exactly once (one removal
request, one membership removal in the change log, one audit row, one "access ended" mail each), whichever worker
ran it. On each backend, on a database of its own (a worker runs every tenant's background work)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from hospes.asgi import create_app
from hospes.domain.clock import utcnow
from hospes.services.tenants import create_tenant
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from hospes.storage.tables import AuditLog, ChangeLog, OutboxMessage
from hospes.storage.tables_entitlement import EmAssignment, EmRequest
from hospes.storage.tables_timers import DueAction
from tests.helpers.entitlement import EM, make_bundle, ok, policy_body, seed_assignments
from tests.helpers.env import PG_URL
from tests.helpers.live import TEST_SECRET_KEY
from tests.helpers.tenants import TenantHandle, fetch_token
from tests.helpers.wait import wait_until

ASSIGNMENTS = 400
EXPIRE = "entitlement.expire"


@pytest.fixture
def own_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'timers.db'}"
        upgrade(url)
        yield url
        return
    name = f"hospes_timers_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _assign_many(url: str, data_dir: Path) -> tuple[str, str]:
    """``ASSIGNMENTS`` users holding the package, every one ending already."""
    settings = Settings(database_url=url, public_url="http://testserver", data_dir=data_dir, secret_key=TEST_SECRET_KEY)
    database = Database.open(url)
    try:
        boot = create_tenant(database.sessions, "Crash", f"crash-{uuid.uuid4().hex[:8]}.example")
        with TestClient(create_app(settings, housekeeping=False)) as client:
            tenant = TenantHandle(boot, client, fetch_token(client, boot.domain, boot.client_id, boot.client_secret))
            bundle = make_bundle(tenant, "Crash")
            policy = ok(
                tenant.post(f"{EM}/assignmentPolicies", json=policy_body(bundle.package["id"], "notSpecified")), 201
            )
        past = utcnow() - timedelta(seconds=1)  # every end already due when the worker starts
        seed_assignments(database.sessions, boot.tenant_id, bundle.package["id"], policy["id"], ASSIGNMENTS, past)
        return boot.tenant_id, bundle.group["id"]
    finally:
        database.dispose()


def _start_worker(url: str, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HOSPES_DATABASE_URL": url,
        "HOSPES_DATA_DIR": str(data_dir),
        "HOSPES_SECRET_KEY": TEST_SECRET_KEY,
        "HOSPES_PUBLIC_URL": "http://testserver",
        "HOSPES_TIMERS_POLL_SECONDS": "0.1",
        "HOSPES_TIMERS_LEASE_SECONDS": "3",
    }
    with log.open("ab") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "hospes", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=errors
        )


def test_a_killed_worker_s_expiries_each_happen_once(own_database: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tenant_id, group_id = _assign_many(own_database, data_dir)
    database = Database.open(own_database)
    sessions = database.sessions

    def expiries(*where: object) -> int:
        # A read-only session: on SQLite a writing one would queue behind the worker's batches and see only the end.
        with database.read_sessions() as session:
            return int(
                session.scalar(select(func.count()).select_from(DueAction).where(DueAction.kind == EXPIRE, *where)) or 0
            )

    log = tmp_path / "workers.log"
    first = second = None
    try:
        first = _start_worker(own_database, data_dir, log)
        # Killed once it holds claims: a batch leased (maybe part of it committed), the rest still due.
        wait_until(
            lambda: expiries(DueAction.lease_owner.is_not(None)) > 0 or expiries(DueAction.done_at.is_not(None)) > 0,
            timeout=90,
            interval=0.01,
            what="the first worker's claims",
        )
        first.kill()
        first.wait(10)
        done_by_first = expiries(DueAction.done_at.is_not(None))
        assert done_by_first < ASSIGNMENTS, "the first worker finished everything before the kill"
        second = _start_worker(own_database, data_dir, log)
        wait_until(
            lambda: expiries(DueAction.done_at.is_not(None)) == ASSIGNMENTS,
            timeout=120,
            interval=0.2,
            what="every expiry after the kill",
        )
        second.terminate()
        second.wait(15)
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.kill()
    with sessions() as session:
        states = Counter(session.scalars(select(EmAssignment.state).where(EmAssignment.tenant_id == tenant_id)))
        assert states == {"expired": ASSIGNMENTS}
        removals = Counter(
            session.scalars(
                select(EmRequest.assignment_id).where(
                    EmRequest.tenant_id == tenant_id, EmRequest.request_type == "systemRemove"
                )
            )
        )
        assert len(removals) == ASSIGNMENTS and set(removals.values()) == {1}
        removed = Counter(
            session.scalars(
                select(ChangeLog.related_id).where(
                    ChangeLog.tenant_id == tenant_id,
                    ChangeLog.object_id == group_id,
                    ChangeLog.change_type == "member_removed",
                )
            )
        )
        assert len(removed) == ASSIGNMENTS and set(removed.values()) == {1}
        audited = Counter(
            session.scalars(
                select(AuditLog.target_id).where(
                    AuditLog.tenant_id == tenant_id, AuditLog.activity == "Access package assignment expired"
                )
            )
        )
        assert len(audited) == ASSIGNMENTS and set(audited.values()) == {1}
        ended = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.kind == "access_ended")
        )
        assert ended == ASSIGNMENTS
        outcomes = Counter(session.scalars(select(DueAction.outcome).where(DueAction.kind == EXPIRE)))
        assert outcomes == {"done": ASSIGNMENTS}
    database.dispose()
