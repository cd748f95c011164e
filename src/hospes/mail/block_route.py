"""``/invitations/block``: the "Block future invitations" link of the invitation email and its RFC 8058 one-click
target. The signed token in the link names the tenant and the address. A GET only shows a (localized)
confirmation page — mail scanners fetch links; the block itself is a POST, either from that page's button or the
one-click POST that mail clients send with ``List-Unsubscribe=One-Click`` (no cookies: the token is the proof)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from hospes.graph.deps import StateDep
from hospes.services.b2b_policy import block_invitations
from hospes.storage.tables import Tenant
from hospes.web.guest import PlainPage

router = APIRouter()


def _target(state: StateDep, token: str) -> tuple[str, str, str] | None:
    try:
        payload = state.keys.unseal("invitation-block", token)
        tenant_id, email = str(payload["t"]), str(payload["e"])
    except (ValueError, KeyError, TypeError):
        return None
    with state.sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        return (tenant_id, email, tenant.display_name) if tenant else None


def _invalid(page: PlainPage) -> Response:
    _ = page.gettext
    return page.error(
        400,
        _("This link is not valid"),
        _("The link is incomplete or damaged. Copy the whole link from the email, or use the unsubscribe portal."),
    )


@router.get("/invitations/block", include_in_schema=False)
def block_page(request: Request, state: StateDep, token: str = Query("", max_length=4096)) -> Response:
    page = PlainPage.open(request)
    target = _target(state, token)
    if target is None:
        return _invalid(page)
    _, email, org = target
    return page.render("block_confirm.html", org=org, email=email, token=token)


@router.post("/invitations/block", include_in_schema=False)
def block(request: Request, state: StateDep, token: str = Query("", max_length=4096)) -> Response:
    page = PlainPage.open(request)
    target = _target(state, token)
    if target is None:
        return _invalid(page)
    tenant_id, email, org = target
    with state.sessions.begin() as session:
        block_invitations(session, tenant_id, email)
    return page.render("block_done.html", org=org, email=email)
