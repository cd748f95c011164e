"""Every check of a password or a client secret, with lockout, generic outcomes and audit rows for failures.

``PasswordSignIn.check`` is the only place a user's password is verified: the sign-in page and the token
endpoint's password grant both call it, so they share one lockout per account and per client address. Every
failure looks the same from outside — unknown name, wrong password, disabled account, a guest without a local
password — and costs the same argon2 verification, so neither the message nor the timing tells whether an account
exists (ASVS v5 6.3.8). Failures are counted per sign-in name (existing or not) and per client address.

``ClientSecretSignIn.check`` is the only place an app's client secret is verified (client credentials, and the
password grant of a confidential client): wrong secrets are counted per app and per client address.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.passwords import hash_password, verify_password, verify_secret
from hospes.domain.ids import new_id
from hospes.services.throttle import Scope, Throttle
from hospes.storage.engine import RawReads
from hospes.storage.tables import AuditLog, User

Outcome = Literal["ok", "invalid", "locked"]


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("hospes-timing-equalizer")


@dataclass(frozen=True)
class PasswordCheck:
    outcome: Outcome
    user: User | None = None
    locked_until: datetime | None = None


def audit_failure(
    sessions: sessionmaker[Session],
    tenant_id: str,
    now: datetime,
    activity: str,
    reason: str,
    *,
    user: User | None = None,
    login_name: str | None = None,
    address: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """A failed sign-in is audited in its own small transaction (nothing else was written)."""
    with sessions.begin() as session:
        session.add(
            AuditLog(
                id=new_id(),
                tenant_id=tenant_id,
                at=now,
                category="Authentication",
                activity=activity,
                result="failure",
                result_reason=reason,
                actor_type="user" if user else "system",
                actor_id=user.id if user else None,
                actor_name=((user.display_name if user else login_name) or "")[:256] or None,
                target_type="User" if user else None,
                target_id=user.id if user else None,
                target_name=(user.user_principal_name if user else (login_name or "")[:1024]) or None,
                details={"clientAddress": address, **(details or {})},
            )
        )


class PasswordSignIn:
    def __init__(self, sessions: sessionmaker[Session], throttle: Throttle) -> None:
        self.sessions, self.throttle = sessions, throttle

    def scopes(self, tenant_id: str, login_name: str, address: str) -> tuple[Scope, Scope]:
        return self.throttle.account(tenant_id, login_name), self.throttle.address(address)

    def check(
        self,
        tenant_id: str,
        login_name: str,
        password: str,
        address: str,
        now: datetime,
        details: Mapping[str, Any] | None = None,
    ) -> PasswordCheck:
        """``details`` (say, the grant type and client id of a token request) go into the audit row of a failure."""
        login_name = login_name.strip()[:1024]
        scopes = self.scopes(tenant_id, login_name, address)
        locked = self.throttle.locked_until(now, *scopes)
        if locked is not None:
            audit_failure(
                self.sessions,
                tenant_id,
                now,
                "Sign in",
                "locked out",
                login_name=login_name,
                address=address,
                details=details,
            )
            return PasswordCheck("locked", locked_until=locked)
        user = self._find(tenant_id, login_name)
        stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
        verified = verify_password(stored, password[:256]) if password else False
        if user is None or not user.password_hash or not verified or not user.account_enabled:
            self.throttle.failure(now, *scopes)
            reason = "invalid credentials" if user is None or not verified else "account disabled"
            audit_failure(
                self.sessions,
                tenant_id,
                now,
                "Sign in",
                reason,
                user=user,
                login_name=login_name,
                address=address,
                details=details,
            )
            return PasswordCheck("invalid")
        self.throttle.success(*scopes)
        return PasswordCheck("ok", user=user)

    def _find(self, tenant_id: str, login_name: str) -> User | None:
        if "@" not in login_name:
            return None
        with self.sessions() as session:
            return session.scalar(
                select(User).where(
                    User.tenant_id == tenant_id, User.upn_key == login_name.lower(), User.deleted_at.is_(None)
                )
            )


@dataclass(frozen=True)
class ClientIdentity:
    """The app a token request names, as read before its secret is checked."""

    tenant_id: str
    client_id: str
    name: str | None
    service_principal_id: str | None
    secrets: Sequence[tuple[str, datetime, datetime]]  # (hash, valid from, valid until) of each of its secrets


def _matches(client: ClientIdentity, secret: str, now: datetime) -> bool:
    return any(verify_secret(stored, secret) and start <= now < end for stored, start, end in client.secrets)


@dataclass(frozen=True)
class SecretCheck:
    outcome: Outcome
    locked_until: datetime | None = None


class ClientSecretSignIn:
    """Secrets are 256-bit random values, so unlike a password a lock on the app cannot be a guessing defence; it
    limits a flood of wrong secrets. A locked app therefore still gets its right secret checked and accepted (who
    knows a client id cannot lock the real app out), while a locked address is refused before any check."""

    def __init__(self, sessions: sessionmaker[Session], throttle: Throttle) -> None:
        self.sessions, self.throttle = sessions, throttle

    def check(
        self,
        client: ClientIdentity,
        secret: str,
        address: str,
        now: datetime,
        details: Mapping[str, Any],
        reads: RawReads | None = None,
    ) -> SecretCheck:
        """``reads``: the caller's connection for the lockout read (one checkout for a whole grant)."""
        app_scope = self.throttle.client(client.tenant_id, client.client_id)
        address_scope = self.throttle.client_address(address)
        counted = self.throttle.counted(now, app_scope, address_scope, reads=reads)
        if counted.get(address_scope) is not None:
            self._audit(client, now, "locked out", address, details)
            return SecretCheck("locked", counted[address_scope])
        if _matches(client, secret, now):
            if app_scope in counted:  # most calls have nothing to clear: no write on the hot path
                self.throttle.success(app_scope)
            return SecretCheck("ok")
        if counted.get(app_scope) is not None:
            self._audit(client, now, "locked out", address, details)
            return SecretCheck("locked", counted[app_scope])
        self.throttle.failure(now, app_scope, address_scope)
        self._audit(client, now, "invalid client secret", address, details)
        return SecretCheck("invalid")

    def accepted_quietly(
        self, client: ClientIdentity, secret: str, address: str, now: datetime, reads: RawReads | None = None
    ) -> bool:
        """True when ``check`` would accept ``secret`` with nothing to record: it is one of the client's valid
        secrets and neither the app nor the address has failures on record. False means "ask ``check``" (which
        counts, audits and locks), not "wrong"."""
        if not _matches(client, secret, now):
            return False
        scopes = (self.throttle.client(client.tenant_id, client.client_id), self.throttle.client_address(address))
        return not self.throttle.counted(now, *scopes, reads=reads)

    def _audit(
        self, client: ClientIdentity, now: datetime, reason: str, address: str, details: Mapping[str, Any]
    ) -> None:
        with self.sessions.begin() as session:
            session.add(
                AuditLog(
                    id=new_id(),
                    tenant_id=client.tenant_id,
                    at=now,
                    category="Authentication",
                    activity="Sign in",
                    result="failure",
                    result_reason=reason,
                    actor_type="app",
                    actor_id=client.service_principal_id,
                    actor_name=(client.name or "")[:256] or None,
                    target_type="ServicePrincipal",
                    target_id=client.service_principal_id,
                    target_name=client.name or client.client_id,
                    details={"clientAddress": address, "clientId": client.client_id, **details},
                )
            )
