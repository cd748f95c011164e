"""Audit log (filters, one entry's detail with what changed, CSV download) and Outbox (emails with their delivery
attempts), read only, for Global Administrators."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from hospes.domain.clock import utcnow
from hospes.domain.errors import NotFoundError
from hospes.services.audit_views import AuditFilters, changes_of, other_details
from hospes.web.portal.access import AdminPage, page_number
from hospes.web.portal.deps import AuditDep, OutboxDep

router = APIRouter(include_in_schema=False)


def _filters(admin: AdminPage, request: Request) -> tuple[AuditFilters, dict[str, str], dict[str, str]]:
    """The audit filters of the query string, the values to show back in the form, and a message under each
    filter that could not be read (that filter is then left out)."""
    _ = admin._
    q = request.query_params
    values = {k: q.get(k, "")[:256] for k in ("from", "to", "category", "activity", "actor", "target", "result", "q")}
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for key in ("from", "to"):
        days[key] = None
        if values[key]:
            try:
                days[key] = date.fromisoformat(values[key])
            except ValueError:
                errors[key] = _("Enter a date like 2026-12-31.")
    if days["from"] and days["to"] and days["from"] > days["to"]:
        errors["to"] = _("The end date is before the start date.")
        days["to"] = None
    filters = AuditFilters(
        date_from=days["from"],
        date_to=days["to"],
        category=values["category"][:64],
        activity=values["activity"][:128],
        actor=values["actor"],
        target=values["target"],
        result=values["result"] if values["result"] in ("success", "failure") else "",
        search=values["q"],
    )
    return filters, values, errors


@router.get("/{tenant}/admin/audit")
def audit(request: Request, admin: AuditDep) -> Response:
    filters, values, errors = _filters(admin, request)
    listing = admin.audit_log.page(filters, page_number(request))
    categories, activities = admin.audit_log.choices()
    query = {k: v for k, v in values.items() if v}

    def params(page: int) -> str:
        return urlencode({**query, "page": page})

    return admin.render(
        "portal/audit.html",
        400 if errors else 200,
        listing=listing,
        categories=categories,
        activities=activities,
        values=values,
        errors=errors,
        params=params,
        download=urlencode(query),
    )


@router.get("/{tenant}/admin/audit/download.csv")
def audit_download(request: Request, admin: AuditDep) -> Response:
    filters, _values, _errors = _filters(admin, request)
    name = f"AuditLogs_{utcnow().strftime('%Y-%m-%d_%H%M%S')}.csv"
    return StreamingResponse(
        admin.audit_log.csv_chunks(filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/{tenant}/admin/audit/{entry_id}")
def audit_entry(admin: AuditDep, entry_id: str) -> Response:
    try:
        entry = admin.audit_log.entry(entry_id[:64])
    except NotFoundError:
        return admin.not_found()
    return admin.render("portal/audit_entry.html", e=entry, changes=changes_of(entry), extra=other_details(entry))


@router.get("/{tenant}/admin/outbox")
def outbox(request: Request, admin: OutboxDep) -> Response:
    status = request.query_params.get("status", "")
    listing, attempts = admin.queries.outbox(status=status, page=page_number(request))

    def params(page: int) -> str:
        return urlencode({"status": status, "page": page})

    return admin.render("portal/outbox.html", listing=listing, attempts=attempts, status_filter=status, params=params)
