"""A PostgreSQL primary and a streaming standby that applies each commit two seconds late: reads that opt into
staleness (``ConsistencyLevel: eventual``) go to the standby, every other read and every delta round stays on the
primary, so a delta client interleaved with writes loses no object."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from hospes.asgi import create_app
from hospes.services.tenants import create_tenant
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from tests.helpers.infra import PostgresPair, postgres_pair
from tests.helpers.live import TEST_SECRET_KEY
from tests.helpers.tenants import fetch_token

EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.fixture(scope="module")
def pair() -> Iterator[PostgresPair]:
    with postgres_pair(apply_delay="2s") as started:
        yield started


def _caught_up(pair: PostgresPair) -> None:
    """Wait until the standby has applied everything the primary committed so far."""
    primary, standby = create_engine(pair.primary_url), create_engine(pair.standby_url)
    with primary.connect() as conn:
        target = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()
    deadline = time.monotonic() + 30
    with standby.connect() as conn:
        while not conn.execute(text("SELECT pg_last_wal_replay_lsn() >= :t"), {"t": target}).scalar_one():
            assert time.monotonic() < deadline, "the standby did not catch up"
            time.sleep(0.2)
            conn.rollback()
    primary.dispose()
    standby.dispose()


@pytest.fixture(scope="module")
def fleet(pair: PostgresPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    upgrade(pair.primary_url)
    database = Database.open(pair.primary_url)
    boot = create_tenant(database.sessions, "Replica", f"r-{uuid.uuid4().hex[:8]}.example")
    database.dispose()
    settings = Settings(
        database_url=pair.primary_url,
        database_replica_urls=pair.standby_url,
        replica_max_lag_seconds=30,
        public_url="http://testserver",
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key=TEST_SECRET_KEY,
    )
    app = create_app(settings, housekeeping=False)
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 5000)) as client:
        token = fetch_token(client, boot.domain, boot.client_id, boot.client_secret)
        _caught_up(pair)
        yield client, {"Authorization": f"Bearer {token}"}


def _new_user(client: TestClient, headers: dict[str, str], name: str) -> str:
    nickname = f"{name}{uuid.uuid4().hex[:6]}"
    domain = client.get("/v1.0/organization", headers=headers).json()["value"][0]["verifiedDomains"][0]["name"]
    created = client.post(
        "/v1.0/users",
        headers=headers,
        json={
            "accountEnabled": True,
            "displayName": nickname,
            "mailNickname": nickname,
            "userPrincipalName": f"{nickname}@{domain}",
            "passwordProfile": {"password": "Correct-Horse-9"},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _named(client: TestClient, headers: dict[str, str], user_id: str, **extra: str) -> list[Any]:
    answer = client.get(f"/v1.0/users?$filter=id eq '{user_id}'", headers={**headers, **extra})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["value"])


def test_eventual_reads_go_to_the_replica_and_the_rest_to_the_primary(
    fleet: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = fleet
    user_id = _new_user(client, headers, "fresh")
    # the standby applies it two seconds late: an eventual read does not see it yet, a plain one does
    assert _named(client, headers, user_id, **EVENTUAL) == []
    assert [u["id"] for u in _named(client, headers, user_id)] == [user_id]
    deadline = time.monotonic() + 15
    while not _named(client, headers, user_id, **EVENTUAL):
        assert time.monotonic() < deadline, "the replica never showed the user"
        time.sleep(0.3)
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    (replica,) = ready["replicas"]
    assert replica["withinLimit"] is True and replica["lagSeconds"] is not None


def test_delta_rounds_stay_on_the_primary_and_lose_nothing(fleet: tuple[TestClient, dict[str, str]]) -> None:
    """Users created while a client pages through a delta round, and between rounds, all reach it, although
    the client asks for eventual consistency on every request and the replica is two seconds behind."""
    client, headers = fleet
    created = {_new_user(client, headers, "before") for _ in range(3)}
    seen: set[str] = set()
    url = "/v1.0/users/delta?$select=displayName"
    paging = {**headers, **EVENTUAL, "Prefer": "odata.maxpagesize=2"}
    for _ in range(3):  # rounds
        while True:
            body = client.get(url, headers=paging).json()
            seen |= {item["id"] for item in body["value"]}
            created.add(_new_user(client, headers, "during"))
            if "@odata.deltaLink" in body:
                url = body["@odata.deltaLink"]
                break
            url = body["@odata.nextLink"]
    body = client.get(url, headers=paging).json()  # the last round picks up the last writes
    while "@odata.nextLink" in body:
        seen |= {item["id"] for item in body["value"]}
        body = client.get(body["@odata.nextLink"], headers=paging).json()
    seen |= {item["id"] for item in body["value"]}
    assert created <= seen
