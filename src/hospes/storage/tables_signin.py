"""Sign-in state shared by every process: browser sessions (only a hash of the cookie's token), authenticator
apps, recovery codes and the failure counters that throttle passwords and codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, JsonType, UtcDateTime


class WebSession(Base):
    """A browser session. Only the SHA-256 of the cookie's 256-bit token is stored, so a database read gives no
    usable session. ``auth_level`` is "mfa" while the second factor is still owed, then "full" (a new row and token)."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    auth_level: Mapped[str] = mapped_column(String(8))  # "mfa" (second factor pending) | "full"
    # The session's public id (OpenID ``sid``, SAML SessionIndex source): stable for the session's life, never the
    # cookie's secret.
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    amr: Mapped[list[str]] = mapped_column(JsonType, default=list)  # methods used: pwd, otp, rc
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # flow state, e.g. where to go next
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)  # absolute timeout


class TotpAuthenticator(Base):
    """A user's authenticator app. ``secret`` is AES-GCM ciphertext (``hospes.auth.crypto``); ``last_step`` is the
    last accepted 30-second step, so a code is never accepted twice."""

    __tablename__ = "totp_authenticators"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    secret: Mapped[str] = mapped_column(String(256))
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RecoveryCode(Base):
    """Single-use MFA recovery codes, stored as keyed hashes (HMAC with the server secret key)."""

    __tablename__ = "recovery_codes"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuthThrottle(Base):
    """Failure counters for passwords and codes, per account and per client address, shared by every process.
    ``key`` is a SHA-256 of the scope ("account:<tenant>:<name>", "address:<ip>", "code:<user>")."""

    __tablename__ = "auth_throttles"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
