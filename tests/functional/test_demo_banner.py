"""``hospes serve --demo`` prints, for each demo tenant, where its portal, My Apps and the API docs are, and its
credentials each whole on one line, also when the output is a pipe (rich hard-wraps at 80 columns there)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hospes.cli import server
from hospes.cli.main import app


def test_demo_banner_names_every_url_and_never_wraps_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSPES_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HOSPES_DATABASE_URL", raising=False)
    # ``serve`` hands its settings to the server processes through the environment: undo that after the test.
    for name in ("HOSPES_PUBLIC_URL", "HOSPES_SERVE_CONFIG", "HOSPES_SERVE_ROLE"):
        monkeypatch.setenv(name, "")  # recorded first, so the value serve sets is taken back afterwards
        monkeypatch.delenv(name)
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(server.uvicorn, "run", lambda *args, **kwargs: started.append(kwargs))
    result = CliRunner().invoke(app, ["serve", "--demo", "--port", "8123"])  # output captured: not a terminal
    assert result.exit_code == 0, result.output
    assert started and started[0]["port"] == 8123
    lines = result.output.splitlines()
    saved = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert [c["domain"] for c in saved] == ["contoso.example", "fabrikam.example"]
    base = "http://127.0.0.1:8123"
    for c in saved:
        domain = c["domain"]
        assert f"  portal:    {base}/{domain}/admin" in lines
        assert f"  My Apps:   {base}/{domain}/myapps" in lines
        assert any(c["clientSecret"] in line and c["clientId"] in line for line in lines), result.output
        assert any(c["adminPassword"] in line and c["adminUserPrincipalName"] in line for line in lines)
    assert sum(line == f"  API docs:  {base}/docs" for line in lines) == 2
    assert lines[0] == f"Hospes demo at {base}/"
    assert os.environ["HOSPES_PUBLIC_URL"] == base
    assert lines[-1].startswith(f"Hospes listening on http://127.0.0.1:8123 (public URL {base}), ")
