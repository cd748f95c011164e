"""Redemption tickets: the secret part of an ``inviteRedeemUrl``.

256 random bits from the OS CSPRNG (ASVS v5 7.2.3 asks for at least 128), kept only as a SHA-256 digest (a
fast hash is enough for a high-entropy secret), single use (consumed by a conditional UPDATE, so two concurrent
redemptions cannot both win), with an expiry, and revoked when a newer invitation of the same user is issued.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hospes.storage.tables import RedemptionTicket

TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session,
    tenant_id: str,
    invitation_id: str,
    user_id: str,
    now: dt.datetime,
    lifetime: dt.timedelta,
    *,
    token: str | None = None,
    revoke: bool = True,
) -> str:
    """Revoke the user's live tickets and add a new one; returns the clear token (never stored). ``token``: one
    drawn earlier with ``new_token`` (the invitation email is rendered before the transaction); ``revoke=False``
    only for a user created in this same transaction, who cannot have tickets yet."""
    if revoke:
        revoke_for_user(session, tenant_id, user_id, now)
    token = token or new_token()
    session.add(
        RedemptionTicket(
            token_hash=token_hash(token),
            tenant_id=tenant_id,
            invitation_id=invitation_id,
            user_id=user_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def revoke_for_user(session: Session, tenant_id: str, user_id: str, now: dt.datetime) -> None:
    session.execute(
        update(RedemptionTicket)
        .where(
            RedemptionTicket.tenant_id == tenant_id,
            RedemptionTicket.user_id == user_id,
            RedemptionTicket.used_at.is_(None),
            RedemptionTicket.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


def find_valid(
    session: Session, tenant_id: str, invitation_id: str, token: str, now: dt.datetime
) -> RedemptionTicket | None:
    """The live ticket behind a redeem link, or None (unknown, other tenant/invitation, used, revoked, expired).
    Looking a ticket up never consumes it: a GET of the link (mail scanners do that) changes nothing."""
    row = session.scalar(select(RedemptionTicket).where(RedemptionTicket.token_hash == token_hash(token)))
    if row is None or row.tenant_id != tenant_id or not hmac.compare_digest(row.invitation_id, invitation_id):
        return None
    if row.used_at is not None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row


def consume(session: Session, token: str, now: dt.datetime) -> bool:
    """Mark the ticket used; True for exactly one caller, however many race."""
    return consume_hash(session, token_hash(token), now)


def consume_hash(session: Session, digest: str, now: dt.datetime) -> bool:
    """``consume`` by the stored digest (the redemption flow keeps the digest, never the clear token)."""
    result = session.execute(
        update(RedemptionTicket)
        .where(
            RedemptionTicket.token_hash == digest,
            RedemptionTicket.used_at.is_(None),
            RedemptionTicket.revoked_at.is_(None),
            RedemptionTicket.expires_at > now,
        )
        .values(used_at=now)
    )
    return bool(getattr(result, "rowcount", 0) == 1)
