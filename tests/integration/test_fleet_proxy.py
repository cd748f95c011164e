"""Two Hospes nodes behind HAProxy (round robin, health-checked on /readyz, X-Forwarded-For, its own X-Request-Id):
one client's failed sign-ins lock that client out on every node and never another client, and the balancer's
request id is the one the node answers with."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from hospes.services.tenants import create_tenant
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from tests.helpers.infra import haproxy
from tests.helpers.live import run_server

ENV = {"HOSPES_PUBLIC_URL": "http://fleet.example", "HOSPES_ACCESS_LOG": "false"}


def _grant(client: httpx.Client, base: str, tenant: str, client_id: str, secret: str) -> httpx.Response:
    return client.post(
        f"{base}/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default",
        },
    )


def _from(address: str) -> httpx.Client:
    """A client whose connections leave from ``address`` (another loopback address: another client for HAProxy)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def test_failed_sign_ins_of_one_client_never_lock_out_another(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    upgrade(url)
    database = Database.open(url)
    # Four failures for each of six apps: under each app's own lockout (5), over the address's (20) in total.
    targets = [create_tenant(database.sessions, "Target", f"t-{uuid.uuid4().hex[:8]}.example") for _ in range(6)]
    bystander = create_tenant(database.sessions, "Bystander", f"b-{uuid.uuid4().hex[:8]}.example")
    database.dispose()
    with (
        run_server(url, str(tmp_path / "n1"), ENV) as node1,
        run_server(url, str(tmp_path / "n2"), ENV) as node2,
        haproxy([node1.base_url.removeprefix("http://"), node2.base_url.removeprefix("http://")]) as edge,
        _from("127.0.0.2") as attacker,
        _from("127.0.0.3") as colleague,
    ):
        seen_ids = set()
        for target in targets:  # spread over both nodes by the balancer
            for _ in range(4):
                answer = _grant(attacker, edge, target.domain, target.client_id, "wrong-" + uuid.uuid4().hex)
                assert answer.status_code in (400, 401, 429), answer.text  # 429: the address is locked
                seen_ids.add(answer.headers["request-id"])
        assert answer.status_code == 429
        assert len(seen_ids) == 24 and all(len(i) > 20 and "-" not in i for i in seen_ids)  # HAProxy's unique ids
        # the attacker's address is locked out (even with a right secret, for another tenant), on every node
        for _ in range(2):
            locked = _grant(attacker, edge, bystander.domain, bystander.client_id, bystander.client_secret)
            assert locked.status_code != 200
        # the colleague behind the same balancer is not
        for _ in range(4):
            answer = _grant(colleague, edge, bystander.domain, bystander.client_id, bystander.client_secret)
            assert answer.status_code == 200, answer.text
