"""Email one-time passcodes (OWASP ASVS v5 6.5: random, short-lived, single use, attempt-limited).

- 8 digits from ``secrets`` (≈ 26.6 bits; ASVS asks ≥ 20), kept only as an HMAC under a subkey of the server
  secret (a database dump cannot be brute-forced offline), bound to one browser flow and one address.
- Valid ``email_otp_lifetime_minutes`` (10 by default, the ASVS maximum), single use (conditional UPDATE), at most
  ``MAX_ATTEMPTS`` wrong tries per code, after which the code is dead.
- Sending is limited: a new code replaces the flow's previous one, at most ``email_otp_sends_per_hour`` codes per
  address and per account, ``RESEND_AFTER`` between two codes of one flow, ``ADDRESS_SENDS_PER_HOUR`` per client
  address. Wrong codes also count on the Throttle scopes of the address and the client (lockout with backoff).
- An unknown address gets a row without a code: the page says "we sent a code" all the same, so the answer never
  tells whether an address has access (ASVS v5 6.3.8).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.domain.ids import new_id
from hospes.services.throttle import Scope, Throttle
from hospes.settings import Settings
from hospes.storage.tables_redemption import EmailOtpCode

CODE_DIGITS = 8
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=30)
ADDRESS_SENDS_PER_HOUR = 30
OTP_LOCKS = 7001  # the advisory-lock key space of the send counts (two-integer keys: apart from the tenant locks)
_PURPOSE = "email-otp"

SendOutcome = Literal["sent", "too_soon", "limited"]
VerifyOutcome = Literal["ok", "invalid", "expired", "exhausted", "locked"]


def address_key(address: str) -> str:
    return hashlib.sha256(("client\x1f" + address).encode()).hexdigest()


def normalize(code: str) -> str:
    return re.sub(r"[\s-]", "", code)[:32]


@dataclass(frozen=True)
class Issued:
    outcome: SendOutcome
    code: str | None = None  # clear code to email
    code_id: str | None = None
    deliver: bool = False  # False: an unknown address; the caller renders the email anyway but sends nothing


def _lock_counted(session: Session, email_key: str, address: str) -> None:
    """Serialize the sends counted against one address and one client (PostgreSQL: transaction advisory locks,
    always the email's first). Without it, concurrent requests each count the rows committed before them and all
    send; SQLite's write transactions are serialized already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in (f"email:{email_key}", f"address:{address}"):
        session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"), {"space": OTP_LOCKS, "key": key})


class EmailOtpService:
    def __init__(self, sessions: sessionmaker[Session], box: SecretBox, throttle: Throttle, settings: Settings) -> None:
        self.sessions, self.box, self.throttle = sessions, box, throttle
        self.lifetime = timedelta(minutes=settings.email_otp_lifetime_minutes)
        self.per_hour = settings.email_otp_sends_per_hour

    def scopes(self, email: str, address: str) -> tuple[Scope, Scope]:
        return self.throttle.account("email-otp", email), self.throttle.address(address)

    def _digest(self, code_id: str, code: str) -> str:
        return self.box.mac(_PURPOSE, f"{code_id}:{code}")

    def issue(
        self,
        session: Session,
        *,
        flow_hash: str,
        tenant_id: str | None,
        email: str,
        deliverable: bool,
        address: str,
        now: datetime,
    ) -> Issued:
        """A new code for this flow (the previous ones die), inside the caller's transaction, or why not."""
        email_key = email.lower()
        hour = now - timedelta(hours=1)
        _lock_counted(session, email_key, address_key(address))
        last = session.scalar(select(func.max(EmailOtpCode.created_at)).where(EmailOtpCode.flow_hash == flow_hash))
        if last is not None and now - last < RESEND_AFTER:
            return Issued("too_soon")
        by_email = session.scalar(
            select(func.count())
            .select_from(EmailOtpCode)
            .where(EmailOtpCode.email_key == email_key, EmailOtpCode.created_at > hour)
        )
        by_address = session.scalar(
            select(func.count())
            .select_from(EmailOtpCode)
            .where(EmailOtpCode.address_key == address_key(address), EmailOtpCode.created_at > hour)
        )
        if int(by_email or 0) >= self.per_hour or int(by_address or 0) >= ADDRESS_SENDS_PER_HOUR:
            return Issued("limited")
        # Rows older than the counting window are no longer needed (and every code in them has expired).
        session.execute(delete(EmailOtpCode).where(EmailOtpCode.created_at <= hour - self.lifetime))
        session.execute(
            update(EmailOtpCode)
            .where(EmailOtpCode.flow_hash == flow_hash, EmailOtpCode.used_at.is_(None))
            .values(used_at=now)
        )
        code_id = new_id()
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        session.add(
            EmailOtpCode(
                id=code_id,
                flow_hash=flow_hash,
                tenant_id=tenant_id,
                email_key=email_key,
                address_key=address_key(address),
                code_hash=self._digest(code_id, code) if deliverable else None,
                attempts=0,
                created_at=now,
                expires_at=now + self.lifetime,
            )
        )
        return Issued("sent", code, code_id, deliverable)

    def verify(self, flow_hash: str, email: str, code: str, address: str, now: datetime) -> VerifyOutcome:
        scopes = self.scopes(email, address)
        if self.throttle.locked_until(now, *scopes) is not None:
            return "locked"
        code = normalize(code)
        outcome: VerifyOutcome
        with self.sessions.begin() as session:
            row = session.scalar(
                select(EmailOtpCode)
                .where(EmailOtpCode.flow_hash == flow_hash, EmailOtpCode.used_at.is_(None))
                .order_by(EmailOtpCode.created_at.desc())
                .limit(1)
                .with_for_update()
            )
            if row is None or row.expires_at <= now:
                return "expired"
            if row.attempts >= MAX_ATTEMPTS:
                return "exhausted"
            matches = row.code_hash is not None and hmac.compare_digest(row.code_hash, self._digest(row.id, code))
            if matches:
                # Single use: of two concurrent submissions exactly one sets used_at.
                result = session.execute(
                    update(EmailOtpCode)
                    .where(EmailOtpCode.id == row.id, EmailOtpCode.used_at.is_(None))
                    .values(used_at=now)
                )
                outcome = "ok" if getattr(result, "rowcount", 0) == 1 else "expired"
            else:
                row.attempts += 1
                outcome = "invalid"
                if row.attempts >= MAX_ATTEMPTS:
                    row.used_at, outcome = now, "exhausted"
        # Counters are written after the code's transaction: SQLite allows one writer at a time.
        if outcome == "ok":
            self.throttle.success(scopes[0])
        elif outcome in ("invalid", "exhausted"):
            self.throttle.failure(now, *scopes)
        return outcome
