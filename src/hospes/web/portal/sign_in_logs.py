"""Sign-in logs (filters, one sign-in's detail with the conditional-access policies and their results) and how long
they are kept, for Global Administrators."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.digits import ascii_int
from hospes.domain.errors import DomainError, NotFoundError
from hospes.services.sign_in_retention import MAX_DAYS, MIN_DAYS, SignInRetentionService
from hospes.services.sign_in_views import SignInFilters, SignInQueries
from hospes.web.portal.access import AdminPage, page_number
from hospes.web.portal.deps import SignInsDep

router = APIRouter(include_in_schema=False)
STATUSES = ("success", "failure")
ACCESS = ("success", "failure", "notApplied")


def _filters(admin: AdminPage, request: Request) -> tuple[SignInFilters, dict[str, str], dict[str, str]]:
    _ = admin._
    q = request.query_params
    values = {k: q.get(k, "")[:256] for k in ("from", "to", "user", "app", "status", "access")}
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for key in ("from", "to"):
        days[key] = None
        if values[key]:
            try:
                days[key] = date.fromisoformat(values[key])
            except ValueError:
                errors[key] = _("Enter a date like 2026-12-31.")
    filters = SignInFilters(
        user=values["user"].strip(),
        app=values["app"].strip(),
        status=values["status"] if values["status"] in STATUSES else "",
        access=values["access"] if values["access"] in ACCESS else "",
        date_from=days["from"],
        date_to=days["to"],
    )
    return filters, values, errors


@router.get("/{tenant}/admin/sign-ins")
def sign_ins(request: Request, admin: SignInsDep) -> Response:
    filters, values, errors = _filters(admin, request)
    listing = SignInQueries(admin.runtime.database.eventual_sessions(), admin.principal).page(
        filters, page_number(request)
    )
    query = {k: v for k, v in values.items() if v}

    def params(page: int) -> str:
        return urlencode({**query, "page": page})

    retention = SignInRetentionService(admin.sessions, admin.principal).get()
    return admin.render(
        "portal/sign_ins.html",
        400 if errors else 200,
        listing=listing,
        values=values,
        errors=errors,
        params=params,
        retention=retention,
        retention_value=str(retention),
        retention_error="",
        retention_saved=request.query_params.get("done") == "retention",
        retention_range=(MIN_DAYS, MAX_DAYS),
    )


@router.post("/{tenant}/admin/sign-ins/retention")
async def save_retention(request: Request, admin: SignInsDep) -> Response:
    form = await admin.form()
    _ = admin._
    text = form.get("days").strip()[:16]
    service = SignInRetentionService(admin.sessions, admin.principal)
    error = ""
    try:
        days = ascii_int(text) if text else None
        if days is None:
            raise ValueError
        service.set(days)
    except (ValueError, DomainError):
        error = _("Enter a number of days from %(low)d to %(high)d.") % {"low": MIN_DAYS, "high": MAX_DAYS}
    if not error:
        return admin.redirect("/sign-ins", done="retention")
    filters, values, errors = _filters(admin, request)
    listing = SignInQueries(admin.sessions, admin.principal).page(filters, 1)
    return admin.render(
        "portal/sign_ins.html",
        400,
        listing=listing,
        values=values,
        errors=errors,
        params=lambda page: urlencode({"page": page}),
        retention=service.get(),
        retention_value=text,
        retention_error=error,
        retention_saved=False,
        retention_range=(MIN_DAYS, MAX_DAYS),
    )


@router.get("/{tenant}/admin/sign-ins/{sign_in_id}")
def sign_in(admin: SignInsDep, sign_in_id: str) -> Response:
    try:
        row = SignInQueries(admin.runtime.database.eventual_sessions(), admin.principal).entry(sign_in_id[:64])
    except NotFoundError:
        return admin.not_found()
    return admin.render(
        "portal/sign_in.html", s=row, policies=(row.details or {}).get("appliedConditionalAccessPolicies", [])
    )
