"""The worker of the portal's bulk-invite jobs (``jobs``): a thread in the process that runs the background work,
or ``hospes worker``. It claims the oldest queued job, or a running one whose lease expired, with a lease
(PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite's write transactions are ``BEGIN IMMEDIATE``, so claims are
serialized), and invites its pending rows as the uploader, each through ``bulk.invite_rows`` and
``InvitationService`` unchanged.

The row's outcome and the job's counters are written *in the invitation's own transaction* (the service's ``also``
hook), fenced on the lease, so a crash either leaves the row pending with no invitation, or done with exactly one.
A worker that lost its lease cannot record a row: its invitation rolls back. Every recorded row renews the lease.
The groups and app roles the upload chose are added by the portal's onboarding hook in that same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from hospes import metrics
from hospes.auth.crypto import SecretBox
from hospes.background import BackgroundLoop, owner_id
from hospes.domain.clock import utcnow
from hospes.logs import RequestContext, acting_for
from hospes.services.admin_access import access_of
from hospes.services.base import Write
from hospes.services.invitations.bulk import invite_rows
from hospes.services.invitations.jobs import (
    REDEEM_URL_SEAL,
    UPLOADER_CANNOT_ADD,
    UPLOADER_CANNOT_INVITE,
)
from hospes.services.invitations.onboarding import AppGrant, access_hook
from hospes.services.invitations.service import InvitationResult, InvitationService, InviteConfig
from hospes.services.web_sessions import user_principal
from hospes.settings import Settings
from hospes.storage.dbtime import db_now
from hospes.storage.engine import Database
from hospes.storage.tables import User
from hospes.storage.tables_bulk import BulkInviteJob, BulkInviteRow

log = logging.getLogger("hospes.bulk")
LEASE = timedelta(seconds=60)
POLL_SECONDS = 2.0  # how soon a worker in another process notices a new upload
MAX_ATTEMPTS = 3  # unexpected errors on one row before it is marked failed (a poison row must not stall the job)
BATCH = 50


class LostLeaseError(Exception):
    """This worker's lease on the job ended (another worker resumed it) or the row was already recorded: the
    transaction must roll back, invitation included."""


@dataclass
class _Claim:
    job_id: str
    tenant_id: str
    created_by: str
    renew_after: datetime  # when the lease should next be extended
    groups: list[str] = field(default_factory=list)  # every row's guest is added to these (the job's ``access``)
    grants: list[AppGrant] = field(default_factory=list)
    skew: timedelta = timedelta(0)  # the database's clock minus this host's, at the claim (leases are in its time)
    request_id: str | None = None  # the upload's: the rows' audit rows and this job's log lines carry it


class BulkJobWorker(BackgroundLoop):
    """Runs queued bulk-invite jobs: a thread in the process that runs the background work, or ``hospes
    worker``. ``wake()`` shortens the wait after an upload in this process; other processes poll."""

    thread_name = "bulk-invite"
    failure_message = "bulk invite pass failed; retrying after the poll interval"
    logger = log

    def __init__(
        self,
        database: Database,
        settings: Settings,
        box: SecretBox,
        seal: Callable[[str, Any], str],
        *,
        lease: timedelta = LEASE,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock``: what the worker takes as now (tests move one); by default the database's clock, the one
        every worker's leases are compared against."""
        super().__init__()
        self.database, self.sessions = database, database.sessions
        self.box, self.lease, self.clock = box, lease, clock
        self.config = InviteConfig.from_settings(settings, seal)
        self.owner = owner_id()

    # -- thread --------------------------------------------------------------------------------------------------

    def poll_seconds(self) -> float:
        return POLL_SECONDS

    def pass_once(self) -> bool:
        claimed = self.work_once()
        return claimed is not None  # there may be another job waiting

    # -- one job -------------------------------------------------------------------------------------------------

    def work_once(self, limit: int | None = None) -> int | None:
        """Claim one job and invite its pending rows; the number of rows processed, or None when no job was
        waiting. With ``limit``, stop after that many rows *keeping the lease*, as a worker that died would
        (tests use it to simulate a crash)."""
        claim = self._claim()
        if claim is None:
            return None
        with acting_for(RequestContext(claim.request_id) if claim.request_id else None):
            return self._work(claim, limit)

    def _work(self, claim: _Claim, limit: int | None) -> int:
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

    def _db_now(self, s: Session) -> datetime:
        return self.clock() if self.clock is not None else db_now(s)

    def _now(self, claim: _Claim) -> datetime:
        """Now in database time from this host's clock and the skew measured at the claim (no round trip)."""
        return self.clock() if self.clock is not None else utcnow() + claim.skew

    def _claim(self) -> _Claim | None:
        with self.sessions.begin() as s:
            now = self._db_now(s)
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
                metrics.lease_takeover("bulk")
            job.status, job.claimed_by, job.lease_until = "running", self.owner, now + self.lease
            job.started_at = job.started_at or now
            access = job.access or {}
            return _Claim(
                job.id,
                job.tenant_id,
                job.created_by,
                now + self.lease / 3,
                [str(g) for g in access.get("groups", [])],
                [AppGrant.parse(str(k)) for k in access.get("appRoles", [])],
                now - utcnow(),
                job.request_id,
            )

    def _service(self, claim: _Claim) -> InvitationService | None:
        """Invite as the uploader, as they would one by one (the invitation policy applies to them). If they were
        deleted, disabled or lost the roles that allow a bulk invite since the upload, the job stops."""
        with self.sessions() as s:
            user = s.get(User, claim.created_by)
            live = (
                user is not None
                and user.tenant_id == claim.tenant_id
                and user.deleted_at is None
                and user.account_enabled
            )
            access = access_of(s, claim.tenant_id, claim.created_by) if live else None
            actor = user_principal(user) if user is not None and access and access.may_bulk_invite else None
        if actor is None or access is None:
            self._abandon(claim, UPLOADER_CANNOT_INVITE)
            return None
        # The same rule as the portal's form: groups the uploader manages, app roles for Global Administrators.
        if not all(access.manages_group(g) for g in claim.groups) or (claim.grants and not access.is_global_admin):
            self._abandon(claim, UPLOADER_CANNOT_ADD)
            return None
        return InvitationService(self.database, actor, self.config)

    def _pending(self, job_id: str) -> list[tuple[int, dict[str, Any]]]:
        with self.sessions() as s:
            rows = s.execute(
                select(BulkInviteRow.row_no, BulkInviteRow.input)
                .where(BulkInviteRow.job_id == job_id, BulkInviteRow.status == "pending")
                .order_by(BulkInviteRow.row_no)
                .limit(BATCH)
            )
            return [(r[0], dict(r[1])) for r in rows]

    def _invite(self, service: InvitationService, claim: _Claim, row_no: int, body: dict[str, Any]) -> None:
        def record_invited(op: Write, result: InvitationResult) -> None:
            """The row's outcome, in the invitation's own transaction."""
            sealed = None
            if result.invitation.message_status != "Queued":
                # Nobody else has this link: the uploader hands it over. It is a bearer link, so sealed at rest.
                sealed = self.box.encrypt(REDEEM_URL_SEAL, result.redeem_url.encode(), f"{claim.job_id}:{row_no}")
            self.record(
                op.session,
                claim,
                row_no,
                ok=True,
                status="ok",
                invitation_id=result.invitation.id,
                user_id=result.user.id,
                invitation_status=result.invitation.status,
                redeem_url_sealed=sealed,
            )

        grant_access = access_hook(service, claim.groups, claim.grants)

        def invited(op: Write, result: InvitationResult) -> None:
            # The memberships and assignments, then the row's outcome: all in the invitation's transaction, so a
            # crash leaves no guest invited but not added, and a row recorded twice rolls its additions back too.
            if grant_access is not None:
                grant_access(op, result)
            record_invited(op, result)

        try:
            [item] = invite_rows(service, [body], also=invited)
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
        now = self._now(claim)
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
                    finished_at=self._now(claim),
                )
            )

    def _abandon(self, claim: _Claim, reason: str) -> None:
        """Fail the job and its pending rows (one transaction)."""
        now = self._now(claim)
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
