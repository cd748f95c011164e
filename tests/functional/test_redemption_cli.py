"""``hospes guest-policy show|set`` against the test database."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hospes.cli.main import app
from hospes.settings import Settings
from tests.helpers.tenants import TenantHandle


def test_guest_policy_commands(settings: Settings, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSPES_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("HOSPES_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    shown = runner.invoke(app, ["guest-policy", "show", "--tenant", tenant.domain])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["require_guest_mfa"] is False
    changed = runner.invoke(
        app,
        ["guest-policy", "set", "--tenant", tenant.id, "--require-mfa", "--trust-home-mfa", "--email-otp", "disabled"],
    )
    assert changed.exit_code == 0, changed.output
    policy = json.loads(changed.output)
    assert policy["require_guest_mfa"] and policy["trust_home_mfa"] and not policy["email_otp"]
    path = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email"
    assert tenant.get(path).json()["allowExternalIdToUseEmailOtp"] == "disabled"
    bad = runner.invoke(app, ["guest-policy", "set", "--tenant", tenant.id, "--email-otp", "maybe"])
    assert bad.exit_code == 2
    unknown = runner.invoke(app, ["guest-policy", "show", "--tenant", "nowhere.example"])
    assert unknown.exit_code == 1
