"""``hospes serve`` processes dynamic groups in the background: a user's attribute change is reflected in the
group's members through Graph within a second or so, with no "process now"."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from hospes.services.tenants import create_tenant
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from tests.helpers.live import run_server
from tests.helpers.tenants import PASSWORD, fetch_token


def _members(client: httpx.Client, base: str, group_id: str) -> set[str]:
    response = client.get(f"{base}/v1.0/groups/{group_id}/members")
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["value"]}


def _wait_for(check: object, seconds: float = 10.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if callable(check) and check():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError("not reached in time")


def test_the_server_processes_dynamic_groups_from_the_change_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hospes.db'}"  # its own database: the worker serves every tenant in it
    upgrade(url)
    database = Database.open(url)
    boot = create_tenant(database.sessions, "Contoso", "contoso.example", admin_password="Admin-Pass-123")
    database.dispose()
    with run_server(url, str(tmp_path / "data"), {"HOSPES_DYNAMIC_GROUPS": "true"}) as server:
        with httpx.Client(base_url=server.base_url) as raw:
            token = fetch_token(raw, boot.tenant_id, boot.client_id, boot.client_secret)
        client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)
        base = server.base_url
        alice = client.post(
            f"{base}/v1.0/users",
            json={
                "accountEnabled": True,
                "displayName": "Alice",
                "mailNickname": "alice",
                "userPrincipalName": "alice@contoso.example",
                "passwordProfile": {"password": PASSWORD},
                "department": "Sales",
            },
        ).json()
        group = client.post(
            f"{base}/v1.0/groups",
            json={
                "displayName": "Sales",
                "mailEnabled": False,
                "mailNickname": "sales",
                "securityEnabled": True,
                "groupTypes": ["DynamicMembership"],
                "membershipRule": 'user.department -eq "Sales"',
                "membershipRuleProcessingState": "On",
            },
        ).json()
        _wait_for(lambda: _members(client, base, group["id"]) == {alice["id"]})
        assert client.patch(f"{base}/v1.0/users/{alice['id']}", json={"department": "Ops"}).status_code == 204
        took = _wait_for(lambda: _members(client, base, group["id"]) == set())
        assert took < 5.0
        client.close()
