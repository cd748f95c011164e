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
    console.print(f"[bold]Hospes demo[/bold] at {settings.public_url}  (Graph API: {settings.public_url}/v1.0)")
    for c in saved:
        console.print(f"\n[bold]{c.get('name', c['domain'])}[/bold] ({c['domain']}), tenant id {c['tenantId']}")
        console.print(f"  admin:  {c['adminUserPrincipalName']} / {c['adminPassword']}")
        console.print(f"  app:    client id {c['clientId']} / client secret {c['clientSecret']}")
    console.print(
        f"Token endpoint: {settings.public_url}/{{tenant}}/oauth2/v2.0/token "
        "(grant_type=client_credentials, scope=https://graph.microsoft.com/.default)"
    )
    return saved
