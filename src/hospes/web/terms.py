"""The terms-of-use step of a sign-in: conditional access asked for agreements the user hasn't accepted (the
current version, unexpired); this page shows each (the document in the reader's language, or the agreement's
default) and records the answer, then goes on to where the sign-in was heading (an app's authorization request,
a SAML request, My Apps, the portal), which decides again. Declining ends the sign-in there."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.domain.terms_of_use import TEXT
from hospes.services.terms_of_use import document, pending_agreements, record_answer
from hospes.web.context import Page, gettext_for
from hospes.web.deps import PageDep
from hospes.web.login import checked_form
from hospes.web.security import safe_next

router = APIRouter(include_in_schema=False)
_MAX_IDS = 20
_TEXT_SHOWN = 200_000  # characters of a text agreement shown on the page itself


def _ids(value: str | None) -> list[str]:
    return [i.strip()[:64] for i in (value or "").split(",") if i.strip()][:_MAX_IDS]


def _languages(page: Page) -> list[str]:
    return [page.lang]


def _render(page: Page, ids: list[str], target: str, status: int = 200) -> Response:
    live = page.live
    assert live is not None
    pending = pending_agreements(page.web.sessions, page.tenant.id, live.user.id, ids, page.now, _languages(page))
    if not pending:
        return page.redirect(target)
    shown = []
    for agreement, chosen in pending:
        text = None
        if chosen is not None and chosen.content_type == TEXT:
            text = chosen.data.decode("utf-8", errors="replace")[:_TEXT_SHOWN]
        shown.append(
            {
                "id": agreement.id,
                "name": agreement.display_name,
                "file": chosen,
                "text": text,
                "url": f"{page.base}/terms/{agreement.id}/document?{urlencode({'lang': page.lang})}",
                "must_view": agreement.viewing_required,
            }
        )
    return page.render("terms.html", status, agreements=shown, ids=",".join(ids), next=target)


@router.get("/{tenant}/terms")
def terms_page(request: Request, page: PageDep) -> Response:
    target = safe_next(request.query_params.get("next"), page.tenant.key, f"{page.base}/myapps")
    if page.live is None or not page.live.is_full:
        return page.redirect(
            f"{page.base}/login?{urlencode({'next': str(request.url.path) + '?' + request.url.query})}"
        )
    return _render(page, _ids(request.query_params.get("ids")), target)


@router.post("/{tenant}/terms")
async def terms_answer(page: PageDep) -> Response:
    form = await checked_form(page)
    target = safe_next(form.get("next"), page.tenant.key, f"{page.base}/myapps")
    live = page.live
    if live is None or not live.is_full:
        return page.redirect(f"{page.base}/login")
    ids = _ids(form.get("ids"))
    accepted = form.get("decision") == "accept"
    _ = gettext_for(page)
    if accepted and form.get("read") != "yes":
        must_view = any(
            a.viewing_required
            for a, _file in pending_agreements(
                page.web.sessions, page.tenant.id, live.user.id, ids, page.now, [page.lang]
            )
        )
        if must_view:
            return _render(page, ids, target, 400)
    for agreement, chosen in pending_agreements(
        page.web.sessions, page.tenant.id, live.user.id, ids, page.now, _languages(page)
    ):
        record_answer(
            page.web.sessions,
            page.tenant.id,
            live.user,
            agreement.id,
            chosen.id if chosen else None,
            accepted,
            page.now,
        )
    if accepted:
        return page.redirect(target)
    page.web.store.end(live, page.now)  # declined: this sign-in ends here
    page.set_cookie(page.web.cookies.session, None)
    return page.render(
        "notice.html",
        403,
        title=_("You can't continue"),
        message=_("You declined the terms of use, so this organization can't let you in. You can sign in again to "
                  "read them once more."),
        link=f"{page.base}/login",
        link_text=_("Sign in again"),
    )  # fmt: skip


@router.get("/{tenant}/terms/{agreement_id}/document")
def terms_document(request: Request, page: PageDep, agreement_id: str) -> Response:
    """The agreement's document for a signed-in user of this tenant, in the reader's language."""
    if page.live is None or not page.live.is_full:
        return page.redirect(f"{page.base}/login")
    found = document(page.web.sessions, page.tenant.id, agreement_id, [page.lang])
    if found is None:
        _ = gettext_for(page)
        return page.render("notice.html", 404, title=_("Not found"), message=_("This document does not exist."),
                           link=None, link_text=None)  # fmt: skip
    media = "text/plain; charset=utf-8" if found.content_type == TEXT else found.content_type
    filename = found.file_name.replace('"', "").encode("ascii", "replace").decode()
    return Response(
        found.data,
        media_type=media,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
