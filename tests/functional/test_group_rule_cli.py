"""``hospes group rule``: validate (with the error's position, and against users), set, pause, resume, process,
status, on a fresh SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hospes.cli.main import app
from hospes.domain.principals import system_principal
from hospes.services.groups import GroupService
from hospes.services.users import UserService
from hospes.settings import load_settings
from hospes.storage.engine import Database

BASE = {"display_name": "Someone", "mail_nickname": "someone", "account_enabled": True}
PASSWORD = "Correct-Horse-9"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOSPES_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HOSPES_DATABASE_URL", raising=False)
    return tmp_path


def test_validate_without_a_tenant_checks_the_rule() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["group", "rule", "validate", 'user.department -eq "Sales" -and user.city -eq "Paris"'])
    assert ok.exit_code == 0, ok.output
    assert "reads: department" in ok.output and "user.city" in ok.output
    bad = runner.invoke(app, ["group", "rule", "validate", 'user.department -eq "a" -and jobTitle -eq "b"'])
    assert bad.exit_code == 1
    assert "Invalid object type. (position 30)" in bad.output
    assert "\n" + " " * 29 + "^" in bad.output


def test_set_process_pause_resume_status(env: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["tenant", "create", "--name", "Contoso", "--domain", "contoso.example", "--json"])
    assert made.exit_code == 0, made.output
    tenant_id = json.loads(made.output)["tenantId"]
    sessions = Database.open(load_settings(None).effective_database_url).sessions
    actor = system_principal(tenant_id)
    users = UserService(sessions, actor)
    zoe = users.create({**BASE, "user_principal_name": "zoe@contoso.example", "department": "Sales"}, PASSWORD)
    users.create({**BASE, "user_principal_name": "max@contoso.example", "department": "Ops"}, PASSWORD)
    GroupService(sessions, actor).create(
        {"display_name": "Sales", "mail_nickname": "sales", "mail_enabled": False, "security_enabled": True}, [], []
    )

    checked = runner.invoke(
        app,
        [
            "group",
            "rule",
            "validate",
            'user.department -eq "sales"',
            "--tenant",
            "contoso.example",
            "--user",
            "zoe@contoso.example",
            "--user",
            "max@contoso.example",
            "--json",
        ],
    )
    assert checked.exit_code == 0, checked.output
    assert [(u["userPrincipalName"], u["member"]) for u in json.loads(checked.output)] == [
        ("zoe@contoso.example", True),
        ("max@contoso.example", False),
    ]
    bad = runner.invoke(app, ["group", "rule", "set", "contoso.example", "Sales", "user.nope -eq 1"])
    assert bad.exit_code == 1 and "Attribute not supported." in bad.output
    saved = runner.invoke(app, ["group", "rule", "set", "contoso.example", "Sales", 'user.department -eq "Sales"'])
    assert saved.exit_code == 0, saved.output
    processed = runner.invoke(app, ["group", "rule", "process", "contoso.example", "Sales"])
    assert processed.exit_code == 0, processed.output
    assert "Succeeded" in processed.output and "member count" in processed.output

    def member_count() -> str:
        shown = runner.invoke(app, ["group", "rule", "status", "contoso.example", "Sales"])
        assert shown.exit_code == 0, shown.output
        return shown.output.split("member count", 1)[1].split()[1]

    assert member_count() == "1"
    assert runner.invoke(app, ["group", "rule", "pause", "contoso.example", "Sales"]).exit_code == 0
    users.update(zoe.id, {"department": "Ops"})
    paused = runner.invoke(app, ["group", "rule", "process", "contoso.example", "Sales"])
    assert paused.exit_code == 1 and "paused" in paused.output
    assert member_count() == "1"
    assert runner.invoke(app, ["group", "rule", "resume", "contoso.example", "Sales"]).exit_code == 0
    assert runner.invoke(app, ["group", "rule", "process", "contoso.example", "Sales"]).exit_code == 0
    assert member_count() == "0"
