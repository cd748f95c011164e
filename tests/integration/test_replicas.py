"""A PostgreSQL primary and a streaming standby that applies each commit two seconds late: reads that opt into
staleness (``ConsistencyLevel: eventual``) go to the standby, every other read and every delta round stays on the
primary, so a delta client interleaved with writes loses no object. A failover that loses the primary's last
commits makes a client whose delta token names them start over (410 ``syncStateNotFound``) instead of skipping
changes."""

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
from tests.helpers.infra import PostgresPair, postgres_pair, stop_cluster
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


def _full_round(client: TestClient, headers: dict[str, str], url: str) -> tuple[list[str], str]:
    ids: list[str] = []
    while True:
        answer = client.get(url, headers={**headers, "Prefer": "odata.maxpagesize=2"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        ids += [item["id"] for item in body["value"]]
        if "@odata.deltaLink" in body:
            return ids, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


def _live_users(url: str, tenant_id: str) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id FROM users WHERE tenant_id = :t AND deleted_at IS NULL"), {"t": tenant_id}
        ).scalars()
        found = set(rows)
    engine.dispose()
    return found


def _cut_off_standby(pair: PostgresPair) -> None:
    """The standby stops receiving the primary's WAL: what the primary commits from now on is lost on failover,
    as with asynchronous replication and a primary that dies before its last commits were streamed."""
    standby = create_engine(pair.standby_url, isolation_level="AUTOCOMMIT")
    with standby.connect() as conn:
        conn.execute(text("ALTER SYSTEM SET primary_conninfo = ''"))
        conn.execute(text("SELECT pg_reload_conf()"))
        deadline = time.monotonic() + 20
        while conn.execute(text("SELECT count(*) FROM pg_stat_wal_receiver")).scalar_one():
            assert time.monotonic() < deadline, "the standby kept its WAL receiver"
            time.sleep(0.2)
    standby.dispose()


def _promote(pair: PostgresPair) -> None:
    standby = create_engine(pair.standby_url, isolation_level="AUTOCOMMIT")
    with standby.connect() as conn:
        assert conn.execute(text("SELECT pg_promote(true, 30)")).scalar_one() is True
        assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is False
    standby.dispose()


def test_failover_with_a_delta_token_in_hand_resyncs_cleanly(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A client's deltaLink names users the primary committed but the standby never received; after the primary
    dies and the standby is promoted, that link gets 410 syncStateNotFound (reading on would skip the changes that
    reuse those sequence numbers on the new primary, and keep users it never had), and the restart from the
    Location header returns exactly the new primary's users, each once."""
    with postgres_pair(apply_delay="2s") as pair:
        upgrade(pair.primary_url)
        database = Database.open(pair.primary_url)
        boot = create_tenant(database.sessions, "Failover", f"f-{uuid.uuid4().hex[:8]}.example")
        database.dispose()

        def app_on(url: str) -> Any:
            settings = Settings(
                database_url=url,
                public_url="http://testserver",
                data_dir=tmp_path_factory.mktemp("data"),
                secret_key=TEST_SECRET_KEY,
            )
            return create_app(settings, housekeeping=False)

        with TestClient(app_on(pair.primary_url), raise_server_exceptions=False) as client:
            headers = {
                "Authorization": f"Bearer {fetch_token(client, boot.domain, boot.client_id, boot.client_secret)}"
            }
            kept = {_new_user(client, headers, "kept") for _ in range(3)}
            _, first_link = _full_round(client, headers, "/v1.0/users/delta")
            _caught_up(pair)
            _cut_off_standby(pair)
            lost = {_new_user(client, headers, "lost") for _ in range(2)}
            items, held_link = _full_round(client, headers, first_link)
            assert lost <= set(items)  # the client holds them, and a link past them
        stop_cluster(pair.primary_data)
        _promote(pair)

        survivors = _live_users(pair.standby_url, boot.tenant_id)
        assert kept <= survivors and not lost & survivors
        with TestClient(app_on(pair.standby_url), raise_server_exceptions=False) as client:
            headers = {
                "Authorization": f"Bearer {fetch_token(client, boot.domain, boot.client_id, boot.client_secret)}"
            }
            refused = client.get(held_link, headers=headers)
            assert refused.status_code == 410, refused.text
            assert refused.json()["error"]["code"] == "syncStateNotFound"
            restart = refused.headers["location"]
            assert restart == "http://testserver/v1.0/users/delta?$deltatoken="
            ids, new_link = _full_round(client, headers, restart)
            assert len(ids) == len(set(ids)) and set(ids) == survivors
            # the new primary's own changes reach the resynced client
            added = _new_user(client, headers, "after")
            later, _ = _full_round(client, headers, new_link)
            assert later == [added]
