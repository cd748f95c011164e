"""TOTP authenticator apps (RFC 6238: SHA-1, 6 digits, 30 s — what every authenticator app supports) and
single-use recovery codes.

- The TOTP secret (160 bits) is stored encrypted with AES-GCM, bound to its user id (``hospes.auth.crypto``).
- A code is accepted in a window of one step either side of the server's clock, and only for a step later than
  the last accepted one: a code, once used, can never be used again (nor can an older one).
- Ten recovery codes of 10 characters (≈ 49 bits each) are shown once and kept as HMACs under the server secret
  key; verification is rate-limited like passwords, so the keyed hash plus throttling is the ASVS-appropriate store.
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.domain.errors import ConflictError
from hospes.domain.principals import Principal
from hospes.services.base import Services
from hospes.storage.tables_signin import RecoveryCode, TotpAuthenticator

STEP_SECONDS = 30
RECOVERY_CODE_COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are copied by hand
_CODE_PURPOSE = "recovery-code"
_TOTP_PURPOSE = "totp"


def new_totp_secret() -> str:
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (one either side of now) whose code equals ``code``, or None."""
    code = re.sub(r"\s", "", code)
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    found = None
    for step in (current - 1, current, current + 1):
        # Compare every candidate, not stopping early, so the timing says nothing about which step matched.
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found


def normalize_recovery_code(code: str) -> str:
    return re.sub(r"[^a-z0-9]", "", code.lower())


def looks_like_totp(code: str) -> bool:
    return re.fullmatch(r"\d{6}", re.sub(r"\s", "", code)) is not None


class MfaService:
    def __init__(self, sessions: sessionmaker[Session], box: SecretBox) -> None:
        self.sessions, self.box = sessions, box

    # --- reading -------------------------------------------------------------------------------------------------

    def is_enrolled(self, user_id: str) -> bool:
        with self.sessions() as session:
            return session.get(TotpAuthenticator, user_id) is not None

    def recovery_codes_left(self, user_id: str) -> int:
        with self.sessions() as session:
            count = session.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
            )
            return int(count or 0)

    # --- enrolment -----------------------------------------------------------------------------------------------

    def enrol(self, actor: Principal, secret: str, code: str, now: datetime) -> list[str] | None:
        """Store the authenticator if ``code`` proves the app has ``secret``; return the new recovery codes."""
        step = matching_step(secret, code, now)
        if step is None:
            return None
        services = Services(self.sessions, actor, clock=lambda: now)
        with services.write("UserManagement", "Register authenticator app") as op:
            op.target("User", actor.id, actor.display_name)
            if op.session.get(TotpAuthenticator, actor.id) is not None:
                raise ConflictError("An authenticator app is already registered.")
            op.session.add(
                TotpAuthenticator(
                    user_id=actor.id,
                    tenant_id=actor.tenant_id,
                    secret=self.box.encrypt(_TOTP_PURPOSE, secret.encode(), actor.id),
                    last_step=step,  # the enrolment code itself is spent
                    created_at=now,
                )
            )
            return self._replace_codes(op.session, actor, now)

    def regenerate_codes(self, actor: Principal, now: datetime) -> list[str]:
        services = Services(self.sessions, actor, clock=lambda: now)
        with services.write("UserManagement", "Regenerate recovery codes") as op:
            op.target("User", actor.id, actor.display_name)
            return self._replace_codes(op.session, actor, now)

    def remove(self, actor: Principal, now: datetime) -> None:
        services = Services(self.sessions, actor, clock=lambda: now)
        with services.write("UserManagement", "Remove authenticator app") as op:
            op.target("User", actor.id, actor.display_name)
            op.session.execute(delete(TotpAuthenticator).where(TotpAuthenticator.user_id == actor.id))
            op.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == actor.id))

    def _replace_codes(self, session: Session, actor: Principal, now: datetime) -> list[str]:
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == actor.id))
        codes = []
        for _ in range(RECOVERY_CODE_COUNT):
            raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
            codes.append(f"{raw[:5]}-{raw[5:]}")
            session.add(
                RecoveryCode(
                    user_id=actor.id,
                    tenant_id=actor.tenant_id,
                    code_hash=self.box.mac(_CODE_PURPOSE, f"{actor.id}:{raw}"),
                    created_at=now,
                )
            )
        return codes

    # --- verification --------------------------------------------------------------------------------------------

    def verify_totp(self, user_id: str, code: str, now: datetime) -> bool:
        with self.sessions.begin() as session:
            row = session.get(TotpAuthenticator, user_id)
            if row is None:
                return False
            secret = self.box.decrypt(_TOTP_PURPOSE, row.secret, user_id).decode()
            step = matching_step(secret, code, now)
            if step is None:
                return False
            # Conditional update: of two concurrent requests with the same code, exactly one moves last_step.
            result = session.execute(
                update(TotpAuthenticator)
                .where(TotpAuthenticator.user_id == user_id, TotpAuthenticator.last_step < step)
                .values(last_step=step)
            )
            return getattr(result, "rowcount", 0) == 1

    def use_recovery_code(self, user_id: str, code: str, now: datetime) -> bool:
        raw = normalize_recovery_code(code)
        if len(raw) != 10:
            return False
        digest = self.box.mac(_CODE_PURPOSE, f"{user_id}:{raw}")
        with self.sessions.begin() as session:
            result = session.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == user_id, RecoveryCode.code_hash == digest, RecoveryCode.used_at.is_(None)
                )
                .values(used_at=now)
            )
            return getattr(result, "rowcount", 0) == 1

    def verify_any(self, user_id: str, code: str, now: datetime) -> str | None:
        """'otp' or 'rc' (the amr value of the method that worked), or None."""
        if looks_like_totp(code):
            return "otp" if self.verify_totp(user_id, code, now) else None
        return "rc" if self.use_recovery_code(user_id, code, now) else None
