"""How long a tenant keeps its sign-in log, and the housekeeping that prunes it.

Entra keeps sign-in logs 30 days (with a P1/P2 licence; 7 without), so 30 is the default here too; a tenant may
choose from 1 to 730 days. Rows past a tenant's retention are deleted by the housekeeping thread in small batches,
one transaction each, so sign-ins being logged never wait long behind it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.services.base import Services
from hospes.storage.tables import Tenant
from hospes.storage.tables_sso import SignIn

SIGN_IN_RETENTION_DAYS = 30
MIN_DAYS, MAX_DAYS = 1, 730


def retention_days(session: Session, tenant_id: str) -> int:
    days = session.scalar(select(Tenant.sign_in_retention_days).where(Tenant.id == tenant_id))
    return int(days or SIGN_IN_RETENTION_DAYS)


class SignInRetentionService(Services):
    def get(self) -> int:
        with self.read() as session:
            return retention_days(session, self.tenant_id)

    def set(self, days: int) -> None:
        if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
            raise InvalidInputError(
                f"The sign-in log retention is a number of days from {MIN_DAYS} to {MAX_DAYS}.", target="days"
            )
        with self.write("Policy", "Update sign-in log retention") as op:
            tenant = op.session.get(Tenant, self.tenant_id, with_for_update=True)
            if tenant is None:
                raise NotFoundError(self.tenant_id)
            op.target("Tenant", tenant.id, tenant.display_name)
            op.details["old"], op.details["new"] = tenant.sign_in_retention_days or SIGN_IN_RETENTION_DAYS, days
            tenant.sign_in_retention_days = days


def prune_sign_ins(sessions: sessionmaker[Session], now: datetime, batch: int = 5000) -> int:
    """Delete every tenant's sign-in rows older than its retention; returns how many."""
    with sessions() as session:
        tenants = list(session.execute(select(Tenant.id, Tenant.sign_in_retention_days)))
    total = 0
    for tenant_id, days in tenants:
        cutoff = now - timedelta(days=days or SIGN_IN_RETENTION_DAYS)
        while True:
            with sessions.begin() as session:
                ids = list(
                    session.scalars(
                        select(SignIn.id).where(SignIn.tenant_id == tenant_id, SignIn.created_at < cutoff).limit(batch)
                    )
                )
                if ids:
                    session.execute(delete(SignIn).where(SignIn.id.in_(ids)))
            total += len(ids)
            if len(ids) < batch:
                break
    return total
