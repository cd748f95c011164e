"""``examples/scripted_sync.py`` run as a program against a live server, with a home and a resource tenant."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import system_principal
from hospes.services.tenants import TenantBootstrap, create_tenant
from hospes.services.users import UserService
from hospes.storage.tables import User
from tests.helpers.env import ROOT
from tests.helpers.live import LiveServer

pytestmark = pytest.mark.live
SCRIPT = ROOT / "examples" / "scripted_sync.py"


def run_sync(
    server: LiveServer, home: TenantBootstrap, resource: TenantBootstrap, state: Path
) -> dict[str, Any]:
    args = [
        sys.executable,
        str(SCRIPT),
        "--base-url",
        server.graph_url,
        *(
            "--home-tenant",
            home.domain,
            "--home-client-id",
            home.client_id,
            "--home-secret",
            home.client_secret,
        ),
        *("--resource-tenant", resource.domain, "--resource-client-id", resource.client_id),
        *("--resource-secret", resource.client_secret, "--resource-domain", resource.domain),
        *("--state-file", str(state)),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    counts: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return counts


def guests(sessions: sessionmaker[Session], tenant_id: str) -> dict[str, str | None]:
    """Live guests of a tenant: UPN -> mail."""
    with sessions() as session:
        rows = session.scalars(
            select(User).where(
                User.tenant_id == tenant_id, User.user_type == "Guest", User.deleted_at.is_(None)
            )
        )
        return {row.user_principal_name: row.mail for row in rows}


def test_scripted_sync_provisions_and_deprovisions_guests(
    live_server: LiveServer, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    home = create_tenant(sessions, "Contoso", f"home-{tag}.example")
    resource = create_tenant(sessions, "Fabrikam", f"res-{tag}.example")
    people = UserService(sessions, system_principal(home.tenant_id))

    def person(nick: str) -> str:
        values = {
            "user_principal_name": f"{nick}@{home.domain}",
            "mail": f"{nick}@{home.domain}",
            "display_name": nick.title(),
            "mail_nickname": nick,
            "account_enabled": True,
        }
        return people.create(values, "Correct-Horse-9").id

    alice, bob = person("alice"), person("bob")
    state = tmp_path / "sync-state.json"

    def ext(nick: str) -> str:
        return f"{nick}_{home.domain}#EXT#@{resource.domain}"

    # First run: a full round; every home member (the admin too) becomes a guest.
    assert run_sync(live_server, home, resource, state) == {"invited": 3, "removed": 0, "unchanged": 0}
    assert guests(sessions, resource.tenant_id) == {
        ext("admin"): f"admin@{home.domain}",
        ext("alice"): f"alice@{home.domain}",
        ext("bob"): f"bob@{home.domain}",
    }
    saved = json.loads(state.read_text())
    assert saved["deltaLink"].startswith(f"{live_server.graph_url}/users/delta?$deltatoken=")
    assert set(saved["guests"]) >= {alice, bob}

    # Second run: only the changes since the saved deltaLink.
    person("carol")
    people.soft_delete(bob)
    people.update(alice, {"display_name": "Alice B."})  # seen, but guests are not updated from home
    people.update(alice, {"job_title": "Pilot"})  # not selected by the script: not even seen
    assert run_sync(live_server, home, resource, state) == {"invited": 1, "removed": 1, "unchanged": 1}
    assert set(guests(sessions, resource.tenant_id)) == {ext("admin"), ext("alice"), ext("carol")}

    # Third run: nothing changed.
    assert run_sync(live_server, home, resource, state) == {"invited": 0, "removed": 0, "unchanged": 0}
