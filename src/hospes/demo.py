"""The ready demo of ``make run``: Contoso and Fabrikam, each with an admin and an app registration."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import create_tenant
from hospes.settings import Settings
from hospes.storage.tables import Domain

DEMO_TENANTS = (("Contoso", "contoso.example"), ("Fabrikam", "fabrikam.example"))


def ensure_demo(sessions: sessionmaker[Session], settings: Settings, console: Console) -> list[dict[str, str]]:
    """Create the demo tenants once. Secrets are stored hashed, so the generated credentials are kept in a
    file readable only by the owner of the data folder, to be shown again at each start."""
    path = Path(settings.data_dir) / "demo-credentials.json"
    saved: list[dict[str, str]] = json.loads(path.read_text()) if path.exists() else []
    known = {c["domain"] for c in saved}
    for name, domain in DEMO_TENANTS:
        with sessions() as session:
            exists = session.scalar(select(Domain.tenant_id).where(Domain.name == domain))
        if exists is None:
            saved = [c for c in saved if c["domain"] != domain]
            saved.append(create_tenant(sessions, name, domain).as_json() | {"name": name})
        elif domain not in known:
            console.print(f"[yellow]{domain} exists but its demo credentials were not saved here.[/yellow]")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2))
    os.chmod(path, 0o600)
    print_banner(console, settings.public_url, saved)
    return saved


def print_banner(console: Console, public_url: str, tenants: list[dict[str, str]]) -> None:
    """Where everything is, per demo tenant. Each line is printed whole (``soft_wrap``): rich otherwise hard-wraps
    at the console width, 80 columns when the output is a pipe or a file, which cut client secrets in two."""

    def line(text: str = "") -> None:
        console.print(text, soft_wrap=True, markup=False, highlight=False)

    line(f"Hospes demo at {public_url}/")
    line(f"  API docs:  {public_url}/docs   (Microsoft Graph-compatible API: {public_url}/v1.0)")
    for c in tenants:
        domain = c["domain"]
        line()
        line(f"{c.get('name', domain)} ({domain}), tenant id {c['tenantId']}")
        line(f"  portal:    {public_url}/{domain}/admin")
        line(f"  My Apps:   {public_url}/{domain}/myapps")
        line(f"  API docs:  {public_url}/docs")
        line(f"  admin:     {c['adminUserPrincipalName']} / {c['adminPassword']}")
        line(f"  app:       client id {c['clientId']} / client secret {c['clientSecret']}")
    line()
    line(
        f"Token endpoint: {public_url}/{{tenant}}/oauth2/v2.0/token "
        "(grant_type=client_credentials, scope=https://graph.microsoft.com/.default)"
    )
