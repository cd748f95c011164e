"""``/invitations/block``: the "Block future invitations" link of the invitation email and its RFC 8058 one-click
target. The signed token in the link names the tenant and the address. A GET only shows a (localized)
confirmation page — mail scanners fetch links; the block itself is a POST, either from that page's button or the
one-click POST that mail clients send with ``List-Unsubscribe=One-Click`` (no cookies: the token is the proof)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.responses import Response

from hospes.services.invitations.blocks import block_from_link, read_block_link
from hospes.web.deps import PlainPageDep, RuntimeDep
from hospes.web.guest import PlainPage

router = APIRouter()


def _invalid(page: PlainPage) -> Response:
    _ = page.gettext
    return page.error(
        400,
        _("This link is not valid"),
        _("The link is incomplete or damaged. Copy the whole link from the email, or use the unsubscribe portal."),
    )


@router.get("/invitations/block", include_in_schema=False)
def block_page(page: PlainPageDep, runtime: RuntimeDep, token: str = Query("", max_length=4096)) -> Response:
    link = read_block_link(runtime.sessions, runtime.keys, token)
    if link is None:
        return _invalid(page)
    return page.render("block_confirm.html", org=link.organization, email=link.email, token=token)


@router.post("/invitations/block", include_in_schema=False)
def block(page: PlainPageDep, runtime: RuntimeDep, token: str = Query("", max_length=4096)) -> Response:
    link = read_block_link(runtime.sessions, runtime.keys, token)
    if link is None:
        return _invalid(page)
    block_from_link(runtime.sessions, link)
    return page.render("block_done.html", org=link.organization, email=link.email)
