"""Bulk invite from a CSV file: upload, a progress page that refreshes itself while the rows are invited (no
script needed), and the per-row results as a CSV download.

The upload validates the file (size, encoding, an email column, row count) and the groups and app roles chosen,
and stores the job with all its rows in one transaction (``services.invitations.jobs.BulkJobs``); the background
worker (``jobs_worker.BulkJobWorker``) invites the rows through ``services.invitations.bulk``, the code of ``POST
/v1.0/invitations/bulk`` and ``hospes invite --csv``, adding each guest to those groups and app roles in the row's
invitation transaction. Progress and results are read from the database, so any server process serves these pages
and a restart loses nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from hospes.digits import ascii_int
from hospes.domain.errors import ConflictError, DomainError
from hospes.domain.invitation import check_redirect_url
from hospes.services.invitations.bulk import ENCODINGS, CsvFileError, CsvFormat, parse_csv
from hospes.services.invitations.jobs import MAX_ROWS, UPLOADER_CANNOT_ADD, JobView
from hospes.services.invitations.onboarding import AppGrant
from hospes.web.portal.access import AdminPage
from hospes.web.portal.deps import BulkInviteDep
from hospes.web.portal.users import invite_choices
from hospes.web.security import same_origin

router = APIRouter(include_in_schema=False)
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# The Entra portal's bulk-invite template, as its "Download" button gives it: a version line, then bracketed names.
ENTRA_TEMPLATE = (
    "version:v1.0\r\n"
    "Email address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required,"
    "Send invitation message (true or false) [sendEmail],Customized invitation message [customizedMessageBody]\r\n"
)
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-bom": "UTF-8 (BOM)", "utf-16": "UTF-16 (BOM)", "latin-1": "Latin-1"}
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}


def _see_all(admin: AdminPage) -> bool:
    """A Global Administrator sees every job of the tenant; anyone else only their own (the results hold their
    guests' redemption links)."""
    return bool(admin.access.is_global_admin)


def _job_of(admin: AdminPage, job_id: str) -> JobView | None:
    return admin.bulk_jobs.find(job_id[:64], see_all=_see_all(admin))


def _form_page(admin: AdminPage, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    jobs = admin.bulk_jobs.recent(see_all=_see_all(admin))
    groups, apps = invite_choices(admin)
    return admin.render(
        "portal/bulk.html",
        status,
        values=values,
        errors=errors,
        jobs=jobs,
        me=admin.principal.id,
        groups=groups,
        apps=apps,
    )


def _defaults(admin: AdminPage) -> dict[str, Any]:
    redirect = f"{admin.page.web.settings.public_url.rstrip('/')}/{admin.page.tenant.key}/myapps"
    return {"redirect_url": redirect, "send": "on", "groups": [], "apps": []}


def _access_errors(admin: AdminPage, values: dict[str, Any]) -> dict[str, str]:
    """The groups and app roles chosen must be among those the form offered this person (as for one invite)."""
    _ = admin._
    groups, apps = invite_choices(admin)
    errors: dict[str, str] = {}
    if any(g not in {g.id for g in groups} for g in values["groups"]):
        errors["groups"] = _("You can't add guests to one of the chosen groups.")
    offered = {f"{sp.id}:{role['id']}" for sp, roles in apps for role in roles}
    if any(a not in offered for a in values["apps"]):
        errors["apps"] = _("One of the chosen applications or roles is not available.")
    return errors


def found_text(admin: AdminPage, encoding: str, separator: str, entra: bool) -> str:
    """What the file was read as, in words (``separator``: a key of ``SEPARATORS``'s values)."""
    _ = admin._
    names = {"comma": _("commas"), "semicolon": _("semicolons"), "tab": _("tabs")}
    text = _("Read as %(encoding)s, columns separated by %(separator)s.") % {
        "encoding": ENCODING_NAMES.get(encoding, encoding),
        "separator": names.get(separator, separator),
    }
    if entra:
        text += " " + _("This is the Entra bulk-invite template.")
    return text


def _file_error(admin: AdminPage, exc: CsvFileError) -> str:
    _ = admin._
    message = {
        "workbook": _("This is an Excel workbook, not a CSV file. In Excel, use Save As and choose a CSV format."),
        "binary": _("This is not a text file. Save it as CSV (UTF-8, UTF-16 or Latin-1) and upload it again."),
        "syntax": _("The file is not valid CSV: check the quotes around the values."),
    }.get(
        exc.problem,
        _(
            "No email column was found: the first line must name the columns "
            "(email, or the Entra template's column names)."
        ),
    )
    found = exc.found
    if found is None:
        return message
    return f"{message} {found_text(admin, found.encoding, SEPARATORS[found.delimiter], found.entra_template)}"


@router.get("/{tenant}/admin/users/bulk")
def bulk_form(admin: BulkInviteDep) -> Response:
    return _form_page(admin, _defaults(admin), {})


@router.get("/{tenant}/admin/users/bulk/template.csv")
def bulk_template(admin: BulkInviteDep) -> Response:
    """The Entra bulk-invite template, so a file prepared for either portal works in both."""
    return Response(
        ENTRA_TEMPLATE,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="BulkInviteTemplate.csv"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/{tenant}/admin/users/bulk")
async def bulk_submit(request: Request, admin: BulkInviteDep) -> Response:
    _ = admin._
    if not same_origin(request, admin.page.web.origin):
        return admin.refused(_("This form was sent from another site, so it was refused."))
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    length = ascii_int(request.headers.get("content-length"))
    if ctype != "multipart/form-data" or length is None or length > MAX_UPLOAD_BYTES + 64 * 1024:
        # The body is not read, so what was typed is unknown: the form comes back with its defaults.
        return _form_page(admin, _defaults(admin), {"file": _("Upload a CSV file of at most 2 MB.")}, 400)
    try:
        # Fields: the token, the redirect URL, the send flag, and one per group or app role ticked (at most 500 each).
        form = await request.form(max_files=1, max_fields=1010, max_part_size=64 * 1024)
    except Exception:  # multipart errors of every kind: a readable page, never a 500
        return _form_page(admin, _defaults(admin), {"file": _("The upload could not be read. Try again.")}, 400)
    try:
        token = form.get("csrf")
        if not isinstance(token, str) or not admin.page.csrf_ok({"csrf": token}):
            return admin.refused(
                _("The form has expired or did not come from this site. Go back, reload the page and try again.")
            )
        redirect = str(form.get("redirect_url") or "").strip()
        values: dict[str, Any] = {
            "redirect_url": redirect,
            "send": "on" if form.get("send") == "on" else "",
            "groups": [str(g)[:64] for g in form.getlist("groups") if isinstance(g, str)],
            "apps": [str(a)[:130] for a in form.getlist("apps") if isinstance(a, str)],
        }
        errors = _access_errors(admin, values)
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
    try:
        parsed = parse_csv(data, defaults)
    except CsvFileError as exc:
        return _form_page(admin, values, {"file": _file_error(admin, exc)}, 400)
    rows, found = parsed.rows, parsed.found
    if not rows:
        errors["file"] = _("The file has no rows to invite.")
    elif len(rows) > MAX_ROWS:
        errors["file"] = _("At most %(num)d rows per file.") % {"num": MAX_ROWS}
    if errors:
        errors["file"] += " " + found_text(admin, found.encoding, SEPARATORS[found.delimiter], found.entra_template)
        return _form_page(admin, values, errors, 400)
    try:
        job_id = admin.bulk_jobs.create(
            file_name, rows, groups=values["groups"], grants=[AppGrant.parse(a) for a in values["apps"]]
        )
    except ConflictError:  # one upload at a time per person (checked in the database, so across processes)
        errors["file"] = _("Your previous upload is still being processed. Wait for it to finish.")
        return _form_page(admin, values, errors, 409)
    # in this process; a worker in another process notices within its poll interval
    admin.runtime.workers.wake_bulk()
    return admin.redirect(f"/users/bulk/{job_id}", **_read_as(found))


def _read_as(found: CsvFormat) -> dict[str, str]:
    """How the file was read, for the progress page to say (harmless words only, never the file's content)."""
    read = {"read": found.encoding, "sep": SEPARATORS[found.delimiter]}
    return {**read, "entra": "1"} if found.entra_template else read


@router.get("/{tenant}/admin/users/bulk/{job_id}")
def bulk_progress(admin: BulkInviteDep, job_id: str) -> Response:
    job = _job_of(admin, job_id[:64])
    if job is None:
        return admin.not_found()
    failures = admin.bulk_jobs.failures(job.id)
    query = admin.page.request.query_params
    read, sep = query.get("read", ""), query.get("sep", "")
    found = None
    if read in ENCODINGS and sep in SEPARATORS.values():
        found = found_text(admin, read, sep, query.get("entra") == "1")
    return admin.render("portal/bulk_job.html", job=job, failures=failures, found=found, cannot_add=UPLOADER_CANNOT_ADD)


@router.get("/{tenant}/admin/users/bulk/{job_id}/results.csv")
def bulk_results(admin: BulkInviteDep, job_id: str) -> Response:
    job = _job_of(admin, job_id[:64])
    if job is None:
        return admin.not_found()
    return Response(
        admin.bulk_jobs.results_csv(job.id, admin.page.web.box),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="bulk-invite-{job.id[:8]}-results.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
