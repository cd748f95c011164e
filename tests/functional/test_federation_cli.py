"""``hospes federation`` against the test database: add a SAML federation from a PEM file and an OpenID provider
(secret from the environment, sealed at rest), list, bind a domain, refuse bad input, delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hospes.cli.main import app
from hospes.settings import Settings
from tests.helpers.live import TEST_SECRET_KEY
from tests.helpers.saml import new_party
from tests.helpers.tenants import TenantHandle


def test_federation_commands(
    settings: Settings, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOSPES_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("HOSPES_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HOSPES_SECRET_KEY", TEST_SECRET_KEY)
    runner = CliRunner()
    pem = tmp_path / "partner.pem"
    partner = new_party("Partner")
    pem.write_text(partner.cert_pem)
    saml = runner.invoke(
        app,
        [
            "federation",
            "add-saml",
            "--tenant",
            tenant.domain,
            "--name",
            "Fabrikam",
            "--issuer",
            "https://idp.f.example/",
            "--sign-in-url",
            "https://idp.f.example/sso",
            "--certificate",
            str(pem),
            "--domain",
            "f.example",
        ],
    )
    assert saml.exit_code == 0, saml.output
    created = json.loads(saml.output)
    assert created["signingCertificate"] == partner.cert_b64
    monkeypatch.setenv("HOSPES_FEDERATION_CLIENT_SECRET", "cli-secret")
    oidc = runner.invoke(
        app,
        [
            "federation",
            "add-oidc",
            "--tenant",
            tenant.id,
            "--name",
            "NW",
            "--issuer",
            "https://nw.example/t/v2.0",
            "--well-known",
            "https://nw.example/t/v2.0/.well-known/openid-configuration",
            "--client-id",
            "c1",
            "--domain",
            "nw.example",
        ],
    )
    assert oidc.exit_code == 0, oidc.output
    assert "cli-secret" not in oidc.output
    added = runner.invoke(
        app, ["federation", "add-domain", "--tenant", tenant.id, "--id", created["id"], "--domain", "f.org"]
    )
    assert added.exit_code == 0, added.output
    listed = json.loads(runner.invoke(app, ["federation", "list", "--tenant", tenant.id]).output)
    assert sorted(p["displayName"] for p in listed) == ["Fabrikam", "NW"]
    bad = runner.invoke(
        app, ["federation", "add-domain", "--tenant", tenant.id, "--id", created["id"], "--domain", "nw.example"]
    )
    assert bad.exit_code == 1 and "already bound" in bad.output
    gone = runner.invoke(app, ["federation", "delete", "--tenant", tenant.id, "--id", created["id"]])
    assert gone.exit_code == 0, gone.output
    assert [p["displayName"] for p in tenant.get("/identity/identityProviders").json()["value"]] == ["NW"]
