"""The unsubscribe portal: ``/unsubscribe`` — enter an address, prove it with an email one-time
passcode, see the organizations it blocked, export the list (copy, CSV), unblock one.

The proof lives in a flow row (cookie ``hospes_unsub``, 30 minutes); nothing here needs an account.
"""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.services.guest_flows import FlowView
from hospes.services.invitations.blocks import blocked_organizations, unblock
from hospes.web.context import client_address
from hospes.web.deps import PlainPageDep
from hospes.web.guest import PlainPage, entered_address, mask_email, plain_form
from hospes.web.otp_messages import code_error, sent_notice

router = APIRouter(include_in_schema=False)


def _cookie(page: PlainPage) -> str:
    return "__Host-hospes_unsub" if page.web.cookies.secure else "hospes_unsub"


def _flow(page: PlainPage) -> FlowView | None:
    flow = page.web.redemption.load(page.request.cookies.get(_cookie(page)), page.now)
    return flow if flow is not None and flow.kind == "unsubscribe" else None


@router.get("/unsubscribe")
def start(page: PlainPageDep) -> Response:
    return page.render("unsub_start.html", email="", error=None)


@router.post("/unsubscribe")
async def start_submit(request: Request, page: PlainPageDep) -> Response:
    form = await plain_form(page)
    _ = page.gettext
    email, valid = entered_address(form)
    if not valid:
        return page.render("unsub_start.html", 400, email=email, error=_("Enter an email address."))
    service = page.web.redemption
    token = service.start_unsubscribe(email, page.now)
    flow = service.load(token, page.now)
    if flow is None:  # cannot happen to a flow just started; starting over beats failing
        return _expired(page)
    outcome = service.send_code(flow, client_address(request), page.now)
    page.set_cookie(_cookie(page), token)
    return page.redirect(f"/unsubscribe/code?sent={outcome}")


def _code_page(page: PlainPage, flow: FlowView, status: int = 200, error: str | None = None) -> Response:
    notice = sent_notice(page.request.query_params.get("sent"), mask_email(flow.email), page.gettext)
    return page.render(
        "unsub_code.html",
        status,
        masked=mask_email(flow.email),
        notice=notice,
        error=error,
        minutes=page.web.settings.email_otp_lifetime_minutes,
    )


def _expired(page: PlainPage) -> Response:
    return page.redirect("/unsubscribe")


@router.get("/unsubscribe/code")
def code(page: PlainPageDep) -> Response:
    flow = _flow(page)
    if flow is None:
        return _expired(page)
    return _code_page(page, flow)


@router.post("/unsubscribe/code")
async def code_submit(request: Request, page: PlainPageDep) -> Response:
    flow = _flow(page)
    if flow is None:
        return _expired(page)
    form = await plain_form(page)
    outcome = page.web.redemption.verify_code(flow, form.get("code", "")[:64], client_address(request), page.now)
    if outcome == "ok":
        return page.redirect("/unsubscribe/manage")
    status, message = code_error(outcome, page.gettext)
    return _code_page(page, flow, status, message)


def _verified(page: PlainPage) -> FlowView | None:
    flow = _flow(page)
    return flow if flow is not None and flow.verified_method == "mail" else None


@router.get("/unsubscribe/manage")
def manage(request: Request, page: PlainPageDep) -> Response:
    flow = _verified(page)
    if flow is None:
        return _expired(page)
    orgs = blocked_organizations(page.web.sessions, flow.email)
    export = "\n".join(f"{o.name} ({o.domain})" for o in orgs)
    notice = page.gettext("Unblocked.") if request.query_params.get("unblocked") else None
    return page.render("unsub_manage.html", email=flow.email, orgs=orgs, export=export, notice=notice)


@router.get("/unsubscribe/manage.csv")
def manage_csv(page: PlainPageDep) -> Response:
    flow = _verified(page)
    if flow is None:
        return _expired(page)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["organization", "domain", "tenantId", "blockedDateTime"])
    for org in blocked_organizations(page.web.sessions, flow.email):
        # A leading =, +, - or @ would be a formula in spreadsheets (CSV injection): quote it away.
        name = "'" + org.name if org.name[:1] in ("=", "+", "-", "@") else org.name
        writer.writerow([name, org.domain, org.tenant_id, org.blocked_at.isoformat()])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="blocked-organizations.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/unsubscribe/unblock")
async def unblock_submit(page: PlainPageDep) -> Response:
    flow = _verified(page)
    if flow is None:
        return _expired(page)
    form = await plain_form(page)
    unblock(page.web.sessions, flow.email, form.get("tenant", ""))
    return page.redirect("/unsubscribe/manage?unblocked=1")


@router.post("/unsubscribe/done")
async def done(page: PlainPageDep) -> Response:
    await plain_form(page)
    flow = _flow(page)
    if flow is not None:
        page.web.redemption.end(flow)
    page.set_cookie(_cookie(page), None)
    return page.redirect("/unsubscribe")
