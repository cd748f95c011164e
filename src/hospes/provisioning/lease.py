"""The lease a runner holds on a provisioning job, with a fencing token.

A claim sets ``lease_owner`` and raises ``lease_epoch``; every write the holder makes afterwards (progress, the
objects' states and log rows, the end of a cycle) names both, in its own transaction, and finding neither means
the lease was taken over: the writer stops (``LostLeaseError``), so a runner that stalled past its lease cannot
record anything, and stops pushing at its next write. Leases are compared in the database's time, never a host's.
Claims are one statement per poll, for at most ``free`` jobs that are due (not backing off), and a worker takes no
more than its fair share of the jobs (the active jobs over the workers holding leases), so jobs spread across
workers; a job that starts a long backoff is handed back, so it holds no worker's slot meanwhile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, null, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from hospes import metrics
from hospes.domain.provisioning import RUNNING_CODES
from hospes.storage.dbtime import db_now
from hospes.storage.tables_provisioning import ProvisioningJob

LEASE_SECONDS = 60.0  # HOSPES_PROVISIONING_LEASE_SECONDS


class LostLeaseError(Exception):
    """Another runner holds the job now: this one must stop without writing."""


@dataclass(frozen=True)
class JobLease:
    job_id: str
    owner: str
    epoch: int
    seconds: float = LEASE_SECONDS  # its length: renewed every third of it while the job runs

    def held(self) -> ColumnElement[bool]:
        return and_(
            ProvisioningJob.id == self.job_id,
            ProvisioningJob.lease_owner == self.owner,
            ProvisioningJob.lease_epoch == self.epoch,
        )


def claim(
    sessions: sessionmaker[Session], owner: str, free: int, holding: int, seconds: float = LEASE_SECONDS
) -> list[JobLease]:
    """Lease up to ``free`` active jobs that nobody holds (or whose lease expired), at most this worker's fair
    share; ``holding`` is how many this worker runs already."""
    if free <= 0:
        return []
    with sessions.begin() as session:
        now = db_now(session)
        live = or_(ProvisioningJob.lease_owner.is_(None), ProvisioningJob.lease_until < now)
        active, others = session.execute(
            select(
                func.count(),
                func.count(func.distinct(ProvisioningJob.lease_owner)).filter(
                    ProvisioningJob.lease_until >= now, ProvisioningJob.lease_owner != owner
                ),
            ).where(ProvisioningJob.code.in_(RUNNING_CODES))
        ).one()
        share = math.ceil(active / (others + 1)) - holding
        limit = min(free, share)
        if limit <= 0:
            return []
        due = or_(ProvisioningJob.next_attempt_at.is_(None), ProvisioningJob.next_attempt_at <= now)
        wanted = (
            select(ProvisioningJob.id, ProvisioningJob.lease_owner.label("previous"))
            .where(ProvisioningJob.code.in_(RUNNING_CODES), live, due)
            .order_by(ProvisioningJob.next_attempt_at.is_not(None), ProvisioningJob.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .subquery()
        )
        # SQLite cannot return the FROM subquery's columns; it is one host anyway (takeovers only after a crash).
        postgres = session.get_bind().dialect.name == "postgresql"
        previous = wanted.c.previous if postgres else null()
        rows = session.execute(
            update(ProvisioningJob)
            .where(ProvisioningJob.id == wanted.c.id)
            .values(
                lease_owner=owner,
                lease_epoch=ProvisioningJob.lease_epoch + 1,
                lease_until=now + timedelta(seconds=seconds),
            )
            .returning(ProvisioningJob.id, ProvisioningJob.lease_epoch, previous)
            .execution_options(synchronize_session=False)
        ).all()
        for _, _, previous in rows:
            if previous is not None:  # its holder's lease lapsed (a crash, or a stall past the lease)
                metrics.lease_takeover("provisioning")
        return [JobLease(job_id, owner, epoch, seconds) for job_id, epoch, _ in rows]


def check(session: Session, lease: JobLease | None) -> None:
    """Inside a writing transaction: raise ``LostLeaseError`` unless ``lease`` still holds the job (locked until
    the commit, so a takeover waits for this write or skips the job). ``None``: no lease (provision on demand)."""
    if lease is None:
        return
    found = session.execute(select(ProvisioningJob.id).where(lease.held()).with_for_update(read=True)).first()
    if found is None:
        raise LostLeaseError(lease.job_id)


def renew(session: Session, lease: JobLease, values: dict[str, object] | None = None) -> bool:
    """Extend the lease (and write ``values`` on the job row with it); False when it was lost."""
    result = session.execute(
        update(ProvisioningJob)
        .where(lease.held())
        .values(lease_until=db_now(session) + timedelta(seconds=lease.seconds), **(values or {}))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def release(sessions: sessionmaker[Session], lease: JobLease) -> None:
    with sessions.begin() as session:
        session.execute(
            update(ProvisioningJob)
            .where(lease.held())
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )


def release_all(sessions: sessionmaker[Session], owner: str) -> None:
    """Hand back every job ``owner`` still holds (a stop)."""
    with sessions.begin() as session:
        session.execute(
            update(ProvisioningJob)
            .where(ProvisioningJob.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
