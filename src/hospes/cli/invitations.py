"""``hospes invite --csv``: bulk-invite guests from a CSV file, as ``POST /v1.0/invitations/bulk`` does
(``services.invitations.bulk``), with a progress bar and a per-row result file."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hospes.auth.keys import load_or_create_keys
from hospes.cli.common import (
    ConfigOpt,
    TenantOpt,
    console,
    deployment_box,
    err,
    fail,
    load,
    open_database,
    resolve_tenant_id,
)
from hospes.domain.errors import DomainError
from hospes.domain.principals import Principal, system_principal
from hospes.services.invitations.bulk import RowResult, invite_rows, read_csv
from hospes.services.invitations.jobs import RESULT_HEADER
from hospes.services.invitations.service import InvitationService, InviteConfig
from hospes.services.users import UserService


def invite(
    tenant: TenantOpt,
    csv_file: Annotated[Path, typer.Option("--csv", exists=True, dir_okay=False, help="CSV of invitations.")],
    out: Annotated[Path | None, typer.Option("--out", help="Per-row result file (CSV).")] = None,
    redirect_url: Annotated[
        str | None, typer.Option("--redirect-url", help="Default inviteRedirectUrl for rows without one.")
    ] = None,
    send: Annotated[bool, typer.Option("--send/--no-send", help="Send the invitation email.")] = True,
    inviter: Annotated[
        str | None,
        typer.Option("--inviter", help="Invite as this user (UPN): their name in the email, policy applies."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Bulk-invite guests from a CSV (columns: email, display name, redirect URL, message, language).

    Each row succeeds or fails on its own; the exit code is 1 when any row failed."""
    settings = load(config)
    database = open_database(settings)
    sessions = database.sessions
    keys = load_or_create_keys(sessions, deployment_box(settings, sessions))
    try:
        actor = system_principal(resolve_tenant_id(sessions, tenant))
        if inviter:
            user = UserService(sessions, actor).get(inviter)
            actor = Principal(actor.tenant_id, "user", user.id, user.display_name or "", frozenset({"User.Invite.All"}))
    except DomainError as exc:
        raise fail(exc.message) from None
    defaults: dict[str, Any] = {"sendInvitationMessage": send}
    if redirect_url:
        defaults["inviteRedirectUrl"] = redirect_url
    try:
        rows = read_csv(csv_file, defaults)
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise fail(f"{csv_file}: {exc}") from None
    service = InvitationService(database, actor, InviteConfig.from_settings(settings, keys.seal))
    failed: list[RowResult] = []
    with Progress(
        TextColumn("[bold]inviting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=err,
        transient=not sys.stderr.isatty(),
    ) as progress:
        task = progress.add_task("invite", total=len(rows), failed=0)

        def tick(row: RowResult) -> None:
            if row.result is None:
                failed.append(row)
            progress.update(task, advance=1, failed=len(failed))

        results = invite_rows(service, rows, tick)
    if out:
        _write_results(out, results)
    console.print(
        f"{len(results) - len(failed)} invited, {len(failed)} failed" + (f"; results in {out}" if out else "")
    )
    for row in failed[:20]:
        console.print(f"  row {row.index + 2}: {row.email or '(no email)'}: {row.error}")
    if failed:
        raise typer.Exit(1)


def _write_results(path: Path, results: list[RowResult]) -> None:
    """The columns of the portal's bulk-invite result file; line 1 is the header, so row N of the input is N + 2."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESULT_HEADER)
        for row in results:
            if row.result is not None:
                inv = row.result.invitation
                writer.writerow(
                    [row.index + 2, row.email, "ok", inv.id, row.result.user.id, row.result.redeem_url, inv.status, ""]
                )
            else:
                writer.writerow([row.index + 2, row.email, "error", "", "", "", row.code, row.error])
