"""``hospes invite --csv``, ``hospes mail list|show|send-pending`` and ``hospes worker``."""

from __future__ import annotations

import contextlib
import csv
import email
import email.policy
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

console = Console()
err = Console(stderr=True)
mail_app = typer.Typer(help="Outgoing email (the outbox).", no_args_is_help=True)
ConfigOpt = Annotated[str | None, typer.Option("--config", help="Optional settings file (KEY=value lines).")]


def _open(config: str | None) -> tuple[Any, Any]:
    from hospes.cli.main import _database, _settings

    settings = _settings(config)
    return settings, _database(settings)


def invite(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id or domain.")],
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
    from hospes.domain.errors import DomainError
    from hospes.domain.principals import Principal, system_principal
    from hospes.services.invitations.bulk import RowResult, invite_rows, read_csv
    from hospes.services.invitations.service import InvitationService, InviteConfig
    from hospes.services.tenants import resolve_tenant
    from hospes.services.users import UserService

    settings, database = _open(config)
    sessions = database.sessions
    from hospes.auth.crypto import secret_box
    from hospes.auth.keys import load_or_create_keys

    keys = load_or_create_keys(sessions, secret_box(settings.secret_key, settings.data_dir))
    try:
        with sessions() as session:
            tenant_id = resolve_tenant(session, tenant).id
        actor = system_principal(tenant_id)
        if inviter:
            user = UserService(sessions, actor).get(inviter)
            actor = Principal(tenant_id, "user", user.id, user.display_name or "", frozenset({"User.Invite.All"}))
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    defaults: dict[str, Any] = {"sendInvitationMessage": send}
    if redirect_url:
        defaults["inviteRedirectUrl"] = redirect_url
    try:
        rows = read_csv(csv_file, defaults)
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        err.print(f"[red]error:[/red] {csv_file}: {exc}")
        raise typer.Exit(1) from None
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


def _write_results(path: Path, results: list[Any]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "email", "result", "invitationId", "userId", "inviteRedeemUrl", "status", "error"])
        for row in results:
            if row.result is not None:
                inv = row.result.invitation
                writer.writerow(
                    [row.index + 2, row.email, "ok", inv.id, row.result.user.id, row.result.redeem_url, inv.status, ""]
                )
            else:
                writer.writerow([row.index + 2, row.email, "error", "", "", "", row.code, row.error])


@mail_app.command("list")
def mail_list(
    status: Annotated[str | None, typer.Option(help="pending | sending | sent | failed")] = None,
    limit: Annotated[int, typer.Option(help="Most recent N messages.")] = 50,
    config: ConfigOpt = None,
) -> None:
    """List outbox messages, newest first."""
    from hospes.storage.tables import OutboxMessage

    _, database = _open(config)
    with database.sessions() as session:
        stmt = select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(limit)
        if status:
            stmt = stmt.where(OutboxMessage.status == status)
        rows = list(session.scalars(stmt))
    table = Table()
    for column in ("id", "created", "status", "attempts", "to", "subject", "last error"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.id,
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.status,
            str(r.attempts),
            ", ".join(r.recipients),
            r.subject[:60],
            (r.last_error or "")[:60],
        )
    console.print(table)


@mail_app.command("show")
def mail_show(
    message_id: str, raw: Annotated[bool, typer.Option(help="Print the MIME source.")] = False, config: ConfigOpt = None
) -> None:
    """Show one outbox message: headers and text part (or the raw MIME source), and its delivery attempts."""
    from hospes.storage.tables import OutboxAttempt, OutboxMessage

    _, database = _open(config)
    with database.sessions() as session:
        row = session.get(OutboxMessage, message_id)
        if row is None:
            err.print(f"[red]error:[/red] no message {message_id}")
            raise typer.Exit(1)
        attempts = list(session.scalars(select(OutboxAttempt).where(OutboxAttempt.message_id == row.id)))
    if raw:
        typer.echo(row.mime)
    else:
        msg = email.message_from_string(row.mime, policy=email.policy.default)
        for name in ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
            if msg[name]:
                typer.echo(f"{name}: {msg[name]}")
        body = msg.get_body(preferencelist=("plain",))
        typer.echo("\n" + (body.get_content() if body else ""))
    typer.echo(f"status: {row.status}, attempts: {row.attempts}, last error: {row.last_error or '-'}")
    for a in attempts:
        typer.echo(f"  {a.at:%Y-%m-%d %H:%M:%S} {a.result} {a.duration_ms} ms {a.error or ''}")


@mail_app.command("send-pending")
def mail_send_pending(config: ConfigOpt = None) -> None:
    """Try every due message once now (needs HOSPES_SMTP_HOST)."""
    from hospes.mail.outbox import DeliveryReport, deliver_due

    settings, database = _open(config)
    sessions = database.sessions
    if not settings.smtp_host:
        err.print("[red]error:[/red] HOSPES_SMTP_HOST is not set; messages stay in the outbox.")
        raise typer.Exit(1)
    total = DeliveryReport()
    while (report := deliver_due(sessions, settings)).handled:
        total.sent, total.retried, total.failed = (
            total.sent + report.sent,
            total.retried + report.retried,
            total.failed + report.failed,
        )
    console.print(f"sent {total.sent}, will retry {total.retried}, failed {total.failed}")


def worker(config: ConfigOpt = None) -> None:
    """Run the background workers in the foreground: outbox delivery (when HOSPES_SMTP_HOST is set), the
    provisioning runner and the portal's bulk-invite jobs (for deployments that turn them off on the API servers).
    Stops on SIGINT/SIGTERM."""
    from hospes.auth.crypto import secret_box
    from hospes.auth.keys import load_or_create_keys
    from hospes.workers import build_workers

    settings, database = _open(config)
    box = secret_box(settings.secret_key, settings.data_dir)
    workers = build_workers(
        settings,
        database,
        box,
        load_or_create_keys(database.sessions, box),
        mail=bool(settings.smtp_host),
        provisioning=True,
        bulk=True,
        housekeeping=False,
    )
    stopped = threading.Event()

    def stop(*_: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    workers.start()
    console.print("running provisioning jobs and bulk invitations")
    if workers.outbox is None:
        console.print("email delivery off: HOSPES_SMTP_HOST is not set")
    else:
        console.print(f"delivering email through {settings.smtp_host}:{settings.smtp_port}")
    with contextlib.suppress(KeyboardInterrupt):
        while not stopped.wait(0.5):
            pass
    workers.stop()


def register(app: typer.Typer) -> None:
    app.command("invite")(invite)
    app.command("worker")(worker)
    app.add_typer(mail_app, name="mail")
