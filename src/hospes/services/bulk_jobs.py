"""Durable bulk-invite jobs of the admin portal: the upload, the background worker, and the progress and result
reads. All state is in ``bulk_invite_jobs`` / ``bulk_invite_rows`` (storage/tables_bulk.py), so any server process
can show a job and a restarted or second worker finishes what a dead one started.

* **Upload** (``BulkJobs.create``): the job and all its rows in one transaction, audited; a second upload of the
  same person while one is queued or running is refused (a unique index backs the check).
* **Worker** (``BulkJobWorker``, in the process that runs the background work, or ``hospes worker``): claims the
  oldest queued job, or a running one whose lease expired, with a lease (PostgreSQL ``FOR UPDATE SKIP LOCKED``;
  SQLite's write transactions are ``BEGIN IMMEDIATE``, so claims are serialized). Each row goes through
  ``services.bulk_invite.invite_rows`` and ``InvitationService`` unchanged; the row's outcome and the job's
  counters are written *in the invitation's own transaction*, fenced on the lease, so a crash either leaves the
  row pending with no invitation, or done with exactly one. A worker that lost its lease cannot record a row:
  its invitation rolls back. Every recorded row renews the lease.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import DecryptionError, SecretBox
from hospes.background import BackgroundLoop
from hospes.domain.clock import utcnow
from hospes.domain.errors import ConflictError
from hospes.domain.principals import Principal
from hospes.services.admin_portal import access_of
from hospes.services.base import Services, Write
from hospes.services.bulk_invite import invite_rows
from hospes.services.invitations import InvitationResult, InvitationService, InviteConfig
from hospes.services.web_sessions import user_principal
from hospes.settings import Settings
from hospes.storage.engine import read_sessions
from hospes.storage.tables import User
from hospes.storage.tables_bulk import BulkInviteJob, BulkInviteRow

log = logging.getLogger("hospes.bulk")
MAX_ROWS = 1000
LEASE = timedelta(seconds=60)
POLL_SECONDS = 2.0  # how soon a worker in another process notices a new upload
RETENTION = timedelta(days=7)  # finished jobs (and their sealed links) are deleted after this
MAX_ATTEMPTS = 3  # unexpected errors on one row before it is marked failed (a poison row must not stall the job)
BATCH = 50
STALLED_AFTER = timedelta(seconds=30)  # a queued job this old means no worker is running (they poll every 2 s)
RESULT_HEADER = ["row", "email", "result", "invitationId", "userId", "inviteRedeemUrl", "status", "error"]
_SEAL = "bulk-invite-redeem-url"


@dataclass(frozen=True)
class JobView:
    id: str
    file_name: str
    created_by: str
    created_by_name: str
    created_at: datetime
    status: str
    total: int
    done: int
    succeeded: int
    failed: int
    error: str | None
    finished_at: datetime | None
    stalled: bool = False  # waiting with no live worker: queued for a while, or its worker's lease ran out

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)


@dataclass(frozen=True)
class RowView:
    row_no: int
    email: str
    status: str
    error_code: str | None
    error: str | None

    @property
    def line(self) -> int:
        """The line in the uploaded file (line 1 is the header)."""
        return self.row_no + 2


def _view(job: BulkInviteJob) -> JobView:
    return JobView(
        job.id,
        job.file_name,
        job.created_by,
        job.created_by_name,
        job.created_at,
        job.status,
        job.total,
        job.done,
        job.succeeded,
        job.failed,
        job.error,
        job.finished_at,
        _stalled(job, utcnow()),
    )


def _stalled(job: BulkInviteJob, now: datetime) -> bool:
    if job.status == "queued":
        return now - job.created_at > STALLED_AFTER
    return job.status == "running" and job.lease_until is not None and job.lease_until < now


def _cell(value: Any) -> Any:
    """Spreadsheets run cells that start with these as formulas; the file echoes uploaded text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class BulkJobs(Services):
    """The portal's side: upload, and reads scoped to the tenant and to who may see a job (its uploader, or a
    Global Administrator: the results hold redemption links)."""

    def create(self, file_name: str, rows: list[dict[str, Any]]) -> str:
        if not rows or len(rows) > MAX_ROWS:
            raise ValueError(f"between 1 and {MAX_ROWS} rows")
        job_id = uuid.uuid4().hex
        busy = ConflictError("Your previous upload is still being processed. Wait for it to finish.", target="file")
        try:
            with self.write("Invitation", "Upload bulk invite file") as op:
                s = op.session
                active = select(BulkInviteJob.id).where(
                    BulkInviteJob.tenant_id == self.tenant_id, BulkInviteJob.active_owner == self.actor.id
                )
                if s.scalar(active) is not None:
                    raise busy
                s.add(
                    BulkInviteJob(
                        id=job_id,
                        tenant_id=self.tenant_id,
                        created_by=self.actor.id,
                        created_by_name=self.actor.display_name[:256],
                        active_owner=self.actor.id,
                        file_name=file_name[:200],
                        created_at=op.now,
                        status="queued",
                        total=len(rows),
                        done=0,
                        succeeded=0,
                        failed=0,
                    )
                )
                s.flush()  # the job before its rows (foreign key)
                s.add_all(
                    BulkInviteRow(
                        job_id=job_id,
                        row_no=i,
                        email=str(body.get("invitedUserEmailAddress", ""))[:320],
                        input=body,
                        status="pending",
                        attempts=0,
                    )
                    for i, body in enumerate(rows)
                )
                op.target("BulkInviteJob", job_id, file_name[:200])
                op.details["rows"] = len(rows)
        except IntegrityError:
            raise busy from None  # a concurrent upload of the same person took the unique index first
        return job_id

    def _visible(self, see_all: bool) -> Any:
        cond = BulkInviteJob.tenant_id == self.tenant_id
        return cond if see_all else cond & (BulkInviteJob.created_by == self.actor.id)

    def find(self, job_id: str, *, see_all: bool) -> JobView | None:
        with read_sessions(self.sessions)() as s:
            job = s.scalar(select(BulkInviteJob).where(BulkInviteJob.id == job_id, self._visible(see_all)))
            return _view(job) if job is not None else None

    def recent(self, *, see_all: bool, limit: int = 20) -> list[JobView]:
        with read_sessions(self.sessions)() as s:
            jobs = s.scalars(
                select(BulkInviteJob)
                .where(self._visible(see_all))
                .order_by(BulkInviteJob.created_at.desc())
                .limit(limit)
            )
            return [_view(j) for j in jobs]

    def failures(self, job_id: str, limit: int = 50) -> list[RowView]:
        """Failed rows of a job the caller already found with ``find``."""
        with read_sessions(self.sessions)() as s:
            rows = s.execute(
                select(
                    BulkInviteRow.row_no,
                    BulkInviteRow.email,
                    BulkInviteRow.status,
                    BulkInviteRow.error_code,
                    BulkInviteRow.error,
                )
                .where(BulkInviteRow.job_id == job_id, BulkInviteRow.status == "failed")
                .order_by(BulkInviteRow.row_no)
                .limit(limit)
            )
            return [RowView(*r) for r in rows]

    def results_csv(self, job_id: str, box: SecretBox) -> str:
        """Per-row results (the columns of ``hospes invite --csv``). Redemption links are present for rows whose
        email was not sent; the guests of the other rows have theirs in the email."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(RESULT_HEADER)
        with read_sessions(self.sessions)() as s:
            rows = s.scalars(select(BulkInviteRow).where(BulkInviteRow.job_id == job_id).order_by(BulkInviteRow.row_no))
            for r in rows:
                line = r.row_no + 2
                if r.status == "ok":
                    url = _unseal(box, job_id, r.row_no, r.redeem_url_sealed)
                    cells = [line, r.email, "ok", r.invitation_id, r.user_id, url, r.invitation_status, ""]
                elif r.status == "failed":
                    cells = [line, r.email, "error", "", "", "", r.error_code, r.error]
                else:
                    cells = [line, r.email, "pending", "", "", "", "", ""]
                writer.writerow([_cell(c) for c in cells])
        return out.getvalue()


def _unseal(box: SecretBox, job_id: str, row_no: int, sealed: str | None) -> str:
    if not sealed:
        return ""
    try:
        return box.decrypt(_SEAL, sealed, f"{job_id}:{row_no}").decode()
    except DecryptionError:  # the deployment key changed since: the link is gone, the invitation is not
        return ""


class LostLeaseError(Exception):
    """This worker's lease on the job ended (another worker resumed it) or the row was already recorded: the
    transaction must roll back, invitation included."""


@dataclass
class _Claim:
    job_id: str
    tenant_id: str
    created_by: str
    renew_after: datetime  # when the lease should next be extended


class _RecordingInvitations(InvitationService):
    """The invitation use case unchanged; the row's outcome is added to the invitation's own transaction."""

    def __init__(
        self, sessions: sessionmaker[Session], actor: Principal, config: InviteConfig, worker: BulkJobWorker
    ) -> None:
        super().__init__(sessions, actor, config)
        self.worker = worker
        self.claim: _Claim | None = None
        self.row_no = -1
        self.mail_queued = False

    def commit(self, op: Write, *args: Any, **kwargs: Any) -> InvitationResult:
        result = super().commit(op, *args, **kwargs)
        assert self.claim is not None
        self.mail_queued = result.invitation.message_status == "Queued"
        sealed = None
        if not self.mail_queued:
            # Nobody else has this link: the uploader hands it over. It is a bearer link, so sealed at rest.
            sealed = self.worker.box.encrypt(_SEAL, result.redeem_url.encode(), f"{self.claim.job_id}:{self.row_no}")
        self.worker.record(
            op.session,
            self.claim,
            self.row_no,
            ok=True,
            status="ok",
            invitation_id=result.invitation.id,
            user_id=result.user.id,
            invitation_status=result.invitation.status,
            redeem_url_sealed=sealed,
        )
        return result


class BulkJobWorker(BackgroundLoop):
    """Runs queued bulk-invite jobs: a thread in the process that runs the background work, or ``hospes
    worker``. ``wake()`` shortens the wait after an upload in this process; other processes poll."""

    thread_name = "bulk-invite"
    failure_message = "bulk invite pass failed; retrying after the poll interval"
    logger = log

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        box: SecretBox,
        seal: Callable[[str, Any], str],
        *,
        lease: timedelta = LEASE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()
        self.sessions, self.box, self.lease, self.clock = sessions, box, lease, clock
        self.config = InviteConfig.from_settings(settings, seal)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]
        self._last_prune = 0.0

    # -- thread --------------------------------------------------------------------------------------------------

    def poll_seconds(self) -> float:
        return POLL_SECONDS

    def pass_once(self) -> bool:
        claimed = self.work_once()
        if time.monotonic() - self._last_prune > 3600:
            self._last_prune = time.monotonic()
            prune(self.sessions, self.clock() - RETENTION)
        return claimed is not None  # there may be another job waiting

    # -- one job -------------------------------------------------------------------------------------------------

    def work_once(self, limit: int | None = None) -> int | None:
        """Claim one job and invite its pending rows; the number of rows processed, or None when no job was
        waiting. With ``limit``, stop after that many rows *keeping the lease*, as a worker that died would
        (tests use it to simulate a crash)."""
        claim = self._claim()
        if claim is None:
            return None
        done = 0
        try:
            service = self._service(claim)
            if service is None:
                return 0
            while True:
                batch = self._pending(claim.job_id)
                if not batch:
                    self._finish(claim)
                    return done
                for row_no, body in batch:
                    if limit is not None and done >= limit:
                        return done
                    if self._stop.is_set():
                        self._release(claim)
                        return done
                    self._invite(service, claim, row_no, body)
                    done += 1
        except LostLeaseError:
            log.info("bulk invite job %s was taken over by another worker", claim.job_id)
            return done

    def _claim(self) -> _Claim | None:
        now = self.clock()
        with self.sessions.begin() as s:
            job = s.scalars(
                select(BulkInviteJob)
                .where(
                    or_(
                        BulkInviteJob.status == "queued",
                        (BulkInviteJob.status == "running") & (BulkInviteJob.lease_until < now),
                        # Our own job after an error in this process (the database went away): no need to wait.
                        (BulkInviteJob.status == "running") & (BulkInviteJob.claimed_by == self.owner),
                    )
                )
                .order_by(BulkInviteJob.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if job is None:
                return None
            if job.status == "running" and job.claimed_by != self.owner:
                log.warning("bulk invite job %s: the lease of %s expired; resuming", job.id, job.claimed_by)
            job.status, job.claimed_by, job.lease_until = "running", self.owner, now + self.lease
            job.started_at = job.started_at or now
            return _Claim(job.id, job.tenant_id, job.created_by, now + self.lease / 3)

    def _service(self, claim: _Claim) -> _RecordingInvitations | None:
        """Invite as the uploader, as they would one by one (the invitation policy applies to them). If they were
        deleted, disabled or lost the roles that allow a bulk invite since the upload, the job stops."""
        with self.sessions() as s:
            user = s.get(User, claim.created_by)
            allowed = (
                user is not None
                and user.tenant_id == claim.tenant_id
                and user.deleted_at is None
                and user.account_enabled
                and access_of(s, claim.tenant_id, user.id).may_bulk_invite
            )
            actor = user_principal(user) if user is not None and allowed else None
        if actor is None:
            self._abandon(claim, "The uploader can no longer invite guests in bulk.")
            return None
        service = _RecordingInvitations(self.sessions, actor, self.config, self)
        service.claim = claim
        return service

    def _pending(self, job_id: str) -> list[tuple[int, dict[str, Any]]]:
        with self.sessions() as s:
            rows = s.execute(
                select(BulkInviteRow.row_no, BulkInviteRow.input)
                .where(BulkInviteRow.job_id == job_id, BulkInviteRow.status == "pending")
                .order_by(BulkInviteRow.row_no)
                .limit(BATCH)
            )
            return [(r[0], dict(r[1])) for r in rows]

    def _invite(self, service: _RecordingInvitations, claim: _Claim, row_no: int, body: dict[str, Any]) -> None:
        service.row_no, service.mail_queued = row_no, False
        try:
            [item] = invite_rows(service, [body])
        except LostLeaseError:
            raise
        except Exception as exc:  # a bug or the database: count it on the row, fail the row after a few
            log.exception("bulk invite job %s row %d failed unexpectedly", claim.job_id, row_no)
            self._attempt_failed(claim, row_no, type(exc).__name__)
            return
        if item.result is None:
            # Refused (bad address, policy...): no invitation was written, so recording it apart is safe; a crash
            # before this commit only means the row is tried again and refused again.
            with self.sessions.begin() as s:
                self.record(s, claim, row_no, ok=False, status="failed", error_code=item.code, error=item.error)

    def record(self, s: Session, claim: _Claim, row_no: int, *, ok: bool, **values: Any) -> None:
        """Record a row's outcome and advance the job's counters, only while this worker holds the lease and the
        row is still pending (else ``LostLeaseError``: the caller's transaction rolls back)."""
        now = self.clock()
        # Core statements on the transaction's connection: ORM-enabled UPDATEs would autoflush and synchronize the
        # session for nothing (these rows are not loaded), which doubled the per-row cost.
        conn = s.connection()
        moved = conn.execute(
            update(BulkInviteJob)
            .where(
                BulkInviteJob.id == claim.job_id,
                BulkInviteJob.claimed_by == self.owner,
                BulkInviteJob.status == "running",
            )
            .values(
                done=BulkInviteJob.done + 1,
                succeeded=BulkInviteJob.succeeded + (1 if ok else 0),
                failed=BulkInviteJob.failed + (0 if ok else 1),
                # Renewed with the row, but only when a third of the lease has passed: lease_until is indexed.
                **({"lease_until": now + self.lease} if now >= claim.renew_after else {}),
            )
        )
        if getattr(moved, "rowcount", 0) != 1:
            raise LostLeaseError(claim.job_id)
        if now >= claim.renew_after:
            # Moved before the commit: if this transaction rolls back, the next renewal comes a third of a lease
            # later, still before the lease ends.
            claim.renew_after = now + self.lease / 3
        values["finished_at"] = now
        if "error" in values and values["error"] is not None:
            values["error"] = str(values["error"])[:2000]
        row = conn.execute(
            update(BulkInviteRow)
            .where(
                BulkInviteRow.job_id == claim.job_id,
                BulkInviteRow.row_no == row_no,
                BulkInviteRow.status == "pending",
            )
            .values(**values)
        )
        if getattr(row, "rowcount", 0) != 1:
            raise LostLeaseError(claim.job_id)

    def _attempt_failed(self, claim: _Claim, row_no: int, kind: str) -> None:
        try:
            with self.sessions.begin() as s:
                row = s.get(BulkInviteRow, (claim.job_id, row_no))
                if row is None or row.status != "pending":
                    return
                row.attempts += 1
                if row.attempts >= MAX_ATTEMPTS:
                    self.record(
                        s,
                        claim,
                        row_no,
                        ok=False,
                        status="failed",
                        attempts=row.attempts,
                        error_code="internalError",
                        error=f"An internal error occurred ({kind}).",
                    )
        except LostLeaseError:
            raise
        except Exception:
            # The database is likely away: end this pass (the run loop waits, then takes its own job back) rather
            # than run through the remaining rows without being able to count anything.
            log.exception("could not count the failed attempt on bulk invite job %s row %d", claim.job_id, row_no)
            raise

    def _finish(self, claim: _Claim) -> None:
        with self.sessions.begin() as s:
            s.execute(
                update(BulkInviteJob)
                .where(BulkInviteJob.id == claim.job_id, BulkInviteJob.claimed_by == self.owner)
                .values(
                    status="done",
                    active_owner=None,
                    claimed_by=None,
                    lease_until=None,
                    finished_at=self.clock(),
                )
            )

    def _abandon(self, claim: _Claim, reason: str) -> None:
        """Fail the job and its pending rows (one transaction)."""
        now = self.clock()
        with self.sessions.begin() as s:
            job = s.get(BulkInviteJob, claim.job_id, with_for_update=True)
            if job is None or job.claimed_by != self.owner:
                return
            pending = s.execute(
                update(BulkInviteRow)
                .where(BulkInviteRow.job_id == claim.job_id, BulkInviteRow.status == "pending")
                .values(status="failed", error_code="Authorization_RequestDenied", error=reason, finished_at=now)
            )
            count = int(getattr(pending, "rowcount", 0) or 0)
            job.done, job.failed = job.done + count, job.failed + count
            job.status, job.error, job.finished_at = "failed", reason, now
            job.active_owner = job.claimed_by = job.lease_until = None

    def _release(self, claim: _Claim) -> None:
        """On shutdown: hand the job back at once instead of making the next worker wait for the lease."""
        with self.sessions.begin() as s:
            s.execute(
                update(BulkInviteJob)
                .where(BulkInviteJob.id == claim.job_id, BulkInviteJob.claimed_by == self.owner)
                .values(status="queued", claimed_by=None, lease_until=None)
            )


def prune(sessions: sessionmaker[Session], before: datetime) -> int:
    """Delete jobs finished before ``before`` with their rows (and so their sealed links)."""
    with sessions.begin() as s:
        old = list(
            s.scalars(
                select(BulkInviteJob.id).where(BulkInviteJob.finished_at < before, BulkInviteJob.active_owner.is_(None))
            )
        )
        if old:
            s.execute(delete(BulkInviteRow).where(BulkInviteRow.job_id.in_(old)))
            s.execute(delete(BulkInviteJob).where(BulkInviteJob.id.in_(old)))
        return len(old)
