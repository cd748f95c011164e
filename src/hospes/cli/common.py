"""What every ``hospes`` command shares: the ``--config`` and ``--tenant`` options, the settings, the database
(the CLI is a composition root: each command builds the settings and the database it needs and passes them down),
the consoles and the error exit."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth import canary
from hospes.auth.crypto import SecretBox
from hospes.services.tenants import resolve_tenant
from hospes.settings import Settings, load_settings
from hospes.storage.engine import Database
from hospes.storage.migrate import schema_state, upgrade

ConfigOpt = Annotated[str | None, typer.Option("--config", help="Optional settings file (KEY=value lines).")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id or domain.")]
console = Console()
err = Console(stderr=True)


def load(config: str | None) -> Settings:
    return load_settings(config)


def open_database(settings: Settings) -> Database:
    """The database, migrated to the latest revision first (under the deployment's migration lock): a command may
    be the first thing run on it."""
    upgrade(settings.effective_database_url)
    return Database.for_settings(settings)


def open_current_database(settings: Settings) -> Database:
    """The database, for a process that must not migrate it (an API node, a worker): refuse to start unless its
    schema is the one this release expects (``hospes db upgrade`` is the deployment's one migration step)."""
    state = schema_state(settings.effective_database_url)
    if not state.ok:
        raise fail(state.explain())
    return Database.for_settings(settings)


def deployment_box(settings: Settings, sessions: sessionmaker[Session]) -> SecretBox:
    """The deployment's ``SecretBox`` (``auth/canary.py``): a missing or wrong HOSPES_SECRET_KEY is one clear line."""
    try:
        return canary.deployment_box(settings, sessions)
    except canary.SecretKeyError as exc:
        raise fail(str(exc)) from None


def resolve_tenant_id(sessions: sessionmaker[Session], tenant: str) -> str:
    """The id of a tenant given by id or verified domain (``NotFoundError`` otherwise)."""
    with sessions() as session:
        return str(resolve_tenant(session, tenant).id)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print the error; the caller raises what this returns."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)
