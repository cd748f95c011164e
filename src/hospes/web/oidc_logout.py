"""``/{tenant}/oauth2/v2.0/logout`` (GET and POST): OpenID Connect sign-out, started by an app.

With an ``id_token_hint`` naming this browser's session the session ends at once; otherwise the user confirms
(a form: a cross-site link alone must not sign anyone out). The signed-out page loads each OpenID participant's
front-channel logout URL in a hidden frame, says how many apps were signed out, then moves on to the registered
``post_logout_redirect_uri``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.services.oidc.logout import LogoutRequest
from hospes.web.context import Page, gettext_for
from hospes.web.deps import PageDep
from hospes.web.login import checked_form
from hospes.web.security import read_form
from hospes.web.signout import frames_page, tell_apps

router = APIRouter(include_in_schema=False)
_KEPT = ("client_id", "id_token_hint", "post_logout_redirect_uri", "state", "logout_hint")


async def _params(request: Request) -> dict[str, str]:
    if request.method == "POST":
        return await read_form(request) or {}
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, value)
    return params


def _names_someone_else(page: Page, hint: str | None) -> bool:
    if not hint or page.live is None:
        return False
    user = page.live.user
    return hint.lower() not in {user.upn_key, (user.mail_key or "")}


def _signed_out(page: Page, checked: LogoutRequest) -> Response:
    """End the session (if any), tell its apps, show what happened, move on."""
    frames: list[str] = []
    count = 0
    onward = checked.redirect
    live = page.live
    if live is not None:
        page.web.store.end(live, page.now)
        frames, count, onward = tell_apps(page, live.sid, checked.redirect)
        page.live = None
        page.set_cookie(page.web.cookies.session, None)
    return frames_page(page, frames, count, onward, checked.refused_redirect)


@router.api_route("/{tenant}/oauth2/v2.0/logout", methods=["GET", "POST"])
async def end_session(request: Request, page: PageDep) -> Response:
    params = await _params(request)
    checked = page.web.runtime.end_session.check(page.tenant.id, params)
    if _names_someone_else(page, params.get("logout_hint")):
        page.live = None  # the app signs out an account this browser is not signed in with: nothing to end here
    if page.live is None or (checked.hinted_sid is not None and checked.hinted_sid == page.live.sid):
        return _signed_out(page, checked)
    kept = [(k, params[k][:8192]) for k in _KEPT if params.get(k)]
    _ = gettext_for(page)
    return page.render("oidc_logout_confirm.html", fields=kept, title=_("Sign out"))


@router.post("/{tenant}/oauth2/v2.0/logout/confirm")
async def confirmed(page: PageDep) -> Response:
    form = await checked_form(page)
    checked = page.web.runtime.end_session.check(page.tenant.id, {k: form[k] for k in _KEPT if form.get(k)})
    return _signed_out(page, checked)
