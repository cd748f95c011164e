"""Bulk invite from a CSV file: upload, a progress page that refreshes itself while the rows are invited (no
script needed), and the per-row results as a CSV download.

Rows go through ``services.bulk_invite`` (each row its own transaction, failing on its own), the same code as
``POST /v1.0/invitations/bulk`` and ``hospes invite --csv``. A job runs in a thread of the serving process and its
results (which include one-time redemption links) are kept in that process's memory only, for the user who
started it, for ``JOB_TTL``; they are never written to disk. With several server processes, the progress page must
reach the process that took the upload (sticky sessions) — see docs/portal.md.
"""

from __future__ import annotations

import csv
import io
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from hospes.domain.errors import DomainError
from hospes.domain.invitation import check_redirect_url
from hospes.services.bulk_invite import RowResult, invite_rows, read_csv
from hospes.services.invitations import InvitationService
from hospes.storage.tables import utcnow
from hospes.web.portal.access import AdminPage, open_admin
from hospes.web.portal.users import invite_config, wake_mailer
from hospes.web.security import same_origin

router = APIRouter(include_in_schema=False)
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_ROWS = 1000
JOB_TTL = timedelta(hours=12)
MAX_JOBS = 200  # kept in memory at once (each holds at most MAX_ROWS results); the oldest finished go first
RESULT_HEADER = ["row", "email", "result", "invitationId", "userId", "inviteRedeemUrl", "status", "error"]


@dataclass
class BulkJob:
    id: str
    tenant_id: str
    user_id: str
    file_name: str
    total: int
    created_at: datetime
    results: list[RowResult] = field(default_factory=list)
    finished: bool = False
    crashed: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def done(self) -> int:
        with self.lock:
            return len(self.results)

    @property
    def succeeded(self) -> int:
        with self.lock:
            return sum(1 for r in self.results if r.result is not None)

    @property
    def failed(self) -> int:
        return self.done - self.succeeded

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(RESULT_HEADER)
        with self.lock:
            rows = list(self.results)
        for row in rows:
            if row.result is not None:
                inv = row.result.invitation
                writer.writerow(
                    [row.index + 2, row.email, "ok", inv.id, row.result.user.id, row.result.redeem_url, inv.status, ""]
                )
            else:
                writer.writerow([row.index + 2, row.email, "error", "", "", "", row.code, row.error])
        return out.getvalue()


_JOBS: dict[str, BulkJob] = {}
_JOBS_LOCK = threading.Lock()


def _remember(job: BulkJob) -> bool:
    """Keep a new job, unless its user already has one running (one upload at a time per person, so a
    repeated click cannot start threads without bound). False when refused."""
    with _JOBS_LOCK:
        if any(j.user_id == job.user_id and not j.finished for j in _JOBS.values()):
            return False
        cutoff = utcnow() - JOB_TTL
        for key in [k for k, j in _JOBS.items() if j.created_at < cutoff and j.finished]:
            del _JOBS[key]
        finished = sorted((j for j in _JOBS.values() if j.finished), key=lambda j: j.created_at)
        while len(_JOBS) >= MAX_JOBS and finished:
            del _JOBS[finished.pop(0).id]
        _JOBS[job.id] = job
        return True


def _job_of(admin: AdminPage, job_id: str) -> BulkJob | None:
    with _JOBS_LOCK:
        job = _JOBS.get(job_id)
    if job is None or job.tenant_id != admin.page.tenant.id or job.user_id != admin.principal.id:
        return None  # another user's results hold their guests' redemption links
    return job


def _jobs_of(admin: AdminPage) -> list[BulkJob]:
    with _JOBS_LOCK:
        jobs = [j for j in _JOBS.values() if j.tenant_id == admin.page.tenant.id and j.user_id == admin.principal.id]
    return sorted(jobs, key=lambda j: j.created_at, reverse=True)


def _run(job: BulkJob, service: InvitationService, rows: list[dict[str, Any]], request: Request) -> None:
    def on_row(row: RowResult) -> None:
        with job.lock:
            job.results.append(row)
        if row.result is not None and row.result.invitation.message_status == "Queued" and row.index % 20 == 0:
            wake_mailer(request)

    try:
        invite_rows(service, rows, on_row)
    except Exception as exc:  # a bug or the database going away: show it on the page instead of hanging
        job.crashed = type(exc).__name__
    finally:
        job.finished = True
        wake_mailer(request)


def _allowed(access: Any) -> bool:
    return bool(access.may_bulk_invite)


def _form_page(admin: AdminPage, values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    return admin.render("portal/bulk.html", status, values=values, errors=errors, jobs=_jobs_of(admin))


@router.get("/{tenant}/admin/users/bulk")
def bulk_form(request: Request, tenant: str) -> Response:
    admin = open_admin(request, tenant, "bulk", _allowed)
    if not isinstance(admin, AdminPage):
        return admin
    redirect = f"{admin.page.web.settings.public_url.rstrip('/')}/{admin.page.tenant.key}/myapps"
    return _form_page(admin, {"redirect_url": redirect, "send": "on"}, {})


@router.post("/{tenant}/admin/users/bulk")
async def bulk_submit(request: Request, tenant: str) -> Response:
    admin = open_admin(request, tenant, "bulk", _allowed)
    if not isinstance(admin, AdminPage):
        return admin
    _ = admin._
    if not same_origin(request, admin.page.web.origin):
        return admin.refused(_("This form was sent from another site, so it was refused."))
    length = request.headers.get("content-length", "")
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "multipart/form-data" or not length.isdigit() or int(length) > MAX_UPLOAD_BYTES + 64 * 1024:
        return _form_page(admin, {}, {"file": _("Upload a CSV file of at most 2 MB.")}, 400)
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    except Exception:  # multipart errors of every kind: a readable page, never a 500
        return _form_page(admin, {}, {"file": _("The upload could not be read. Try again.")}, 400)
    try:
        token = form.get("csrf")
        if not isinstance(token, str) or not admin.page.csrf_ok({"csrf": token}):
            return admin.refused(
                _("The form has expired or did not come from this site. Go back, reload the page and try again.")
            )
        redirect = str(form.get("redirect_url") or "").strip()
        values = {"redirect_url": redirect, "send": "on" if form.get("send") == "on" else ""}
        errors: dict[str, str] = {}
        try:
            check_redirect_url(redirect)
        except DomainError as exc:
            errors["redirect_url"] = exc.message
        upload = form.get("file")
        data = b""
        if isinstance(upload, UploadFile):
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if not data:
            errors["file"] = _("Choose a CSV file.")
        elif len(data) > MAX_UPLOAD_BYTES:
            errors["file"] = _("Upload a CSV file of at most 2 MB.")
        if errors:
            return _form_page(admin, values, errors, 400)
        file_name = (upload.filename if isinstance(upload, UploadFile) else "") or "upload.csv"
    finally:
        await form.close()
    defaults: dict[str, Any] = {"inviteRedirectUrl": redirect, "sendInvitationMessage": bool(values["send"])}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.csv"
        path.write_bytes(data)
        try:
            rows = read_csv(path, defaults)
        except (ValueError, UnicodeDecodeError, csv.Error):
            rows = None
    if rows is None:
        errors["file"] = _("The file must be a UTF-8 CSV file with an 'email' column.")
    elif not rows:
        errors["file"] = _("The file has no rows to invite.")
    elif len(rows) > MAX_ROWS:
        errors["file"] = _("At most %(num)d rows per file.") % {"num": MAX_ROWS}
    if errors or rows is None:
        return _form_page(admin, values, errors, 400)
    job = BulkJob(uuid.uuid4().hex, admin.page.tenant.id, admin.principal.id, file_name[:200], len(rows), utcnow())
    if not _remember(job):
        errors["file"] = _("Your previous upload is still being processed. Wait for it to finish.")
        return _form_page(admin, values, errors, 409)
    service = InvitationService(admin.sessions, admin.principal, invite_config(request))
    threading.Thread(target=_run, args=(job, service, rows, request), name=f"bulk-{job.id}", daemon=True).start()
    return admin.redirect(f"/users/bulk/{job.id}")


@router.get("/{tenant}/admin/users/bulk/{job_id}")
def bulk_progress(request: Request, tenant: str, job_id: str) -> Response:
    admin = open_admin(request, tenant, "bulk", _allowed)
    if not isinstance(admin, AdminPage):
        return admin
    job = _job_of(admin, job_id[:64])
    if job is None:
        return admin.not_found()
    with job.lock:
        failures = [r for r in job.results if r.result is None][:50]
    return admin.render("portal/bulk_job.html", job=job, failures=failures)


@router.get("/{tenant}/admin/users/bulk/{job_id}/results.csv")
def bulk_results(request: Request, tenant: str, job_id: str) -> Response:
    admin = open_admin(request, tenant, "bulk", _allowed)
    if not isinstance(admin, AdminPage):
        return admin
    job = _job_of(admin, job_id[:64])
    if job is None:
        return admin.not_found()
    return Response(
        job.csv(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="bulk-invite-{job.id[:8]}-results.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
