"""Cross-tenant synchronization in a mesh: the changes a job may pass over without a cycle.

Every user synchronized *into* a tenant is a change in that tenant's log, which that tenant's own outbound jobs
read next. Such a user is external there (it came by invitation) and was never pushed on by those jobs, so the
planner would skip it with "Filter external users" and record nothing; running a whole cycle for it (cycle rows,
the last execution, the watermark) would still cost each of those jobs a few writes per change, which in a mesh of
N tenants multiplies every change by N - 1 for nothing. ``only_echoes`` recognizes a window made only of such
changes, and ``advance`` moves the job's watermark past it in one fenced write. ``EchoMarks`` spares even most
of those writes: a mesh job sees a window of echoes after nearly every batch written into its tenant.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.changes import ChangeRecord, ObjectType
from hospes.provisioning.lease import JobLease
from hospes.storage.tables import User
from hospes.storage.tables_provisioning import ProvisionedObject, ProvisioningJob


def only_echoes(session: Session, tenant_id: str, job_id: str, rows: list[ChangeRecord]) -> bool:
    """True when every change of ``rows`` is about a user of this tenant that is external (a guest, or came by
    invitation or synchronization) and that this job never provisioned: the planner would skip each one."""
    if not rows or any(row.object_type != ObjectType.USER for row in rows):
        return False
    ids = {row.object_id for row in rows}
    external = session.scalar(
        select(func.count()).where(
            User.tenant_id == tenant_id,
            User.id.in_(ids),
            (User.user_type == "Guest") | (User.creation_type == "Invitation"),
        )
    )
    if external != len(ids):
        return False  # an internal member (or a user gone for good): a real cycle decides
    linked = session.scalar(
        select(func.count()).where(
            ProvisionedObject.job_id == job_id,
            ProvisionedObject.source_type == "user",
            ProvisionedObject.source_id.in_(ids),
        )
    )
    return not linked


def advance(sessions: sessionmaker[Session], job_id: str, seq: int, lease: JobLease | None) -> None:
    """Move the watermark to ``seq`` (never back), unless another runner holds the job now."""
    stmt = update(ProvisioningJob).where(ProvisioningJob.id == job_id, ProvisioningJob.watermark < seq)
    if lease is not None:
        stmt = stmt.where(lease.held())
    with sessions.begin() as session:
        session.execute(stmt.values(watermark=seq))


class EchoMarks:
    """Where each job's last window of echoes ended, kept in the process and written at most every
    ``persist_seconds``: the next pass starts after it either way. Unwritten marks only cost a look at the same
    echoes again (after a restart, or by another worker that takes the job over); a real pass writes its own
    watermark, past the mark."""

    def __init__(self, sessions: sessionmaker[Session], persist_seconds: float = 2.0) -> None:
        self.sessions, self.persist_seconds = sessions, persist_seconds
        self._marks: dict[str, tuple[int, float]] = {}  # job -> (sequence passed, when last written)
        self._lock = threading.Lock()

    def start(self, job_id: str, watermark: int) -> int:
        with self._lock:
            mark = self._marks.get(job_id)
        return max(watermark, mark[0]) if mark else watermark

    def passed(self, job_id: str, seq: int, lease: JobLease | None) -> None:
        now = time.monotonic()
        with self._lock:
            written = self._marks.get(job_id, (0, 0.0))[1]
            due = now - written >= self.persist_seconds
            self._marks[job_id] = (seq, now if due else written)
        if due:
            advance(self.sessions, job_id, seq, lease)

    def forget(self, job_id: str) -> None:
        """A full cycle starts from the head it reads itself; a stale mark must not outlive a reset of the job."""
        with self._lock:
            self._marks.pop(job_id, None)
