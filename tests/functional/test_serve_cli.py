"""``hospes serve`` options: TLS files, the https public URL they imply, and the proxy-header settings handed to
uvicorn (uvicorn itself is replaced by a recorder; tests/compat runs the real server over TLS)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hospes.cli import server
from hospes.cli.main import app
from tests.helpers.tls import LocalCA, make_local_ca


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What ``serve`` hands uvicorn (nothing is served), in a fresh data folder; the variables ``serve`` exports for
    its server processes are put back afterwards."""
    monkeypatch.setenv("HOSPES_DATA_DIR", str(tmp_path))
    for name in ("HOSPES_DATABASE_URL", "HOSPES_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HOSPES_SERVE_CONFIG", "HOSPES_SERVE_ROLE", "HOSPES_FORWARDED_ALLOW_IPS"):
        monkeypatch.setenv(name, "")
    calls: dict[str, Any] = {}
    monkeypatch.setattr(server.uvicorn, "run", lambda target, **options: calls.update(options, target=target))
    return calls


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_local_ca(tmp_path_factory.mktemp("tls"))


def serve(*args: str) -> Any:
    return CliRunner().invoke(app, ["serve", "--port", "8443", *args])


def test_tls_serves_https_and_the_public_url_follows(recorded: dict[str, Any], ca: LocalCA) -> None:
    result = serve("--tls-cert", ca.cert_file, "--tls-key", ca.key_file)
    assert result.exit_code == 0, result.output
    assert (recorded["ssl_certfile"], recorded["ssl_keyfile"]) == (ca.cert_file, ca.key_file)
    assert "listening on https://127.0.0.1:8443" in result.output
    assert os.environ["HOSPES_PUBLIC_URL"] == "https://127.0.0.1:8443"


def test_plain_http_by_default(recorded: dict[str, Any]) -> None:
    result = serve()
    assert result.exit_code == 0, result.output
    assert recorded["ssl_certfile"] is None and recorded["ssl_keyfile"] is None
    assert "public URL http://127.0.0.1:8443" in result.output
    assert "Warning" not in result.output  # loopback: plain HTTP is fine for development
    # Forwarded headers are read by the app itself (hospes.asgi.ops), trusted from a proxy on this machine only;
    # uvicorn's reading is off, so there is one.
    assert recorded["proxy_headers"] is False and os.environ["HOSPES_FORWARDED_ALLOW_IPS"] == "127.0.0.1"


def test_plain_http_on_a_public_interface_warns(recorded: dict[str, Any]) -> None:
    result = serve("--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    assert "OpenID Connect clients (MSAL, azure-identity) require https" in result.output


def test_behind_a_proxy(recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSPES_PUBLIC_URL", "https://login.example.com")
    result = serve("--host", "0.0.0.0", "--forwarded-allow-ips", "10.0.0.5,10.0.1.0/24")
    assert result.exit_code == 0, result.output
    assert os.environ["HOSPES_FORWARDED_ALLOW_IPS"] == "10.0.0.5,10.0.1.0/24"
    assert "public URL https://login.example.com" in result.output and "Warning" not in result.output
    assert serve("--no-proxy-headers").exit_code == 0
    assert os.environ["HOSPES_FORWARDED_ALLOW_IPS"] == ""  # no peer is trusted


@pytest.mark.parametrize("given", ["--tls-cert", "--tls-key"])
def test_one_tls_file_without_the_other_is_refused(recorded: dict[str, Any], ca: LocalCA, given: str) -> None:
    result = serve(given, ca.cert_file if given == "--tls-cert" else ca.key_file)
    assert result.exit_code == 2
    other = "--tls-key" if given == "--tls-cert" else "--tls-cert"
    assert f"{given} needs {other} as well" in " ".join(result.output.split())
    assert "target" not in recorded  # nothing was started


def test_unusable_tls_files_are_refused(recorded: dict[str, Any], ca: LocalCA, tmp_path: Path) -> None:
    other = make_local_ca(tmp_path / "other")
    mismatched = serve("--tls-cert", ca.cert_file, "--tls-key", other.key_file)
    assert mismatched.exit_code == 2
    assert "could not be loaded" in " ".join(mismatched.output.split())
    missing = serve("--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", ca.key_file)
    assert missing.exit_code == 2
    assert "TLS file not found" in " ".join(missing.output.split())
    assert "target" not in recorded
