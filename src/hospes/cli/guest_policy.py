"""``hospes guest-policy show|set``: a tenant's guest sign-in settings (docs/redemption.md) — email one-time
passcodes, "require MFA for guest users", trusting the home tenant's MFA, whether guests may leave the organization —
for operators without the portal."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hospes.cli.common import ConfigOpt, TenantOpt, load, open_database, resolve_tenant_id
from hospes.domain.errors import DomainError
from hospes.domain.principals import system_principal
from hospes.services.guest_policy import GuestPolicyService

guest_app = typer.Typer(help="Guest sign-in settings of a tenant.", no_args_is_help=True)


def _service(tenant: str, config: str | None) -> GuestPolicyService:
    sessions = open_database(load(config)).sessions
    return GuestPolicyService(sessions, system_principal(resolve_tenant_id(sessions, tenant)))


def _print(policy: object) -> None:
    typer.echo(json.dumps(policy.__dict__, indent=2))


@guest_app.command("show")
def show(tenant: TenantOpt, config: ConfigOpt = None) -> None:
    """Print the settings as JSON."""
    try:
        _print(_service(tenant, config).get())
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


@guest_app.command("set")
def set_policy(
    tenant: TenantOpt,
    email_otp: Annotated[
        str | None, typer.Option("--email-otp", help="allowExternalIdToUseEmailOtp: default, enabled or disabled.")
    ] = None,
    require_mfa: Annotated[
        bool | None, typer.Option("--require-mfa/--no-require-mfa", help="Require MFA for guest users.")
    ] = None,
    trust_home_mfa: Annotated[
        bool | None, typer.Option("--trust-home-mfa/--no-trust-home-mfa", help="Accept the home tenant's MFA.")
    ] = None,
    guests_may_leave: Annotated[
        bool | None,
        typer.Option("--guests-may-leave/--no-guests-may-leave", help="Let guests leave the organization themselves."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Change some settings; prints the result."""
    if email_otp is not None and email_otp not in ("default", "enabled", "disabled"):
        typer.echo("error: --email-otp must be default, enabled or disabled", err=True)
        raise typer.Exit(2)
    try:
        policy = _service(tenant, config).update(
            email_otp=email_otp,
            require_guest_mfa=require_mfa,
            trust_home_mfa=trust_home_mfa,
            allow_guests_to_leave=guests_may_leave,
        )
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    _print(policy)
