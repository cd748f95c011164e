"""Tables of the redemption area (ORM models on the shared Base); created by migrations only.

* ``guest_flows``: one browser's redemption, just-in-time sign-in or unsubscribe-portal visit. The browser holds a
  random token in a cookie; the row holds its SHA-256 and the state (who, which invitation, how verified).
* ``email_otp_codes``: email one-time passcodes, kept only as HMACs, with their attempt counters; rows stay an
  hour (they are the send counters), pruned when new codes are issued.
* ``guest_access_policies``: a tenant's guest sign-in settings (email OTP method, require MFA for guests, trust
  the home tenant's MFA).
* ``used_assertions``: ids of spent home-tenant return assertions (single use).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, JsonType, UtcDateTime


class GuestFlow(Base):
    __tablename__ = "guest_flows"
    __table_args__ = (Index("ix_guest_flows_expires", "expires_at"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(36), unique=True)  # public id (home-tenant round trip)
    kind: Mapped[str] = mapped_column(String(16))  # redeem | signin | unsubscribe
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(36))  # None: unknown address (answered like a known one)
    email: Mapped[str] = mapped_column(String(256))
    invitation_id: Mapped[str | None] = mapped_column(String(36))
    ticket_hash: Mapped[str | None] = mapped_column(String(64))  # the redeem link being used, if any
    next_url: Mapped[str | None] = mapped_column(String(2048))
    verified_method: Mapped[str | None] = mapped_column(String(16))  # mail | home
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # home identity, amr
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EmailOtpCode(Base):
    __tablename__ = "email_otp_codes"
    __table_args__ = (
        Index("ix_email_otp_codes_email", "email_key", "created_at"),
        Index("ix_email_otp_codes_flow", "flow_hash"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # No foreign key: codes outlive their flow for an hour, so ending a flow cannot reset the send limits.
    flow_hash: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str | None] = mapped_column(String(36))
    email_key: Mapped[str] = mapped_column(String(256))
    address_key: Mapped[str] = mapped_column(String(64))  # SHA-256 of the requesting client address
    code_hash: Mapped[str | None] = mapped_column(String(64))  # None: nothing was sent (unknown address)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class GuestAccessPolicy(Base):
    __tablename__ = "guest_access_policies"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    email_method_state: Mapped[str] = mapped_column(String(16), default="enabled")
    allow_external_id_email_otp: Mapped[str] = mapped_column(String(32), default="default")
    require_guest_mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    trust_home_mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_guests_to_leave: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UsedAssertion(Base):
    __tablename__ = "used_assertions"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
