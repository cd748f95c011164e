"""Several Hospes "hosts" on one machine: a PostgreSQL database of their own, ``hospes worker`` and ``hospes
serve`` processes with separate data folders (optionally under ``faketime``, a host whose clock is wrong), and an
in-process API to queue work for them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from hospes.asgi import create_app
from hospes.services.tenants import create_tenant
from hospes.settings import Settings
from hospes.storage.engine import Database
from tests.helpers.env import PG_URL
from tests.helpers.live import TEST_SECRET_KEY
from tests.helpers.tenants import TenantHandle, fetch_token


@contextmanager
def own_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (not migrated), dropped afterwards."""
    name = f"hospes_{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def host_settings(url: str, data_dir: Path, **values: object) -> Settings:
    return Settings(
        database_url=url,
        public_url="http://testserver",
        data_dir=data_dir,
        secret_key=TEST_SECRET_KEY,
        **values,  # type: ignore[arg-type]
    )


@dataclass
class Api:
    """An in-process API node without background work, and one tenant on it."""

    database: Database
    client: TestClient
    tenant: TenantHandle


@contextmanager
def api_node(settings: Settings) -> Iterator[Api]:
    database = Database.open(settings.effective_database_url)
    try:
        boot = create_tenant(database.sessions, "Fleet", f"fleet-{uuid.uuid4().hex[:8]}.example")
        with TestClient(create_app(settings, housekeeping=False), raise_server_exceptions=False) as client:
            token = fetch_token(client, boot.domain, boot.client_id, boot.client_secret)
            yield Api(database, client, TenantHandle(boot, client, token))
    finally:
        database.dispose()


def invite(tenant: TenantHandle, addresses: list[str]) -> None:
    for address in addresses:
        body = {
            "invitedUserEmailAddress": address,
            "inviteRedirectUrl": "https://a.example/",
            "sendInvitationMessage": True,
        }
        response = tenant.post("/invitations", json=body)
        assert response.status_code == 201, response.text


def start_host(
    command: list[str], url: str, data_dir: Path, log: Path, env: dict[str, str], *, prefix: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """``python -m hospes <command>`` as a host of its own (its own data folder, the deployment's secret key),
    behind ``prefix`` (e.g. ``faketime +90s``); its output appended to ``log``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        "HOSPES_DATABASE_URL": url,
        "HOSPES_DATA_DIR": str(data_dir),
        "HOSPES_SECRET_KEY": TEST_SECRET_KEY,
        "HOSPES_PUBLIC_URL": "http://testserver",
        **env,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "hospes", *command], env=full_env, stdout=out, stderr=out
        )


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
