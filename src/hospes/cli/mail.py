"""``hospes mail list|show|send-pending``: the outbox of outgoing email, for operators."""

from __future__ import annotations

import email
import email.policy
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from hospes.cli.common import ConfigOpt, console, fail, load, open_database
from hospes.mail.outbox import DeliveryReport, deliver_due
from hospes.storage.tables import OutboxAttempt, OutboxMessage

mail_app = typer.Typer(help="Outgoing email (the outbox).", no_args_is_help=True)


@mail_app.command("list")
def mail_list(
    status: Annotated[str | None, typer.Option(help="pending | sending | sent | failed")] = None,
    limit: Annotated[int, typer.Option(help="Most recent N messages.")] = 50,
    config: ConfigOpt = None,
) -> None:
    """List outbox messages, newest first."""
    with open_database(load(config)).sessions() as session:
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
    with open_database(load(config)).sessions() as session:
        row = session.get(OutboxMessage, message_id)
        if row is None:
            raise fail(f"no message {message_id}")
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
    settings = load(config)
    sessions = open_database(settings).sessions
    if not settings.smtp_host:
        raise fail("HOSPES_SMTP_HOST is not set; messages stay in the outbox.")
    total = DeliveryReport()
    while (report := deliver_due(sessions, settings)).handled:
        total.sent, total.retried, total.failed = (
            total.sent + report.sent,
            total.retried + report.retried,
            total.failed + report.failed,
        )
    console.print(f"sent {total.sent}, will retry {total.retried}, failed {total.failed}")
