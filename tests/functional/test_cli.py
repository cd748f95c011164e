"""The ``hospes`` command: tenant, app and user creation against a fresh SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hospes.cli.main import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOSPES_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HOSPES_DATABASE_URL", raising=False)
    return tmp_path


def test_tenant_app_user_create(env: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["tenant", "create", "--name", "Contoso", "--domain", "contoso.example", "--json"])
    assert result.exit_code == 0, result.output
    boot = json.loads(result.output)
    assert set(boot) == {"tenantId", "domain", "clientId", "clientSecret", "adminUserPrincipalName", "adminPassword"}
    assert boot["adminUserPrincipalName"] == "admin@contoso.example"
    assert (env / "hospes.db").exists()

    again = runner.invoke(app, ["tenant", "create", "--name", "Other", "--domain", "CONTOSO.example"])
    assert again.exit_code == 1 and "already used" in again.output

    made = runner.invoke(
        app,
        [
            "app",
            "create",
            "--tenant",
            "contoso.example",
            "--name",
            "HR sync",
            "--permission",
            "User.Read.All",
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["clientSecret"]
    bad = runner.invoke(app, ["app", "create", "--tenant", "contoso.example", "--name", "x", "--permission", "Nope"])
    assert bad.exit_code == 1 and "Unknown permission" in bad.output

    user = runner.invoke(
        app,
        [
            "user",
            "create",
            "--tenant",
            boot["tenantId"],
            "--upn",
            "zoe@contoso.example",
            "--display-name",
            "Zoe",
            "--json",
        ],
    )
    assert user.exit_code == 0, user.output
    assert json.loads(user.output)["userPrincipalName"] == "zoe@contoso.example"
    wrong = runner.invoke(
        app,
        ["user", "create", "--tenant", "contoso.example", "--upn", "zoe@elsewhere.example", "--display-name", "Zoe"],
    )
    assert wrong.exit_code == 1 and "verified domain" in wrong.output
