"""``hospes keys``: the deployment's server keys (the token signing keys and the HMAC key of opaque links)."""

from __future__ import annotations

from typing import Annotated

import typer

from hospes.auth.keys import HMAC, JWT, NEXT_JWT, RETIRED_JWT_VERIFIED_FOR, ServerKeys, rotate_keys
from hospes.cli.common import ConfigOpt, console, deployment_box, load, open_database

keys_app = typer.Typer(help="Server keys: token signing keys and the HMAC key of opaque links.", no_args_is_help=True)


@keys_app.command("rotate")
def rotate(
    hmac: Annotated[
        bool, typer.Option("--hmac", help="Also replace the HMAC key of paging and delta links (old links still open).")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Rotate the token signing key with overlap: the next key (published in the JWKS since the last rotation)
    starts signing, the current one keeps verifying for two days, and a new next key is published. Running servers
    pick it up within a minute, or at once on a token of the new key: no restart, no rejected token."""
    settings = load(config)
    database = open_database(settings)
    try:
        changed = rotate_keys(database.sessions, deployment_box(settings, database.sessions), hmac_key=hmac)
    finally:
        database.dispose()
    console.print(f"signing key now {changed[JWT]}; next key published: {changed[NEXT_JWT]}")
    console.print(f"the previous signing key verifies tokens for {RETIRED_JWT_VERIFIED_FOR.days} more days")
    if HMAC in changed:
        console.print(f"HMAC key now {changed[HMAC]}; links sealed with the previous one still open")
    console.print(f"servers use the new key within {ServerKeys.RELOAD_SECONDS:.0f} s", soft_wrap=True)
