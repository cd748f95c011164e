"""``hospes app logo set APP FILE`` and ``hospes app logo remove APP``: an app's logo (PNG, JPEG or GIF, at most
100 KB and 215 x 215 pixels, checked by its bytes), as ``PUT /applications/{id}/logo`` and the portal set it; ``set``
prints the logo's public address (``info.logoUrl``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hospes.cli.common import ConfigOpt, TenantOpt, fail, load, open_database, resolve_tenant_id
from hospes.cli.directory import app_app
from hospes.domain.app_logo import MAX_LOGO_BYTES, too_large
from hospes.domain.errors import DomainError, NotFoundError
from hospes.domain.principals import system_principal
from hospes.services.app_logos import AppLogos

AppArg = Annotated[str, typer.Argument(help="The application's object id or application (client) id.", metavar="APP")]
logo_app = typer.Typer(help="An app's logo, shown on My Apps and as info.logoUrl.", no_args_is_help=True)
app_app.add_typer(logo_app, name="logo")


def _logos(tenant: str, config: str | None) -> tuple[AppLogos, str]:
    settings = load(config)
    sessions = open_database(settings).sessions
    try:
        tenant_id = resolve_tenant_id(sessions, tenant)
    except NotFoundError:
        raise fail(f"No tenant '{tenant}'.") from None
    return AppLogos(sessions, system_principal(tenant_id)), settings.public_url.rstrip("/")


def _key(logos: AppLogos, key: str) -> str:
    """The object id, or ``appId=…`` when ``key`` is the application (client) id."""
    with logos.read() as session:
        for candidate in (key, f"appId={key}"):
            try:
                return logos.find_app(session, candidate).id
            except NotFoundError:
                continue
    raise fail(f"No application '{key}' in this tenant.")


@logo_app.command("set")
def logo_set(
    tenant: TenantOpt,
    key: AppArg,
    file: Annotated[Path, typer.Argument(help="A PNG, JPEG or GIF file.", exists=True, dir_okay=False)],
    config: ConfigOpt = None,
) -> None:
    """Set the app's logo; prints its public address."""
    logos, base = _logos(tenant, config)
    app_id = _key(logos, key)
    if file.stat().st_size > MAX_LOGO_BYTES:
        raise fail(too_large().message)
    try:
        path = logos.set_logo(app_id, file.read_bytes())
    except DomainError as exc:
        raise fail(exc.message) from None
    typer.echo(f"{base}{path}")


@logo_app.command("remove")
def logo_remove(tenant: TenantOpt, key: AppArg, config: ConfigOpt = None) -> None:
    """Remove the app's logo."""
    logos, _ = _logos(tenant, config)
    removed = logos.remove_logo(_key(logos, key))
    typer.echo("removed" if removed else "The app had no logo.")
