"""``hospes app …`` for a relying party against a fresh SQLite database: redirect URIs per platform (Entra's rules,
errors in words), logout URL, identifier URIs, a client certificate, the SAML mode and signing certificates with the
federation metadata URL."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from typer.testing import CliRunner

from hospes.cli.main import app
from tests.functional.test_app_registration import make_certificate


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOSPES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOSPES_PUBLIC_URL", "https://id.contoso.example")
    monkeypatch.delenv("HOSPES_DATABASE_URL", raising=False)
    return tmp_path


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _show(tenant: str, key: str) -> dict[str, Any]:
    shown = _run("app", "show", "--tenant", tenant, key, "--json")
    assert shown.exit_code == 0, shown.output
    out: dict[str, Any] = json.loads(shown.output)
    return out


def test_relying_party_registration_from_the_cli(env: Path) -> None:
    boot = json.loads(_run("tenant", "create", "--name", "Contoso", "--domain", "contoso.example", "--json").output)
    made = _run("app", "create", "--tenant", "contoso.example", "--name", "8x8", "--json")
    assert made.exit_code == 0, made.output
    client_id = json.loads(made.output)["clientId"]
    tenant = "contoso.example"

    web = _run("app", "redirect-uris", "--tenant", tenant, client_id, "--uri", "https://8x8.example/acs")
    assert web.exit_code == 0, web.output
    public = _run("app", "redirect-uris", "--tenant", tenant, client_id, "--platform", "public", "--uri", "com.x8:/cb")
    assert public.exit_code == 0, public.output
    refused = _run("app", "redirect-uris", "--tenant", tenant, client_id, "--platform", "spa", "--uri", "myapp://cb")
    assert refused.exit_code == 1 and "custom schemes are allowed only" in refused.output
    assert "Invalid value specified" not in refused.output
    assert _run("app", "redirect-uris", "--tenant", tenant, client_id, "--platform", "tv").exit_code == 1
    assert _run("app", "logout-url", "--tenant", tenant, client_id, "https://8x8.example/slo").exit_code == 0
    ids = _run("app", "identifier-uris", "--tenant", tenant, client_id, "--uri", "https://8x8.example/saml2")
    assert ids.exit_code == 0, ids.output
    shown = _show(tenant, client_id)
    assert shown["web.redirectUris"] == ["https://8x8.example/acs"]
    assert shown["publicClient.redirectUris"] == ["com.x8:/cb"]
    assert shown["web.logoutUrl"] == "https://8x8.example/slo"
    assert shown["identifierUris"] == ["https://8x8.example/saml2"]

    der_b64, thumbprint = make_certificate("daemon")
    pem = env / "daemon.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n" + der_b64 + "\n-----END CERTIFICATE-----\n")
    added = _run("app", "certificate", "add", "--tenant", tenant, client_id, str(pem), "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["thumbprint"] == thumbprint
    der = env / "daemon.cer"
    der.write_bytes(base64.b64decode(der_b64))
    again = _run("app", "certificate", "add", "--tenant", tenant, client_id, str(der))
    assert again.exit_code == 1 and "already uploaded" in again.output
    junk = env / "junk.cer"
    junk.write_text("hello")
    assert "X.509" in _run("app", "certificate", "add", "--tenant", tenant, client_id, str(junk)).output
    assert thumbprint in _show(tenant, client_id)["certificates"][0]

    # SAML: mode, two signing certificates, the second activated; the metadata URL names the tenant and the app.
    mode = _run("app", "sso-mode", "--tenant", tenant, client_id, "saml")
    assert mode.exit_code == 0, mode.output
    metadata = (
        f"https://id.contoso.example/{boot['tenantId']}/federationmetadata/2007-06/federationmetadata.xml"
        f"?appid={client_id}"
    )
    assert metadata in mode.output
    first = json.loads(_run("app", "signing-certificate", "add", "--tenant", tenant, client_id, "--json").output)
    assert first["active"] is True and first["federationMetadataUrl"] == metadata
    second_run = _run(
        "app", "signing-certificate", "add", "--tenant", tenant, client_id, "--name", "CN=8x8 2027", "--json"
    )
    second = json.loads(second_run.output)
    assert second["active"] is False and second["displayName"] == "CN=8x8 2027"
    bad_name = _run("app", "signing-certificate", "add", "--tenant", tenant, client_id, "--name", "8x8")
    assert bad_name.exit_code == 1 and "CN=" in bad_name.output
    activated = _run("app", "signing-certificate", "activate", "--tenant", tenant, client_id, second["thumbprint"])
    assert activated.exit_code == 0, activated.output
    signing = _show(tenant, client_id)["signingCertificates"]
    assert f"{second['thumbprint']} (active)" in signing and first["thumbprint"] in signing
    unknown = _run("app", "signing-certificate", "activate", "--tenant", tenant, client_id, "A" * 40)
    assert unknown.exit_code == 1 and "thumbprint" in unknown.output
    assert _run("app", "metadata-url", "--tenant", tenant, client_id).output.strip() == metadata

    early = _run("app", "verification-certificate", "require", "--tenant", tenant, client_id, "true")
    assert early.exit_code == 1 and "certificate first" in early.output
    verified = _run("app", "verification-certificate", "add", "--tenant", tenant, client_id, str(pem), "--require")
    assert verified.exit_code == 0 and "requireSignedRequests: True" in verified.output, verified.output
    off = _run("app", "verification-certificate", "require", "--tenant", tenant, client_id, "false")
    assert off.exit_code == 0 and "requireSignedRequests: false" in off.output
    assert x509.load_der_x509_certificate(base64.b64decode(der_b64)).subject  # the uploaded file was a certificate


def test_unknown_app_and_tenant_are_refused(env: Path) -> None:
    _run("tenant", "create", "--name", "Contoso", "--domain", "contoso.example")
    missing = _run("app", "show", "--tenant", "contoso.example", "00000000-0000-0000-0000-000000000000")
    assert missing.exit_code == 1 and "No application" in missing.output
    assert _run("app", "show", "--tenant", "nowhere.example", "x").exit_code == 1
    made = json.loads(_run("app", "create", "--tenant", "contoso.example", "--name", "x", "--json").output)
    other = _run("tenant", "create", "--name", "Fabrikam", "--domain", "fabrikam.example")
    assert other.exit_code == 0
    foreign = _run("app", "show", "--tenant", "fabrikam.example", made["clientId"])
    assert foreign.exit_code == 1 and "No application" in foreign.output
