"""Audit log and Outbox (emails with their delivery attempts), read only, for Global Administrators."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.web.portal.access import page_number
from hospes.web.portal.deps import AuditDep, OutboxDep

router = APIRouter(include_in_schema=False)


@router.get("/{tenant}/admin/audit")
def audit(request: Request, admin: AuditDep) -> Response:
    q = request.query_params
    category, search, result = q.get("category", "")[:64], q.get("q", "")[:256], q.get("result", "")
    listing = admin.queries.audit(category=category, search=search, result=result, page=page_number(request))

    def params(page: int) -> str:
        return urlencode({"category": category, "q": search, "result": result, "page": page})

    return admin.render(
        "portal/audit.html",
        listing=listing,
        categories=admin.queries.audit_categories(),
        category=category,
        search=search,
        result=result,
        params=params,
    )


@router.get("/{tenant}/admin/outbox")
def outbox(request: Request, admin: OutboxDep) -> Response:
    status = request.query_params.get("status", "")
    listing, attempts = admin.queries.outbox(status=status, page=page_number(request))

    def params(page: int) -> str:
        return urlencode({"status": status, "page": page})

    return admin.render("portal/outbox.html", listing=listing, attempts=attempts, status_filter=status, params=params)
