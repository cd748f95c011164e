"""``hospes app logo set`` / ``remove`` against a fresh SQLite database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hospes.cli.main import app
from tests.helpers.images import png


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOSPES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOSPES_PUBLIC_URL", "https://id.contoso.example")
    monkeypatch.delenv("HOSPES_DATABASE_URL", raising=False)
    return tmp_path


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_set_and_remove_a_logo(env: Path) -> None:
    boot = json.loads(_run("tenant", "create", "--name", "Contoso", "--domain", "contoso.example", "--json").output)
    made = _run("app", "create", "--tenant", "contoso.example", "--name", "Wiki", "--json")
    client_id = json.loads(made.output)["clientId"]
    svg = env / "logo.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    refused = _run("app", "logo", "set", "--tenant", "contoso.example", client_id, str(svg))
    assert refused.exit_code == 1 and "PNG, JPEG or GIF" in refused.output
    image = env / "logo.png"
    image.write_bytes(png(24, 24))
    done = _run("app", "logo", "set", "--tenant", "contoso.example", client_id, str(image))
    assert done.exit_code == 0, done.output
    url = done.output.strip()
    assert url.startswith(f"https://id.contoso.example/{boot['tenantId']}/applogos/{client_id}/")
    assert url.endswith(".png")
    shown = json.loads(_run("app", "show", "--tenant", "contoso.example", client_id, "--json").output)
    assert shown["info.logoUrl"] == url
    assert _run("app", "logo", "remove", "--tenant", "contoso.example", client_id).output.strip() == "removed"
    shown = json.loads(_run("app", "show", "--tenant", "contoso.example", client_id, "--json").output)
    assert shown["info.logoUrl"] is None
    assert _run("app", "logo", "remove", "--tenant", "contoso.example", "nope").exit_code == 1
