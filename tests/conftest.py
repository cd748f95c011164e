"""Shared fixtures: a migrated database per backend (SQLite always, PostgreSQL when configured), the ASGI app,
and tenant factories. Tests isolate themselves by creating their own tenants, which is also how the product
isolates its customers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from hospes.asgi import create_app
from hospes.services.tenants import TenantBootstrap, create_tenant
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from tests.live import TEST_SECRET_KEY

PG_URL = os.environ.get("HOSPES_TEST_POSTGRES_URL", "")
REQUIRE_ALL = os.environ.get("HOSPES_TEST_REQUIRE_ALL") == "1" or os.environ.get("CI") == "true"
PUBLIC_URL = "http://testserver"


def pytest_report_header() -> list[str]:
    if PG_URL:
        return ["hospes: running against SQLite and PostgreSQL"]
    return ["hospes: HOSPES_TEST_POSTGRES_URL is not set: PostgreSQL variants are SKIPPED (CI always runs them)"]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'hospes.db'}"
        upgrade(url)
        yield url
        return
    if not PG_URL:
        if REQUIRE_ALL:
            pytest.fail("HOSPES_TEST_POSTGRES_URL must be set in CI")
        pytest.skip("PostgreSQL not configured (set HOSPES_TEST_POSTGRES_URL)")
    name = f"hospes_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
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
def database(settings: Settings) -> Database:
    return Database.open(settings.effective_database_url)


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


@dataclass
class TenantHandle:
    """A tenant made for one test, with an authenticated Graph client for its bootstrap app."""

    boot: TenantBootstrap
    client: TestClient
    token: str

    @property
    def id(self) -> str:
        return self.boot.tenant_id

    @property
    def domain(self) -> str:
        return self.boot.domain

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        url = path if path.startswith("http") else f"/v1.0{path}"
        return self.client.request(method, url, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def new_user(self, nickname: str | None = None, **props: Any) -> dict[str, Any]:
        nickname = nickname or f"u{uuid.uuid4().hex[:8]}"
        body = {
            "accountEnabled": True,
            "displayName": nickname.title(),
            "mailNickname": nickname,
            "userPrincipalName": f"{nickname}@{self.domain}",
            "passwordProfile": {"password": "Correct-Horse-9"},
            **props,
        }
        response = self.post("/users", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def new_group(self, name: str = "Team", **props: Any) -> dict[str, Any]:
        body = {
            "displayName": name,
            "mailEnabled": False,
            "mailNickname": name.lower().replace(" ", ""),
            "securityEnabled": True,
            **props,
        }
        response = self.post("/groups", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


def fetch_token(
    client: TestClient,
    tenant: str,
    client_id: str,
    secret: str,
    scope: str = "https://graph.microsoft.com/.default",
) -> str:
    response = client.post(
        f"/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def make_tenant(client: TestClient, sessions: sessionmaker[Session]) -> Any:
    def factory(name: str = "Contoso") -> TenantHandle:
        domain = f"{name.lower()}-{uuid.uuid4().hex[:8]}.example"
        boot = create_tenant(sessions, name, domain, admin_password="Admin-Pass-123")
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


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def mail_sink() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on a free loopback port, collecting the messages it receives."""
    from tests.mailsink import MailSink

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
