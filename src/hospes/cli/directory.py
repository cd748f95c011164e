"""``hospes tenant create``, ``hospes app create``, ``hospes user create``: the directory objects an operator
creates before anything else (a tenant with its admin and an app that may call the Graph API)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from hospes.cli.common import ConfigOpt, TenantOpt, console, fail, load, open_database, resolve_tenant_id
from hospes.domain.errors import DomainError
from hospes.domain.principals import system_principal
from hospes.services.apps import AppService
from hospes.services.tenants import create_tenant, generate_password
from hospes.services.users import UserService

tenant_app = typer.Typer(help="Tenants.", no_args_is_help=True)
app_app = typer.Typer(help="App registrations.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Option("--name", help="Organization display name.")],
    domain: Annotated[str, typer.Option("--domain", help="Initial verified domain, e.g. contoso.example.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the credentials as JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Create a tenant with its admin user and an app registration holding every application permission."""
    try:
        result = create_tenant(open_database(load(config)).sessions, name, domain)
    except DomainError as exc:
        raise fail(exc.message) from None
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
    tenant: TenantOpt,
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    permission: Annotated[list[str] | None, typer.Option("--permission", help="Graph permission to grant.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    config: ConfigOpt = None,
) -> None:
    """Register an app with a service principal and a client secret, granting the given permissions."""
    sessions = open_database(load(config)).sessions
    try:
        tenant_id = resolve_tenant_id(sessions, tenant)
        apps = AppService(sessions, system_principal(tenant_id))
        with apps.write("ApplicationManagement", "Add application") as op:
            application = apps.insert_app(op, {"display_name": name}, {})
            sp = apps.insert_sp(op, application)
            _, secret = apps.insert_secret(op, application, "cli")
            apps.grant_permissions(op, sp, permission or [])
    except DomainError as exc:
        raise fail(exc.message) from None
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
    tenant: TenantOpt,
    upn: Annotated[str, typer.Option("--upn", help="userPrincipalName, in one of the tenant's domains.")],
    display_name: Annotated[str, typer.Option("--display-name")],
    password: Annotated[str | None, typer.Option("--password", help="Generated when omitted.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    config: ConfigOpt = None,
) -> None:
    """Create a member user."""
    sessions = open_database(load(config)).sessions
    secret = password or generate_password()
    try:
        user = UserService(sessions, system_principal(resolve_tenant_id(sessions, tenant))).create(
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
        raise fail(exc.message) from None
    out = {"id": user.id, "userPrincipalName": user.user_principal_name, "password": secret}
    typer.echo(json.dumps(out) if as_json else "\n".join(f"{k}: {v}" for k, v in out.items()))
