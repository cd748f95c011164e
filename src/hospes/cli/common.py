"""What every ``hospes`` command shares: the ``--config`` and ``--tenant`` options, the settings, the database
(the CLI is a composition root: each command builds the settings and the database it needs and passes them down),
the consoles and the error exit."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import resolve_tenant
from hospes.settings import Settings, load_settings
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade

ConfigOpt = Annotated[str | None, typer.Option("--config", help="Optional settings file (KEY=value lines).")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id or domain.")]
console = Console()
err = Console(stderr=True)


def load(config: str | None) -> Settings:
    return load_settings(config)


def open_database(settings: Settings) -> Database:
    """The database, migrated to the latest revision first: a command may be the first thing run on it."""
    upgrade(settings.effective_database_url)
    return Database.open(settings.effective_database_url)


def resolve_tenant_id(sessions: sessionmaker[Session], tenant: str) -> str:
    """The id of a tenant given by id or verified domain (``NotFoundError`` otherwise)."""
    with sessions() as session:
        return str(resolve_tenant(session, tenant).id)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print the error; the caller raises what this returns."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)
