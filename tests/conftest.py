"""Shared fixtures: a migrated database per backend (SQLite always, PostgreSQL when configured) and per pytest-xdist
worker, the ASGI app, and tenant factories. Tests isolate themselves by creating their own tenants, which is also
how the product isolates its customers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from hospes.asgi import create_app
from hospes.auth import passwords
from hospes.services.tenants import create_tenant
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from tests.helpers.env import CHROMIUM, PG_URL, PGBOUNCER_PORT, REQUIRE_ALL
from tests.helpers.live import TEST_SECRET_KEY
from tests.helpers.mail import MailSink
from tests.helpers.tenants import ADMIN_PASSWORD, TenantHandle, fetch_token

PUBLIC_URL = "http://testserver"

# pytest-xdist workers start with COLUMNS=80 and LINES=24 set, and the CLI's module-level rich consoles, created
# when the test modules import the CLI, would keep that width for good; unset, they read COLUMNS when they print,
# which the CLI tests set to get unwrapped tables.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


def pytest_report_header() -> list[str]:
    """Printed by the main process (with xdist its workers' headers are not shown), so both lines live here."""
    lines = []
    if PG_URL:
        lines.append("hospes: running against SQLite and PostgreSQL")
    else:
        lines.append(
            "hospes: HOSPES_TEST_POSTGRES_URL is not set: PostgreSQL variants are SKIPPED (CI always runs them)"
        )
    if Path(CHROMIUM).exists():
        lines.append(f"hospes: browser tests use {CHROMIUM}")
    else:
        lines.append(
            f"hospes: {CHROMIUM} is missing: browser tests are SKIPPED (apt-get install chromium; CI always runs them)"
        )
    return lines


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at the production cost takes tens of milliseconds per hash and per check, a fifth of the time of
    the tests that create tenants and users. The tests check which passwords are accepted, not the cost, so this
    process hashes with the smallest parameters. Live servers (other processes) keep the production parameters and
    check these hashes all the same: argon2 reads the parameters from the hash."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        yield


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        # tmp_path_factory's base folder is already per xdist worker.
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'hospes.db'}"
        upgrade(url)
        yield url
        return
    if not PG_URL:
        if REQUIRE_ALL:
            pytest.fail("HOSPES_TEST_POSTGRES_URL must be set in CI")
        pytest.skip("PostgreSQL not configured (set HOSPES_TEST_POSTGRES_URL)")
    # One database per pytest-xdist worker ("gw0", "gw1", ...; "main" without xdist), named so it can be told apart.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"hospes_test_{worker}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    if PGBOUNCER_PORT:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{PGBOUNCER_PORT}/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        public_url=PUBLIC_URL,
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key=TEST_SECRET_KEY,
    )


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    database = Database.for_settings(settings)  # as the app's: HOSPES_DB_* settings apply
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def sessions(database: Database) -> sessionmaker[Session]:
    return database.sessions


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings, housekeeping=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_tenant(client: TestClient, sessions: sessionmaker[Session]) -> Any:
    def factory(name: str = "Contoso") -> TenantHandle:
        domain = f"{name.lower()}-{uuid.uuid4().hex[:8]}.example"
        boot = create_tenant(sessions, name, domain, admin_password=ADMIN_PASSWORD)
        return TenantHandle(boot, client, fetch_token(client, domain, boot.client_id, boot.client_secret))

    return factory


@pytest.fixture
def tenant(make_tenant: Any) -> TenantHandle:
    handle: TenantHandle = make_tenant("Contoso")
    return handle


@pytest.fixture
def other_tenant(make_tenant: Any) -> TenantHandle:
    handle: TenantHandle = make_tenant("Fabrikam")
    return handle


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    """A real SMTP server (aiosmtpd) on a free loopback port, collecting the messages it receives."""
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    """A browser-like client for the sign-in pages: no automatic redirects, and its own client address, so the
    per-address lockout of one test never spills into another."""
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False, client=(address, 50000)) as test:
        yield test
