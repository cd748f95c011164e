"""The ``hospes`` command: serve, database, tenants, apps, users, expressions."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hospes.domain.errors import DomainError
from hospes.settings import Settings, load_settings

app = typer.Typer(
    help="Hospes: self-hostable B2B identity collaboration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants.", no_args_is_help=True)
app_app = typer.Typer(help="App registrations.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(app_app, name="app")
app.add_typer(user_app, name="user")
console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[str | None, typer.Option("--config", help="Optional settings file (KEY=value lines).")]


def _settings(config: str | None) -> Settings:
    return load_settings(config)


def _database(settings: Settings):  # type: ignore[no-untyped-def]
    from hospes.storage.engine import Database
    from hospes.storage.migrate import upgrade

    upgrade(settings.effective_database_url)
    return Database.open(settings.effective_database_url)


def _sessions(settings: Settings):  # type: ignore[no-untyped-def]
    return _database(settings).sessions


def _fail(exc: DomainError) -> None:
    err.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Create the demo tenants on first start.")] = False,
    workers: Annotated[
        int, typer.Option(help="Server processes (0 = one per CPU). Background jobs run in one of them.")
    ] = 1,
    config: ConfigOpt = None,
) -> None:
    """Run the server (migrating the database first)."""
    import uvicorn

    from hospes.asgi import create_app, tune_gc
    from hospes.demo import ensure_demo

    settings = _settings(config)
    if "public_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
    sessions = _sessions(settings)
    if demo:
        ensure_demo(sessions, settings, console)
    workers = workers or os.cpu_count() or 1
    console.print(f"Hospes listening on http://{host}:{port} (public URL {settings.public_url}), {workers} process(es)")
    if workers > 1:
        # Each process builds its app from the environment (hospes.asgi.worker_app); hand it what we resolved.
        os.environ["HOSPES_PUBLIC_URL"] = settings.public_url
        os.environ["HOSPES_SERVE_CONFIG"] = config or ""
        uvicorn.run(
            "hospes.asgi:worker_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )
        return
    api = create_app(settings)
    tune_gc()
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply every Alembic migration."""
    from hospes.storage.migrate import upgrade

    settings = _settings(config)
    upgrade(settings.effective_database_url)
    console.print("Database is at the latest revision.")


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Option("--name", help="Organization display name.")],
    domain: Annotated[str, typer.Option("--domain", help="Initial verified domain, e.g. contoso.example.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the credentials as JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Create a tenant with its admin user and an app registration holding every application permission."""
    from hospes.services.tenants import create_tenant

    try:
        result = create_tenant(_sessions(_settings(config)), name, domain)
    except DomainError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    table = Table(title=f"Tenant {name}")
    table.add_column("what")
    table.add_column("value")
    for key, value in result.as_json().items():
        table.add_row(key, value)
    console.print(table)


@app_app.command("create")
def app_create(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id or domain.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    permission: Annotated[list[str] | None, typer.Option("--permission", help="Graph permission to grant.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    config: ConfigOpt = None,
) -> None:
    """Register an app with a service principal and a client secret, granting the given permissions."""
    from hospes.domain.principals import system_principal
    from hospes.services.apps import AppService
    from hospes.services.tenants import resolve_tenant

    sessions = _sessions(_settings(config))
    try:
        with sessions() as session:
            tenant_id = resolve_tenant(session, tenant).id
        apps = AppService(sessions, system_principal(tenant_id))
        with apps.write("ApplicationManagement", "Add application") as op:
            application = apps.insert_app(op, {"display_name": name}, {})
            sp = apps.insert_sp(op, application)
            _, secret = apps.insert_secret(op, application, "cli")
            apps.grant_permissions(op, sp, permission or [])
    except DomainError as exc:
        _fail(exc)
        return
    out = {
        "tenantId": tenant_id,
        "clientId": application.app_id,
        "clientSecret": secret,
        "objectId": application.id,
        "servicePrincipalId": sp.id,
    }
    typer.echo(json.dumps(out) if as_json else "\n".join(f"{k}: {v}" for k, v in out.items()))


@user_app.command("create")
def user_create(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id or domain.")],
    upn: Annotated[str, typer.Option("--upn", help="userPrincipalName, in one of the tenant's domains.")],
    display_name: Annotated[str, typer.Option("--display-name")],
    password: Annotated[str | None, typer.Option("--password", help="Generated when omitted.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    config: ConfigOpt = None,
) -> None:
    """Create a member user."""
    from hospes.domain.principals import system_principal
    from hospes.services.tenants import generate_password, resolve_tenant
    from hospes.services.users import UserService

    sessions = _sessions(_settings(config))
    secret = password or generate_password()
    try:
        with sessions() as session:
            tenant_id = resolve_tenant(session, tenant).id
        user = UserService(sessions, system_principal(tenant_id)).create(
            {
                "user_principal_name": upn,
                "display_name": display_name,
                "mail_nickname": upn.split("@")[0][:64],
                "account_enabled": True,
                "mail": upn,
            },
            secret,
        )
    except DomainError as exc:
        _fail(exc)
        return
    out = {"id": user.id, "userPrincipalName": user.user_principal_name, "password": secret}
    typer.echo(json.dumps(out) if as_json else "\n".join(f"{k}: {v}" for k, v in out.items()))


def _register_mail() -> None:
    from hospes.cli.mail_cmds import register

    register(app)


_register_mail()


def _register_expression() -> None:
    from hospes.cli.expression import expression_app

    app.add_typer(expression_app, name="expression")


_register_expression()


def _register_sync() -> None:
    from hospes.cli.sync import sync_app

    app.add_typer(sync_app, name="sync")


_register_sync()


def _register_guest_policy() -> None:
    from hospes.cli.guest_cmds import guest_app

    app.add_typer(guest_app, name="guest-policy")


_register_guest_policy()


def main() -> None:
    app()
