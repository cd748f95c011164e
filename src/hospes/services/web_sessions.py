"""Server-side browser sessions: the cookie holds a 256-bit random token, the database only its SHA-256.

A session is bound to one user of one tenant. Sign-in always creates a new row (and token) — never upgrades the
row the browser arrived with — so a planted token cannot become authenticated (session fixation). Deleting the row
is sign-out; ``revoke_user_sessions`` runs inside the user service's writes so that disabling or deleting an
account ends its sessions in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.domain.principals import Principal
from hospes.services.base import Services
from hospes.storage.tables import Tenant, User
from hospes.storage.tables_signin import WebSession
from hospes.storage.tables_sso import RefreshToken

FULL = "full"
MFA_PENDING = "mfa"
# A password-verified session waiting for its second factor lives this long, whatever the settings say.
MFA_PENDING_LIFETIME = timedelta(minutes=10)
# last_seen_at is written at most this often: a write per page view would serialize SQLite for nothing.
TOUCH_INTERVAL = timedelta(seconds=60)
# Form results waiting for the page that shows them (``SessionStore.keep_result``): where, how many, how long.
RESULTS = "results"
MAX_RESULTS = 8
RESULT_LIFETIME = timedelta(minutes=15)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def revoke_user_sessions(session: Session, user_id: str, now: datetime | None = None) -> None:
    """End every browser session of a user, and revoke the refresh tokens apps hold for them, inside the caller's
    transaction (disable, delete, password reset, sign out everywhere)."""
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )


class Account(Protocol):
    """What a session needs of its user (a ``User`` row, or a guest's view of one)."""

    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def user_principal_name(self) -> str: ...
    @property
    def display_name(self) -> str | None: ...


def user_principal(user: Account) -> Principal:
    return Principal(user.tenant_id, "user", user.id, user.display_name or user.user_principal_name)


@dataclass
class LiveSession:
    """A valid session with its user, read in one go at the start of a request."""

    token_hash: str
    tenant_id: str
    user: User
    auth_level: str
    amr: list[str]
    created_at: datetime  # the last interactive authentication (a new sign-in starts a new session)
    data: dict[str, Any] = field(default_factory=dict)
    sid: str = ""  # the public session id apps are told (OpenID ``sid``); never the cookie's secret

    @property
    def is_full(self) -> bool:
        return self.auth_level == FULL


class SessionStore:
    def __init__(self, sessions: sessionmaker[Session], idle: timedelta, absolute: timedelta) -> None:
        self.sessions, self.idle, self.absolute = sessions, idle, absolute

    def create(
        self,
        user: Account,
        *,
        level: str,
        amr: list[str],
        now: datetime,
        address: str | None,
        user_agent: str | None,
        data: dict[str, Any] | None = None,
        replaces: str | None = None,
    ) -> str:
        """Start a session; ``replaces`` (the hash the browser came with) is deleted in the same transaction."""
        token = new_token()
        expires = now + (self.absolute if level == FULL else MFA_PENDING_LIFETIME)
        services = Services(self.sessions, user_principal(user), clock=lambda: now)
        with services.write("Authentication", "Sign in" if level == FULL else "Sign in (password verified)") as op:
            if replaces:
                op.session.execute(delete(WebSession).where(WebSession.token_hash == replaces))
            # Opportunistic cleanup of this user's dead rows keeps the table from growing without a job.
            op.session.execute(delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at <= now))
            op.session.add(
                WebSession(
                    token_hash=token_hash(token),
                    tenant_id=user.tenant_id,
                    user_id=user.id,
                    auth_level=level,
                    sid=new_token(),
                    amr=amr,
                    data=data or {},
                    client_address=(address or "")[:64] or None,
                    user_agent=(user_agent or "")[:256] or None,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=expires,
                )
            )
            if level == FULL:
                op.session.execute(
                    update(User).where(User.id == user.id).values(last_sign_in_at=now, last_successful_sign_in_at=now)
                )
            op.target("User", user.id, user.user_principal_name)
            op.details.update({"methods": amr, "clientAddress": address})
        return token

    def load(self, token: str | None, now: datetime) -> LiveSession | None:
        if not token or len(token) > 128:
            return None
        digest = token_hash(token)
        with self.sessions() as session:
            row = session.get(WebSession, digest)
            if row is None:
                return None
            user = session.get(User, row.user_id)
            tenant = session.get(Tenant, row.tenant_id)
            idle_end = row.last_seen_at + (self.idle if row.auth_level == FULL else MFA_PENDING_LIFETIME)
            alive = row.expires_at > now and idle_end > now
            usable = user is not None and tenant is not None and user.account_enabled and user.deleted_at is None
            if not (alive and usable) or user is None:
                # Belt and braces: revocation already deletes rows, but never trust a row whose user can't sign in.
                session.execute(delete(WebSession).where(WebSession.token_hash == digest))
                session.commit()
                return None
            if now - row.last_seen_at >= TOUCH_INTERVAL:
                session.execute(update(WebSession).where(WebSession.token_hash == digest).values(last_seen_at=now))
                session.commit()
            return LiveSession(
                digest, row.tenant_id, user, row.auth_level, list(row.amr), row.created_at, row.data, row.sid
            )

    def end(self, live: LiveSession, now: datetime, activity: str = "Sign out") -> None:
        services = Services(self.sessions, user_principal(live.user), clock=lambda: now)
        with services.write("Authentication", activity) as op:
            if activity == "Sign out":
                op.session.execute(delete(WebSession).where(WebSession.token_hash == live.token_hash))
            else:
                revoke_user_sessions(op.session, live.user.id)
            op.target("User", live.user.id, live.user.user_principal_name)

    def delete(self, digest: str) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(WebSession).where(WebSession.token_hash == digest))

    def keep_result(self, digest: str, key: str, sealed: str, now: datetime) -> None:
        """Keep a form's result (already encrypted by the caller) in the session's row until the page that shows
        it takes it: a POST stores its outcome under an unguessable ``key`` and redirects, and the GET reads it
        once, so a reload of that page re-sends nothing and a secret in the outcome (a redemption link, a password)
        never appears in a URL."""
        with self.sessions.begin() as session:
            row = session.get(WebSession, digest, with_for_update=True)
            if row is None:
                return  # signed out meanwhile: the result page says it is gone
            kept = _fresh_results(row.data, now)
            kept[key] = {"at": now.isoformat(), "v": sealed}
            # The newest few are enough (one per open tab); the row must not grow with each form sent.
            newest = sorted(kept.items(), key=lambda item: str(item[1]["at"]))[-MAX_RESULTS:]
            row.data = {**row.data, RESULTS: dict(newest)}

    def take_result(self, digest: str, key: str, now: datetime) -> str | None:
        """The result kept under ``key`` by this session, removed as it is read (shown once), or None."""
        with self.sessions.begin() as session:
            row = session.get(WebSession, digest, with_for_update=True)
            if row is None:
                return None
            kept = _fresh_results(row.data, now)
            found = kept.pop(key, None)
            row.data = {**row.data, RESULTS: kept}
            return str(found["v"]) if found else None

    def count_for(self, user_id: str, now: datetime) -> int:
        with self.sessions() as session:
            rows = session.scalars(
                select(WebSession.token_hash).where(WebSession.user_id == user_id, WebSession.expires_at > now)
            )
            return len(list(rows))


def _fresh_results(data: dict[str, Any], now: datetime) -> dict[str, dict[str, Any]]:
    kept = data.get(RESULTS) if isinstance(data, dict) else None
    if not isinstance(kept, dict):
        return {}
    oldest = (now - RESULT_LIFETIME).isoformat()
    return {k: v for k, v in kept.items() if isinstance(v, dict) and str(v.get("at", "")) >= oldest}


def prune_expired_sessions(sessions: sessionmaker[Session], now: datetime) -> None:
    """Housekeeping: drop sessions past their absolute timeout (idle ones go when next presented or here later)."""
    with sessions.begin() as session:
        session.execute(delete(WebSession).where(WebSession.expires_at <= now))
