"""The transactional outbox and its SMTP delivery.

A message row is written in the same transaction as the decision to send it (an invitation), so a crash can
neither lose the intent nor send mail for a rolled-back invitation. All state is in the database: a restarted
worker resumes where the old one stopped.

Delivery guarantees:

- Leases are written and compared in the database's time (PostgreSQL's clock), never a host's: a worker whose
  clock runs ahead cannot take over a live claim.
- A pass claims at most ``mail_batch_size`` due rows with a short lease (``mail_lease_seconds``; PostgreSQL:
  ``FOR UPDATE SKIP LOCKED`` so several workers share the queue; SQLite: writers are serialized). Each claim
  increments ``attempts``, and that count is the claim's fencing token: a worker writes to a row only while the row
  is still ``sending`` with its token, so a worker that lost a claim to another cannot renew, release or requeue it.
- While the pass runs, a heartbeat renews the leases of the claims it still holds every third of a lease, and each
  message's lease is renewed (and checked) just before it is sent: a claim is never lost to a live worker, even on a
  slow relay, and a message whose claim was lost is skipped, not sent twice.
- The outcome is committed right after the relay's answer, per message: ``sent`` after its "250 OK".
- On an orderly stop (``OutboxWorker.stop``) the claims not yet sent are released at once (``pending`` again, the
  claim not counted as an attempt). After a crash nothing renews them: another worker retries them once their lease
  expired, at most ``mail_lease_seconds`` after the crash (plus its poll interval).
- The one window for a duplicate is a crash between the relay's "250 OK" and the commit of ``sent`` (at most one
  message per worker: the one being sent); it goes again once its lease expired, with the same Message-ID, which
  receiving systems use to deduplicate.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from hospes import metrics
from hospes.background import BackgroundLoop
from hospes.domain.clock import utcnow
from hospes.domain.ids import new_id
from hospes.logs import RequestContext, acting_for
from hospes.mail.compose import ComposedMail
from hospes.settings import Settings
from hospes.storage.dbtime import db_now
from hospes.storage.notify import OUTBOX, notify
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
    notify(session, OUTBOX)  # workers on other hosts
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


@dataclass(frozen=True)
class Claim:
    """A leased message; ``token`` is the row's ``attempts`` count set by the claim (its fencing token)."""

    id: str
    token: int
    request_id: str | None = None  # the request that queued it, for the delivery's log lines


def claim_due(
    sessions: sessionmaker[Session],
    now: dt.datetime | None,
    lease_seconds: float,
    limit: int,
    *,
    tenant_id: str | None = None,
) -> list[Claim]:
    """Lease up to ``limit`` due messages: pending ones whose time has come (by ``now``, default the database's
    clock), and ones whose previous lease expired (their worker died mid-send; always by the database's clock, the
    one every worker's leases are written in). With ``tenant_id``, only that tenant's messages."""
    with sessions.begin() as session:
        db = db_now(session)
        due = now or db
        query = select(OutboxMessage).where(
            or_(
                (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= due),
                (OutboxMessage.status == "sending") & (OutboxMessage.lease_until < db),
            )
        )
        if tenant_id is not None:
            query = query.where(OutboxMessage.tenant_id == tenant_id)
        rows = list(
            session.scalars(
                query.order_by(OutboxMessage.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            if row.status == "sending":  # its worker's lease lapsed (died, or stalled): taken over
                metrics.lease_takeover("outbox")
            row.status = "sending"
            row.attempts += 1
            row.lease_until = db + dt.timedelta(seconds=lease_seconds)
        return [Claim(row.id, row.attempts, row.request_id) for row in rows]


def _held(claim: Claim) -> ColumnElement[bool]:
    return (
        (OutboxMessage.id == claim.id) & (OutboxMessage.status == "sending") & (OutboxMessage.attempts == claim.token)
    )


class _Leases:
    """The claims of one pass, kept alive by a heartbeat thread: those waiting for their turn (released on a stop)
    and the one being sent (never released: the relay may have it), until its outcome is recorded. The heartbeat
    dies with the process, so a crashed worker's claims expire one lease later."""

    def __init__(self, sessions: sessionmaker[Session], lease_seconds: float, claims: list[Claim]) -> None:
        self.sessions, self.lease = sessions, dt.timedelta(seconds=lease_seconds)
        self._waiting = {claim.id: claim for claim in claims}
        self._sending: Claim | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="mail-outbox-lease", daemon=True)

    def __enter__(self) -> _Leases:
        if self._waiting:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.lease.total_seconds() / 3):
            with self._lock:
                claims = [*self._waiting.values(), *([self._sending] if self._sending else [])]
            try:
                with self.sessions.begin() as session:
                    until = db_now(session) + self.lease
                    lost = [
                        claim
                        for claim in claims
                        if not session.execute(
                            update(OutboxMessage).where(_held(claim)).values(lease_until=until)
                        ).rowcount  # type: ignore[attr-defined]
                    ]
            except Exception:  # the next beat tries again; the lease has two more thirds to run
                log.exception("renewing the outbox leases failed")
                continue
            with self._lock:
                for claim in lost:
                    self._waiting.pop(claim.id, None)

    def take(self, claim: Claim) -> tuple[str, list[str], str] | None:
        """Just before sending: renew the claim and read the message, or ``None`` when the claim was lost (its
        lease expired and another worker has the message)."""
        with self._lock:
            if self._waiting.pop(claim.id, None) is None:
                return None
            self._sending = claim
        with self.sessions.begin() as session:
            row = session.scalars(select(OutboxMessage).where(_held(claim)).with_for_update()).one_or_none()
            if row is None:
                self.sent(claim)
                return None
            row.lease_until = db_now(session) + self.lease
            return row.envelope_from, list(row.recipients), row.mime

    def sent(self, claim: Claim) -> None:
        """The outcome of ``claim`` is recorded (or the claim was lost): no more renewals."""
        with self._lock:
            if self._sending == claim:
                self._sending = None

    def release(self) -> None:
        """Hand the claims still waiting back at once (a stop): due again, the claim not counted as an attempt."""
        with self._lock:
            claims, self._waiting = list(self._waiting.values()), {}
        if not claims:
            return
        with self.sessions.begin() as session:
            for claim in claims:
                session.execute(
                    update(OutboxMessage)
                    .where(_held(claim))
                    .values(status="pending", attempts=claim.token - 1, lease_until=None)
                )
        log.info("outbox: released %d unsent message(s)", len(claims))


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
    limit: int | None = None,
    now: dt.datetime | None = None,
    tenant_id: str | None = None,
    stopping: Callable[[], bool] | None = None,
) -> DeliveryReport:
    """One pass: claim up to ``limit`` (default ``mail_batch_size``) due messages, only ``tenant_id``'s when
    given, and try each once. When ``stopping`` turns true, the claims not yet sent are released. Without an SMTP
    host nothing is claimed."""
    report = DeliveryReport()
    if not settings.smtp_host:
        return report
    lease = settings.mail_lease_seconds
    claims = claim_due(sessions, now, lease, limit or settings.mail_batch_size, tenant_id=tenant_id)
    transport = _Transport(settings)
    with _Leases(sessions, lease, claims) as leases:
        try:
            for claim in claims:
                if stopping is not None and stopping():
                    break
                _deliver_one(sessions, settings, transport, leases, claim, report)
        finally:
            leases.release()
            transport.close()
    return report


def _deliver_one(
    sessions: sessionmaker[Session],
    settings: Settings,
    transport: _Transport,
    leases: _Leases,
    claim: Claim,
    report: DeliveryReport,
) -> None:
    with acting_for(RequestContext(claim.request_id) if claim.request_id else None):
        message = leases.take(claim)
        if message is None:
            log.warning("email %s: its lease expired before it was sent; another worker has it", claim.id)
            return
        try:
            _send_and_record(sessions, settings, transport, claim, message, report)
        finally:
            leases.sent(claim)


def _send_and_record(
    sessions: sessionmaker[Session],
    settings: Settings,
    transport: _Transport,
    claim: Claim,
    message: tuple[str, list[str], str],
    report: DeliveryReport,
) -> None:
    envelope_from, recipients, mime = message
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
        row = session.get(OutboxMessage, claim.id, with_for_update=True)
        if row is None:
            return
        now = utcnow()
        # A claim lost meanwhile (only if the heartbeat could not renew it) leaves the row to its new holder,
        # except that a message the relay accepted is recorded sent whoever holds it: that is a fact.
        held = row.status == "sending" and row.attempts == claim.token
        result = "sent" if sent else "failed" if permanent or claim.token >= settings.mail_max_attempts else "retry"
        if sent and row.status != "sent":
            row.status, row.sent_at, row.lease_until, row.last_error = "sent", now, None, error
        elif not sent and held:
            row.lease_until, row.last_error = None, error
            if result == "failed":
                row.status = "failed"
                log.warning("email %s failed for good after %d attempts: %s", row.id, row.attempts, error)
            else:
                row.status = "pending"
                row.next_attempt_at = now + dt.timedelta(seconds=retry_delay(settings, row.attempts))
        metrics.MAIL_SENDS.labels(result).inc()
        if sent:
            report.sent += 1
        elif result == "failed":
            report.failed += 1
        else:
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
        # Some handled: more may be due now. A stop hands the rest of the batch back at once.
        return bool(deliver_due(self.sessions, self.settings, stopping=self._stop.is_set).handled)
