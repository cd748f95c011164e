"""The admin portal's durable bulk-invite jobs: an uploaded CSV file becomes a job whose rows a background worker
(``jobs_worker``) invites one by one, surviving restarts; the portal shows progress and results. Unlike ``bulk``
(the rows of one API request or CLI run, invited while the caller waits) nothing here runs on a request.

All state is in ``bulk_invite_jobs`` / ``bulk_invite_rows`` (storage/tables_bulk.py), so any server process can
show a job and a restarted or second worker finishes what a dead one started.

* **Upload** (``BulkJobs.create``): the job and all its rows in one transaction, audited; a second upload of the
  same person while one is queued or running is refused (a unique index backs the check).
* **Reads** (``BulkJobs.find``, ``recent``, ``failures``, ``results_csv``): scoped to the tenant and to who may see
  a job (its uploader, or a Global Administrator: the results hold redemption links).
* **Retention** (``prune``): finished jobs and their sealed links go after ``RETENTION``.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import DecryptionError, SecretBox
from hospes.domain.clock import utcnow
from hospes.domain.errors import ConflictError
from hospes.domain.principals import Principal
from hospes.services.base import Services
from hospes.services.invitations.onboarding import AppGrant
from hospes.storage.engine import Database
from hospes.storage.notify import BULK, notify
from hospes.storage.tables_bulk import BulkInviteJob, BulkInviteRow

MAX_ROWS = 1000
RETENTION = timedelta(days=7)  # finished jobs (and their sealed links) are deleted after this
STALLED_AFTER = timedelta(seconds=30)  # a queued job this old means no worker is running (they poll every 2 s)
RESULT_HEADER = ["row", "email", "result", "invitationId", "userId", "inviteRedeemUrl", "status", "error"]
REDEEM_URL_SEAL = "bulk-invite-redeem-url"  # the purpose a row's redemption link is sealed under
# Why the worker stops a job (``BulkInviteJob.error``), so the progress page can say it in the page's language.
UPLOADER_CANNOT_INVITE = "The uploader can no longer invite guests in bulk."
UPLOADER_CANNOT_ADD = "The uploader can no longer add guests to the chosen groups or applications."


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
    groups: int = 0  # how many groups and app roles each row's guest is added to
    app_roles: int = 0

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
        len((job.access or {}).get("groups", [])),
        len((job.access or {}).get("appRoles", [])),
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

    def __init__(self, database: Database, actor: Principal) -> None:
        super().__init__(database.sessions, actor)
        self.database = database

    def create(
        self,
        file_name: str,
        rows: list[dict[str, Any]],
        *,
        groups: Sequence[str] = (),
        grants: Sequence[AppGrant] = (),
    ) -> str:
        """``groups`` and ``grants``: what every row's guest is added to (the caller checked that this person may
        add guests to them; the worker checks it again when the job starts)."""
        if not rows or len(rows) > MAX_ROWS:
            raise ValueError(f"between 1 and {MAX_ROWS} rows")
        group_ids, role_keys = list(dict.fromkeys(groups)), list(dict.fromkeys(g.key for g in grants))
        access = {"groups": group_ids, "appRoles": role_keys} if group_ids or role_keys else None
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
                        access=access,
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
                notify(s, BULK)  # a worker on another host starts at once instead of at its next poll
                op.target("BulkInviteJob", job_id, file_name[:200])
                op.details["rows"] = len(rows)
                if access:
                    op.details.update(access)
        except IntegrityError:
            raise busy from None  # a concurrent upload of the same person took the unique index first
        return job_id

    def _visible(self, see_all: bool) -> Any:
        cond = BulkInviteJob.tenant_id == self.tenant_id
        return cond if see_all else cond & (BulkInviteJob.created_by == self.actor.id)

    def find(self, job_id: str, *, see_all: bool) -> JobView | None:
        with self.database.read_sessions() as s:
            job = s.scalar(select(BulkInviteJob).where(BulkInviteJob.id == job_id, self._visible(see_all)))
            return _view(job) if job is not None else None

    def recent(self, *, see_all: bool, limit: int = 20) -> list[JobView]:
        with self.database.read_sessions() as s:
            jobs = s.scalars(
                select(BulkInviteJob)
                .where(self._visible(see_all))
                .order_by(BulkInviteJob.created_at.desc())
                .limit(limit)
            )
            return [_view(j) for j in jobs]

    def failures(self, job_id: str, limit: int = 50) -> list[RowView]:
        """Failed rows of a job the caller already found with ``find``."""
        with self.database.read_sessions() as s:
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
        with self.database.read_sessions() as s:
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
        return box.decrypt(REDEEM_URL_SEAL, sealed, f"{job_id}:{row_no}").decode()
    except DecryptionError:  # the deployment key changed since: the link is gone, the invitation is not
        return ""


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
