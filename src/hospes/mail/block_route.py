"""``/invitations/block``: the "Block future invitations" link of the invitation email and its RFC 8058 one-click
target. The signed token in the link names the tenant and the address. A GET only shows a confirmation page
(mail scanners fetch links); the block itself is a POST, either from that page's button or the one-click POST
that mail clients send with ``List-Unsubscribe=One-Click``."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from hospes.graph.deps import StateDep
from hospes.services.b2b_policy import block_invitations
from hospes.storage.tables import Tenant

router = APIRouter()


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


def _target(state: StateDep, token: str) -> tuple[str, str, str] | None:
    try:
        payload = state.keys.unseal("invitation-block", token)
        tenant_id, email = str(payload["t"]), str(payload["e"])
    except (ValueError, KeyError, TypeError):
        return None
    with state.sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        return (tenant_id, email, tenant.display_name) if tenant else None


@router.get("/invitations/block", include_in_schema=False)
def block_page(state: StateDep, token: str = Query("", max_length=4096)) -> HTMLResponse:
    target = _target(state, token)
    if target is None:
        return _page("Invalid link", "<p>This link is not valid.</p>", 400)
    _, email, org = target
    form = (
        f"<p>Stop invitations from <strong>{escape(org)}</strong> to <strong>{escape(email)}</strong>?</p>"
        f'<form method="post" action="/invitations/block?token={escape(token)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Block future invitations</button></form>'
    )
    return _page("Block future invitations", form)


@router.post("/invitations/block", include_in_schema=False)
def block(state: StateDep, token: str = Query("", max_length=4096)) -> HTMLResponse:
    target = _target(state, token)
    if target is None:
        return _page("Invalid link", "<p>This link is not valid.</p>", 400)
    tenant_id, email, org = target
    with state.sessions.begin() as session:
        block_invitations(session, tenant_id, email)
    return _page("Invitations blocked", f"<p>{escape(org)} can no longer send invitations to {escape(email)}.</p>")
