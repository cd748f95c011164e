"""``hospes sync status|start|pause|restart|logs`` through typer's CliRunner, on a job that provisions to a real
``scim2-server`` (the directory is set up through the Graph API of an in-process app on the same database)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hospes.asgi import create_app
from hospes.auth.crypto import secret_box
from hospes.cli.main import app as cli
from hospes.domain.provisioning import JobCode
from hospes.provisioning.service import ProvisioningService
from hospes.settings import load_settings
from hospes.storage.engine import Database
from tests.helpers.provisioning import ROLE_ID
from tests.helpers.scimtarget import Target, run_target
from tests.helpers.tenants import fetch_token


@dataclass
class World:
    runner: CliRunner
    http: TestClient
    headers: dict[str, str]
    domain: str
    service: ProvisioningService
    target: Target

    def graph(self, method: str, path: str, **kw: Any) -> Any:
        response = self.http.request(method, f"/v1.0{path}", headers=self.headers, **kw)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def sync(self, *args: str) -> Any:
        return self.runner.invoke(cli, ["sync", *args])

    def app(self, name: str = "8x8", job: bool = True) -> tuple[str, str | None]:
        registration = self.graph(
            "POST",
            "/applications",
            json={
                "displayName": name,
                "appRoles": [{"id": ROLE_ID, "allowedMemberTypes": ["User"], "value": "User", "displayName": "User"}],
            },
        )
        sp_id: str = self.graph("POST", "/servicePrincipals", json={"appId": registration["appId"]})["id"]
        if not job:
            return sp_id, None
        job_id: str = self.graph(
            "POST", f"/servicePrincipals/{sp_id}/synchronization/jobs", json={"templateId": "scim"}
        )["id"]
        secrets = [
            {"key": "BaseAddress", "value": self.target.base_url},
            {"key": "SecretToken", "value": self.target.token},
        ]
        self.http.put(
            f"/v1.0/servicePrincipals/{sp_id}/synchronization/secrets", headers=self.headers, json={"value": secrets}
        )
        return sp_id, job_id

    def assign_users(self, sp_id: str, count: int) -> list[dict[str, Any]]:
        users = []
        for index in range(count):
            nick = f"user{index:03d}{sp_id[:4]}"
            user = self.graph(
                "POST",
                "/users",
                json={
                    "accountEnabled": True,
                    "displayName": f"User {index:03d}",
                    "mailNickname": nick,
                    "userPrincipalName": f"{nick}@{self.domain}",
                    "passwordProfile": {"password": "Correct-Horse-9"},
                },
            )
            self.graph(
                "POST",
                f"/servicePrincipals/{sp_id}/appRoleAssignedTo",
                json={"principalId": user["id"], "resourceId": sp_id, "appRoleId": ROLE_ID},
            )
            users.append(user)
        return users

    def settle(self, job_id: str) -> None:
        for _ in range(50):
            if not self.service.engine.step(job_id):
                return
        raise AssertionError("the engine never settled")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("HOSPES_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HOSPES_DATABASE_URL", raising=False)
    monkeypatch.setenv("HOSPES_OUTBOUND_ALLOW", "127.0.0.1")
    monkeypatch.setenv("COLUMNS", "250")  # rich tables: no wrapping of ids
    runner = CliRunner()
    made = runner.invoke(cli, ["tenant", "create", "--name", "Contoso", "--domain", "contoso.example", "--json"])
    assert made.exit_code == 0, made.output
    boot = json.loads(made.output)
    settings = load_settings(None)
    database = Database.open(settings.effective_database_url)
    service = ProvisioningService(database.sessions, settings, secret_box(settings.secret_key, settings.data_dir))
    try:
        with run_target(tmp_path / "scim") as target, TestClient(create_app(settings, housekeeping=False)) as http:
            token = fetch_token(http, boot["domain"], boot["clientId"], boot["clientSecret"])
            yield World(runner, http, {"Authorization": f"Bearer {token}"}, boot["domain"], service, target)
    finally:
        database.dispose()


def test_status_start_logs_restart_pause(world: World) -> None:
    sp_id, job_id = world.app("8x8")
    assert job_id is not None
    users = world.assign_users(sp_id, 3)

    shown = world.sync("status", "contoso.example", "8x8")
    assert shown.exit_code == 0, shown.output
    assert JobCode.NOT_RUN in shown.output and job_id in shown.output
    by_id = world.sync("status", "contoso.example", sp_id, "--job", job_id, "--json")
    assert json.loads(by_id.output)["code"] == JobCode.NOT_RUN

    planned = world.sync("dry-run", "contoso.example", "8x8")
    assert planned.exit_code == 0, planned.output
    assert "3 to create" in planned.output and users[0]["displayName"] in planned.output
    plan = json.loads(world.sync("dry-run", "contoso.example", "8x8", "--json").output)
    assert plan["summary"]["create"] == 3
    assert world.target.users() == []  # nothing was sent

    started = world.sync("start", "contoso.example", "8X8")  # display names match in any case
    assert started.exit_code == 0, started.output
    assert "status Active" in started.output
    world.settle(job_id)
    status = json.loads(world.sync("status", "contoso.example", "8x8", "--json").output)
    assert {"key": "User", "value": 3} in status["synchronizedEntryCountByType"]
    table = world.sync("status", "contoso.example", "8x8")
    assert "User 3" in table.output and "Succeeded" in table.output
    assert len(world.target.users()) == 3

    logs = world.sync("logs", "contoso.example", "8x8")
    assert logs.exit_code == 0, logs.output
    for user in users:
        assert user["displayName"] in logs.output
    assert logs.output.count("create") >= 3 and "success" in logs.output
    entries = json.loads(world.sync("logs", "contoso.example", "8x8", "--json", "--action", "create").output)
    assert sorted(e["sourceIdentity"]["id"] for e in entries) == sorted(u["id"] for u in users)
    assert json.loads(world.sync("logs", "contoso.example", "8x8", "--json", "--status", "failure").output) == []
    one = json.loads(world.sync("logs", "contoso.example", "8x8", "--json", "--identity", users[1]["id"]).output)
    assert [e["sourceIdentity"]["id"] for e in one] == [users[1]["id"]]
    named = json.loads(world.sync("logs", "contoso.example", "8x8", "--json", "--identity", "user 002").output)
    assert [e["sourceIdentity"]["id"] for e in named] == [users[2]["id"]]
    detailed = world.sync("logs", "contoso.example", "8x8", "--details", "--top", "1")
    assert "import" in detailed.output and "export" in detailed.output
    assert json.loads(world.sync("logs", "contoso.example", "8x8", "--json", "--since", "1h").output)
    assert json.loads(
        world.sync("logs", "contoso.example", "8x8", "--json", "--since", "2000-01-01", "--top", "2").output
    )
    bad_since = world.sync("logs", "contoso.example", "8x8", "--since", "yesterday")
    assert bad_since.exit_code == 2

    restarted = world.sync("restart", "contoso.example", "8x8", "--reset-scope", "Full")
    assert restarted.exit_code == 0, restarted.output
    world.settle(job_id)
    assert len(world.target.users()) == 3  # a full restart re-matches, no duplicate
    refused = world.sync("restart", "contoso.example", "8x8", "--reset-scope", "Everything")
    assert refused.exit_code == 1 and "Everything" in refused.output

    paused = world.sync("pause", "contoso.example", "8x8")
    assert paused.exit_code == 0 and "status Paused" in paused.output


def test_app_and_job_resolution_errors(world: World) -> None:
    world.app("Twin")
    world.app("Twin")
    lonely, _ = world.app("Lonely", job=False)
    cases = [
        (("status", "nowhere.example", "Twin"), "does not exist"),
        (("status", "contoso.example", "Nope"), "no app 'Nope'"),
        (("status", "contoso.example", "Twin"), "several apps are named 'Twin'"),
        (("status", "contoso.example", lonely), "has no provisioning job"),
        (("start", "contoso.example", lonely, "--job", "scim.x"), "has no job 'scim.x'"),
        (("logs", "contoso.example", "Twin", "--status", "fine"), "success, failure"),
    ]
    for args, message in cases:
        result = world.sync(*args)
        assert result.exit_code != 0, (args, result.output)
        assert message in result.output, (args, result.output)


def test_status_watch_follows_a_running_cycle(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    sp_id, job_id = world.app("8x8")
    assert job_id is not None
    world.assign_users(sp_id, 25)
    idle = world.sync("status", "contoso.example", "8x8", "--watch", "--interval", "0.05")
    assert idle.exit_code == 0 and "no cycle: the job is NotRun" in idle.output  # nothing to wait for
    assert world.sync("start", "contoso.example", "8x8").exit_code == 0

    watching = threading.Event()
    progress = ProvisioningService.progress

    def observed_progress(self: ProvisioningService, *args: Any, **kwargs: Any) -> Any:
        watching.set()
        return progress(self, *args, **kwargs)

    monkeypatch.setattr(ProvisioningService, "progress", observed_progress)

    def engine() -> None:
        if watching.wait(timeout=30):  # the watcher has polled once and waits for the cycle to begin
            world.settle(job_id)

    worker = threading.Thread(target=engine)
    worker.start()
    watched = world.sync("status", "contoso.example", "8x8", "--watch", "--interval", "0.05", "--timeout", "60")
    worker.join()
    assert watched.exit_code == 0, watched.output
    assert "25/25" in watched.output  # the bar's final done/total
    assert "ETA" in watched.output and "/s" in watched.output
    assert "User 25" in watched.output  # then the status table
