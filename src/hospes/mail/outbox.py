"""The transactional outbox and its SMTP delivery.

A message row is written in the same transaction as the decision to send it (an invitation), so a crash can
neither lose the intent nor send mail for a rolled-back invitation. Delivery claims due rows with a lease
(PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so several workers share the queue; SQLite: writers are serialized),
sends outside any transaction, then records the outcome. All state is in the database: a restarted worker resumes
where the old one stopped. The one window for a duplicate is a crash between the SMTP server's "250 OK" and the
commit of "sent"; the message then goes again after its lease expires with the same Message-ID, which receiving
systems use to deduplicate.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.background import BackgroundLoop
from hospes.domain.clock import utcnow
from hospes.domain.ids import new_id
from hospes.mail.compose import ComposedMail
from hospes.settings import Settings
from hospes.storage.tables import OutboxAttempt, OutboxMessage

log = logging.getLogger("hospes.mail")


def enqueue(
    session: Session,
    message: ComposedMail,
    *,
    envelope_from: str,
    recipients: list[str],
    kind: str,
    tenant_id: str | None,
    related_id: str | None,
    now: dt.datetime,
) -> OutboxMessage:
    return enqueue_wire(
        session,
        message.wire,
        subject=message.subject,
        envelope_from=envelope_from,
        recipients=recipients,
        kind=kind,
        tenant_id=tenant_id,
        related_id=related_id,
        now=now,
    )


def enqueue_wire(
    session: Session,
    wire: str,
    *,
    subject: str,
    envelope_from: str,
    recipients: list[str],
    kind: str,
    tenant_id: str | None,
    related_id: str | None,
    now: dt.datetime,
) -> OutboxMessage:
    """Queue a message already composed and verified by ``compose.compose`` (rendered before the
    transaction, so that the transaction holds only database work)."""
    row = OutboxMessage(
        id=new_id(),
        tenant_id=tenant_id,
        kind=kind,
        related_id=related_id,
        envelope_from=envelope_from,
        recipients=recipients,
        subject=subject[:998],
        mime=wire,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.info[_QUEUED] = True
    return row


# "Mail was queued" reaches this process's delivery worker from the write path itself: ``enqueue`` marks the
# session, and once that session commits, the worker attached to its session factory is woken. No caller has to
# remember a wake-up call; a worker in another process picks the message up at its next poll.
_WAKE = "hospes.outbox_wake"
_QUEUED = "hospes.outbox_queued"


def wake_on_commit(sessions: sessionmaker[Session], wake: Callable[[], None]) -> None:
    """Wake ``wake`` after every commit, through ``sessions``, of a transaction that queued mail."""
    sessions.configure(info={**sessions.kw.get("info", {}), _WAKE: wake})


# Both events also fire when a savepoint is released or rolled back; only the outermost transaction's end counts.
@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    if session.info.pop(_QUEUED, False):
        wake = session.info.get(_WAKE)
        if wake is not None:
            wake()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_QUEUED, None)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed


def claim_due(
    sessions: sessionmaker[Session],
    now: dt.datetime,
    lease_seconds: float,
    limit: int,
    *,
    tenant_id: str | None = None,
) -> list[str]:
    """Lease up to ``limit`` due messages: pending ones whose time has come, and ones whose previous lease
    expired (their worker died mid-send). With ``tenant_id``, only that tenant's messages."""
    query = select(OutboxMessage).where(
        or_(
            (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now),
            (OutboxMessage.status == "sending") & (OutboxMessage.lease_until < now),
        )
    )
    if tenant_id is not None:
        query = query.where(OutboxMessage.tenant_id == tenant_id)
    with sessions.begin() as session:
        rows = list(
            session.scalars(
                query.order_by(OutboxMessage.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.status = "sending"
            row.attempts += 1
            row.lease_until = now + dt.timedelta(seconds=lease_seconds)
        return [row.id for row in rows]


def retry_delay(settings: Settings, attempts: int) -> float:
    """Exponential backoff with ±20 % jitter, so a recovering relay is not hit by every message at once."""
    base = min(settings.mail_retry_base_seconds * 2.0 ** max(attempts - 1, 0), settings.mail_retry_max_seconds)
    return float(base * random.uniform(0.8, 1.2))


class _Transport:
    """One SMTP conversation per batch, opened lazily."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def send(self, envelope_from: str, recipients: list[str], mime: str) -> dict[str, tuple[int, bytes]]:
        if self.smtp is None:
            self.smtp = self._connect()
        return self.smtp.sendmail(envelope_from, recipients, mime.encode("ascii", "surrogateescape"))

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp: smtplib.SMTP
        if s.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        try:
            smtp.ehlo()
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except Exception:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def _permanent(exc: Exception) -> bool:
    """5xx replies to the message itself are final; connection problems and 4xx are worth another try."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


def deliver_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    limit: int = 50,
    now: dt.datetime | None = None,
    tenant_id: str | None = None,
) -> DeliveryReport:
    """One pass: claim due messages (only ``tenant_id``'s when given) and try each once. Without an SMTP host
    nothing is claimed."""
    report = DeliveryReport()
    if not settings.smtp_host:
        return report
    ids = claim_due(sessions, now or utcnow(), settings.mail_lease_seconds, limit, tenant_id=tenant_id)
    transport = _Transport(settings)
    try:
        for message_id in ids:
            _deliver_one(sessions, settings, transport, message_id, report)
    finally:
        transport.close()
    return report


def _deliver_one(
    sessions: sessionmaker[Session], settings: Settings, transport: _Transport, message_id: str, report: DeliveryReport
) -> None:
    with sessions() as session:
        row = session.get(OutboxMessage, message_id)
        if row is None:
            return
        envelope_from, recipients, mime = row.envelope_from, list(row.recipients), row.mime
    started = time.monotonic()
    error: str | None = None
    permanent = False
    try:
        refused = transport.send(envelope_from, recipients, mime)
        if refused:
            error = "some recipients refused: " + ", ".join(f"{k} ({v[0]})" for k, v in refused.items())
    except Exception as exc:  # any failure is recorded on the row; the worker itself must keep running
        transport.close()
        permanent = _permanent(exc)
        error, refused = f"{type(exc).__name__}: {exc}"[:2000], None
        sent = False
    else:
        sent = True
    elapsed = int((time.monotonic() - started) * 1000)
    with sessions.begin() as session:
        row = session.get(OutboxMessage, message_id)
        if row is None:
            return
        now = utcnow()
        row.lease_until = None
        row.last_error = error
        if sent:
            row.status, row.sent_at, result = "sent", now, "sent"
            report.sent += 1
        elif permanent or row.attempts >= settings.mail_max_attempts:
            row.status, result = "failed", "failed"
            report.failed += 1
            log.warning("email %s failed for good after %d attempts: %s", row.id, row.attempts, error)
        else:
            row.status, result = "pending", "retry"
            row.next_attempt_at = now + dt.timedelta(seconds=retry_delay(settings, row.attempts))
            report.retried += 1
        session.add(OutboxAttempt(message_id=row.id, at=now, result=result, error=error, duration_ms=elapsed))


class OutboxWorker(BackgroundLoop):
    """Background delivery inside the server process (or ``hospes worker``). ``wake()`` shortens the wait after
    a new message was committed."""

    thread_name = "mail-outbox"
    failure_message = "outbox pass failed; retrying after the poll interval"
    logger = log

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        super().__init__()
        self.sessions, self.settings = sessions, settings

    def poll_seconds(self) -> float:
        return self.settings.mail_poll_interval_seconds

    def pass_once(self) -> bool:
        return bool(deliver_due(self.sessions, self.settings).handled)  # some handled: more may be due now
