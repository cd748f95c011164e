"""Lockout and rate limits for passwords, codes and client secrets, kept in the database so every process of a
deployment agrees.

Rule (one per scope): a failure older than ``memory`` restarts the count; from the ``threshold``-th consecutive
failure the scope is locked for ``base * 2**(failures - threshold)`` seconds, capped at ``cap``. While locked,
credentials are not even checked (no oracle, no argon2 cost). A success clears an account scope; address scopes
only decay with time, so one valid account cannot launder a credential-stuffing run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.settings import Settings
from hospes.storage.engine import RawReads, raw_reads
from hospes.storage.tables_signin import AuthThrottle


@dataclass(frozen=True)
class Rule:
    threshold: int
    base_seconds: int
    cap_seconds: int
    memory: timedelta

    def lock_for(self, failures: int) -> timedelta | None:
        if failures < self.threshold:
            return None
        exponent = min(failures - self.threshold, 30)
        return timedelta(seconds=min(self.base_seconds * 2**exponent, self.cap_seconds))


@dataclass(frozen=True)
class Scope:
    key: str  # hashed, fixed length
    rule: Rule
    clear_on_success: bool


def scope_key(kind: str, *parts: str) -> str:
    return hashlib.sha256("\x1f".join((kind, *parts)).encode()).hexdigest()


_COUNTED = select(AuthThrottle.key, AuthThrottle.locked_until).where(
    AuthThrottle.key.in_([bindparam("k1"), bindparam("k2")])
)


class Throttle:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.engine: Engine = sessions.kw["bind"]
        self.account_rule = Rule(
            settings.lockout_account_threshold,
            settings.lockout_base_seconds,
            settings.lockout_max_seconds,
            timedelta(hours=24),
        )
        # Many people can share an address (NAT, proxies): a higher bar, a longer cap, a shorter memory.
        self.address_rule = Rule(
            settings.lockout_address_threshold,
            settings.lockout_base_seconds * 2,
            settings.lockout_max_seconds * 4,
            timedelta(hours=1),
        )

    def account(self, tenant_id: str, login_name: str) -> Scope:
        return Scope(scope_key("account", tenant_id, login_name.strip().lower()), self.account_rule, True)

    def codes(self, user_id: str) -> Scope:
        return Scope(scope_key("code", user_id), self.account_rule, True)

    def address(self, address: str) -> Scope:
        """Every password and code checked from one client address, whatever the account or the way in."""
        return Scope(scope_key("address", address), self.address_rule, False)

    def client(self, tenant_id: str, client_id: str) -> Scope:
        """Wrong secrets of one app at the token endpoint."""
        return Scope(scope_key("client", tenant_id, client_id.strip().lower()), self.account_rule, True)

    def client_address(self, address: str) -> Scope:
        """Wrong client secrets from one address. Apart from ``address``: an app that keeps sending an old secret
        from a shared host must not lock the people behind that host out of their own sign-in."""
        return Scope(scope_key("client-address", address), self.address_rule, False)

    def counted(self, now: datetime, *scopes: Scope, reads: RawReads | None = None) -> dict[Scope, datetime | None]:
        """The scopes that have failures on record, each with the end of its lock when locked now (else None).
        Every password and client-secret check asks, successes included: raw reads of two keys at a time on a
        pooled connection (the caller's ``reads``, or one of its own), not a session."""
        if reads is None:
            with raw_reads(self.engine) as own:
                return self.counted(now, *scopes, reads=own)
        by_key = {s.key: s for s in scopes}
        keys = list(by_key)
        found: dict[Scope, datetime | None] = {}
        for i in range(0, len(keys), 2):
            pair = {"k1": keys[i], "k2": keys[min(i + 1, len(keys) - 1)]}
            for key, end in reads.rows(_COUNTED, pair):
                found[by_key[key]] = end if end is not None and end > now else None
        return found

    def locked_until(self, now: datetime, *scopes: Scope) -> datetime | None:
        """The latest lock end among the scopes that are locked now, or None."""
        ends = [end for end in self.counted(now, *scopes).values() if end is not None]
        return max(ends) if ends else None

    def failure(self, now: datetime, *scopes: Scope) -> None:
        with self.sessions.begin() as session:
            for scope in scopes:
                self._fail(session, scope, now)

    def success(self, *scopes: Scope) -> None:
        keys = [s.key for s in scopes if s.clear_on_success]
        if keys:
            with self.sessions.begin() as session:
                session.execute(delete(AuthThrottle).where(AuthThrottle.key.in_(keys)))

    @staticmethod
    def _fail(session: Session, scope: Scope, now: datetime) -> None:
        # The increment is one UPDATE (row-locked until commit on PostgreSQL; SQLite writers are serialized), so
        # concurrent failures from several processes are all counted.
        stale = now - scope.rule.memory
        session.execute(
            update(AuthThrottle)
            .where(AuthThrottle.key == scope.key, AuthThrottle.last_failure_at < stale)
            .values(failures=0, locked_until=None)
        )
        result = session.execute(
            update(AuthThrottle)
            .where(AuthThrottle.key == scope.key)
            .values(failures=AuthThrottle.failures + 1, last_failure_at=now)
        )
        if getattr(result, "rowcount", 0) == 0:
            try:
                with session.begin_nested():
                    session.add(AuthThrottle(key=scope.key, failures=1, last_failure_at=now))
            except IntegrityError:  # another process inserted it first: count on its row
                session.execute(
                    update(AuthThrottle)
                    .where(AuthThrottle.key == scope.key)
                    .values(failures=AuthThrottle.failures + 1, last_failure_at=now)
                )
        row = session.get(AuthThrottle, scope.key, populate_existing=True)
        if row is not None:
            lock = scope.rule.lock_for(row.failures)
            row.locked_until = now + lock if lock else None
