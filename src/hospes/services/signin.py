"""Password sign-in for a tenant's users, with lockout, generic outcomes and audit rows for failures.

Every failure looks the same from outside — unknown name, wrong password, disabled account, a guest without a
local password — and costs the same argon2 verification, so neither the message nor the timing tells whether an
account exists (ASVS v5 6.3.8). Failures are counted per sign-in name (existing or not) and per client address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.passwords import hash_password, verify_password
from hospes.domain.ids import new_id
from hospes.services.throttle import Scope, Throttle
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
                details={"clientAddress": address},
            )
        )


class PasswordSignIn:
    def __init__(self, sessions: sessionmaker[Session], throttle: Throttle) -> None:
        self.sessions, self.throttle = sessions, throttle

    def scopes(self, tenant_id: str, login_name: str, address: str) -> tuple[Scope, Scope]:
        return self.throttle.account(tenant_id, login_name), self.throttle.address(address)

    def check(self, tenant_id: str, login_name: str, password: str, address: str, now: datetime) -> PasswordCheck:
        login_name = login_name.strip()[:1024]
        scopes = self.scopes(tenant_id, login_name, address)
        locked = self.throttle.locked_until(now, *scopes)
        if locked is not None:
            audit_failure(
                self.sessions, tenant_id, now, "Sign in", "locked out", login_name=login_name, address=address
            )
            return PasswordCheck("locked", locked_until=locked)
        user = self._find(tenant_id, login_name)
        stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
        verified = verify_password(stored, password[:256]) if password else False
        if user is None or not user.password_hash or not verified or not user.account_enabled:
            self.throttle.failure(now, *scopes)
            reason = "invalid credentials" if user is None or not verified else "account disabled"
            audit_failure(
                self.sessions, tenant_id, now, "Sign in", reason, user=user, login_name=login_name, address=address
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
