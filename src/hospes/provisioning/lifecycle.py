"""A cycle's effect on its job row: begin, progress (which also renews the runner's lease), finish, and the stop
that either backs off (the target is unavailable) or quarantines the job; plus the backoff of escrowed objects.

Quarantine: a cycle stopped by an error the tenant must fix (credentials, compliance, too many failures, too many
deletes) sets ``code = Quarantine`` and retries on a doubling backoff (up to a day); a successful cycle clears it.
The series is remembered across retries: after four weeks in quarantine the job is paused. One notification email
is queued on entering quarantine and one more whenever the reason changes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import Clock
from hospes.domain.provisioning import RUNNING_CODES, CycleKind, JobCode, StopReason
from hospes.provisioning.connector import ComplianceError, ConnectorError, CredentialsError, PermanentError
from hospes.provisioning.credentials import JobConfig
from hospes.provisioning.lease import JobLease, renew
from hospes.provisioning.lease import check as check_lease
from hospes.provisioning.notify import enqueue_notice
from hospes.settings import Settings
from hospes.storage.tables_provisioning import ProvisioningJob

log = logging.getLogger("hospes.provisioning")

ESCROW_MAX = timedelta(days=1)
QUARANTINE_MAX = timedelta(days=1)
QUARANTINE_DISABLE_AFTER = timedelta(days=28)
# Failure-rate quarantine: evaluated from 5,000 failures in a cycle; more than 40 % of it, or 40,000, stop it.
FAILURE_MIN, FAILURE_RATIO, FAILURE_MAX = 5000, 0.4, 40000
PROGRESS_EVERY = 0.5  # seconds between progress writes


class CycleStopped(Exception):  # noqa: N818 - control flow: the cycle ends early, the job state says why
    def __init__(self, reason: StopReason, error: ConnectorError | None = None) -> None:
        super().__init__(reason)
        self.reason, self.error = reason, error


def stop_reason(exc: ConnectorError) -> StopReason:
    if isinstance(exc, CredentialsError | ComplianceError):
        return StopReason.QUARANTINE_EXCEPTION
    if exc.transient:
        return StopReason.TARGET_UNAVAILABLE
    return StopReason.QUARANTINE_EXCEPTION


def escrow_delay(count: int, base_seconds: float) -> timedelta:
    """The wait before the ``count``-th retry of an object that failed: doubling from the base, up to a day."""
    return min(timedelta(seconds=base_seconds * 2 ** (count - 1)), ESCROW_MAX)


@dataclass
class Counters:
    imported: int = 0
    exported: int = 0
    failures: int = 0
    escrowed: int = 0
    skipped: int = 0
    done: int = 0  # objects applied in this cycle (the progress bar)
    total: int = 0  # objects to apply in this cycle so far

    def check_failure_rate(self) -> None:
        if self.failures >= FAILURE_MIN and (
            self.failures > FAILURE_MAX or self.failures / max(1, self.imported) > FAILURE_RATIO
        ):
            raise CycleStopped(
                StopReason.ESCROW_THRESHOLD,
                PermanentError("EscrowProportionThreshold", f"{self.failures} objects failed in this cycle"),
            )


@dataclass(frozen=True)
class CycleInfo:
    """Who a cycle works for: the job, its tenant and application, and the kind of the cycle."""

    job_id: str
    tenant_id: str
    sp_id: str
    kind: CycleKind
    app_name: str
    tenant_name: str
    tenant_language: str | None
    force_deletes: bool
    cycle_id: str
    began_at: datetime

    @property
    def on_demand(self) -> bool:
        """Provision on demand and dry runs: no job state is touched, the deletion threshold does not apply."""
        return self.kind in (CycleKind.ON_DEMAND, CycleKind.DRY_RUN)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass
class Lifecycle:
    sessions: sessionmaker[Session]
    settings: Settings
    clock: Clock
    info: CycleInfo
    config: JobConfig
    counters: Counters
    halt: threading.Event  # set here when the job was paused or deleted meanwhile, or the lease was lost
    lease: JobLease | None = None  # the runner's (None: provision on demand, which holds no lease)
    _last_progress: float = field(default=0.0)
    _lazy: bool = field(default=False)  # a short pass: no write of its own for its start or its progress
    _unannounced: bool = field(default=False)  # the cycle's start is not written yet

    def _cycle_values(self) -> dict[str, Any]:
        return {"cycle_id": self.info.cycle_id, "cycle_kind": self.info.kind, "cycle_started_at": self.info.began_at}

    def begin(self) -> None:
        if self.info.on_demand:
            return
        if self.info.kind == CycleKind.INCREMENTAL and not self.info.force_deletes:
            # A pass of a few changes lasts a fraction of a second: its start goes with its next write (progress,
            # end or stop) instead of a transaction of its own. ``cycle_id`` guards only a full cycle's end and a
            # one-shot ForceDeletes, neither of which such a pass has.
            self._lazy = self._unannounced = True
            self._last_progress = time.monotonic()
            return
        with self.sessions.begin() as session:
            check_lease(session, self.lease)
            session.execute(
                update(ProvisioningJob)
                .where(ProvisioningJob.id == self.info.job_id)
                .values(**self._cycle_values(), progress_done=0, progress_total=0)
            )

    def _announce(self, job: ProvisioningJob) -> None:
        if self._unannounced:
            self._unannounced = False
            job.cycle_id, job.cycle_kind, job.cycle_started_at = self.info.cycle_id, self.info.kind, self.info.began_at

    def progress(self, force: bool = False) -> None:
        """Persist progress at most twice a second; notice a pause or delete of the job meanwhile."""
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_EVERY:
            return
        self._last_progress = now
        if self.info.on_demand:
            return
        with self.sessions.begin() as session:
            code = session.scalar(select(ProvisioningJob.code).where(ProvisioningJob.id == self.info.job_id))
            if code not in RUNNING_CODES:
                self.halt.set()  # paused or deleted: stop after the objects in flight
                return
            values: dict[str, Any] = {
                "progress_done": self.counters.done,
                "progress_total": self.counters.total,
                "updated_at": self.clock(),
            }
            if self._unannounced:
                values.update(self._cycle_values())
            if self.lease is None:
                session.execute(update(ProvisioningJob).where(ProvisioningJob.id == self.info.job_id).values(values))
            elif not renew(session, self.lease, values):  # renewed while busy, unless another runner took over
                log.warning("provisioning job %s: the lease was taken over; stopping", self.info.job_id)
                self.halt.set()
                return
        self._unannounced = False

    def _execution(self, state: str, error: ConnectorError | None) -> dict[str, Any]:
        counters = self.counters
        return {
            "activityIdentifier": self.info.cycle_id,
            "cycleKind": self.info.kind,
            "countEntitled": counters.imported - counters.skipped,
            "countEntitledForProvisioning": counters.imported - counters.skipped,
            "countEscrowed": counters.escrowed,
            "countEscrowedRaw": counters.escrowed,
            "countExported": counters.exported,
            "countExports": counters.exported,
            "countImported": counters.imported,
            "countImportedDeltas": counters.imported if self.info.kind == CycleKind.INCREMENTAL else 0,
            "countImportedReferenceDeltas": 0,
            "countFailures": counters.failures,
            "state": state,
            "timeBegan": _iso(self.info.began_at),
            "timeEnded": _iso(self.clock()),
            "error": None
            if error is None
            else {"code": error.code, "message": error.message, "tenantActionable": not error.transient},
        }

    def _lost(self, job: ProvisioningJob) -> bool:
        """The job row (locked) is another runner's now: this cycle records nothing more."""
        lease = self.lease
        if lease is None or (job.lease_owner, job.lease_epoch) == (lease.owner, lease.epoch):
            return False
        log.warning("provisioning job %s: the lease was taken over; the cycle's end is not recorded", job.id)
        self.halt.set()
        return True

    def finish(self, *, watermark: int | None, full_done: bool, reconciled: bool) -> None:
        now = self.clock()
        state = "EntryLevelErrors" if self.counters.failures else "Succeeded"
        with self.sessions.begin() as session:
            job = session.get(ProvisioningJob, self.info.job_id, with_for_update=True)
            if job is None or self._lost(job):
                return
            if self._lazy and job.code not in RUNNING_CODES:
                self.halt.set()  # paused or deleted meanwhile (no progress write noticed it): the watermark stays
                return
            self._announce(job)
            if watermark is not None and watermark > job.watermark:
                job.watermark = watermark
            # A restart or schema change made while this pass ran cleared ``cycle_id``: its full cycle is still owed.
            current = job.cycle_id == self.info.cycle_id
            if full_done and current:
                job.full_pending = False
            if self.info.force_deletes and current:
                job.force_deletes = False  # one-shot: the held deletes were applied
            if reconciled:
                job.last_reconcile_at = now
            job.last_execution = self._execution(state, None)
            job.last_success_at = now
            job.successive_failures = 0
            job.progress_done, job.progress_total = self.counters.done, self.counters.total
            job.next_attempt_at = None
            if job.code == JobCode.QUARANTINE:
                job.code, job.quarantine, job.notified_reason = JobCode.ACTIVE, None, None
            if self.counters.failures == 0:
                job.steady_first_at = job.steady_first_at or now
                job.steady_last_at = now
            job.updated_at = now

    def stopped(self, stopped: CycleStopped) -> None:
        if stopped.reason == StopReason.STOPPED:
            return  # paused or shutting down: the watermark stays, the next run picks up
        now = self.clock()
        error = stopped.error or PermanentError("Unknown", stopped.reason)
        with self.sessions.begin() as session:
            job = session.get(ProvisioningJob, self.info.job_id, with_for_update=True)
            if job is None or self._lost(job):
                return
            self._announce(job)
            job.last_execution = self._execution("Failed", error)
            job.successive_failures = (job.successive_failures or 0) + 1
            job.progress_done, job.progress_total = self.counters.done, self.counters.total
            if error.transient:
                # The target is down or throttling for the whole pass: retry later, never quarantine for it.
                job.next_attempt_at = now + timedelta(seconds=min(300, 2 ** min(job.successive_failures, 9)))
                job.updated_at = now
                return
            self._quarantine(session, job, stopped.reason, error, now)
            job.updated_at = now
        log.warning("provisioning job %s quarantined: %s (%s)", self.info.job_id, stopped.reason, error.message)

    def _quarantine(
        self, session: Session, job: ProvisioningJob, reason: StopReason, error: ConnectorError, now: datetime
    ) -> None:
        previous = job.quarantine or {}
        series = int(previous.get("seriesCount") or 0) + 1
        base = self.settings.provisioning_quarantine_retry_seconds
        next_at = now + min(timedelta(seconds=base * 2 ** (series - 1)), QUARANTINE_MAX)
        began = previous.get("seriesBegan") or _iso(now)
        job.quarantine = {
            "currentBegan": _iso(now),
            "nextAttempt": _iso(next_at),
            "reason": reason,
            "seriesBegan": began,
            "seriesCount": series,
            "error": {"code": error.code, "message": error.message, "tenantActionable": True},
        }
        job.next_attempt_at = next_at
        job.code = JobCode.QUARANTINE
        try:
            series_began = datetime.fromisoformat(str(began).replace("Z", "+00:00"))
        except ValueError:
            series_began = now
        if now - series_began > QUARANTINE_DISABLE_AFTER:
            job.code = JobCode.PAUSED  # four weeks in quarantine: the job is disabled
        if job.notified_reason != reason:
            job.notified_reason = reason
            if self.config.notify and self.config.recipients:
                enqueue_notice(
                    session,
                    self.settings,
                    tenant_id=self.info.tenant_id,
                    tenant_name=self.info.tenant_name,
                    tenant_language=self.info.tenant_language,
                    job_id=self.info.job_id,
                    app_name=self.info.app_name,
                    recipients=self.config.recipients,
                    reason=reason,
                    detail=error.message,
                    next_attempt=None if reason == StopReason.TOO_MANY_DELETES else next_at,
                    now=now,
                )
