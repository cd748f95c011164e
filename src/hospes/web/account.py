"""The signed-in landing page, the user's own security info (authenticator app (TOTP) and recovery codes), and a
guest leaving the organization (when the tenant lets guests leave).

Enrolment keeps no server state until it succeeds: the GET draws a secret and hands it to the browser sealed
(AES-GCM, bound to this session), the POST unseals it, checks a code from the app, then stores it encrypted.
"""

from __future__ import annotations

import segno
from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import Response

from hospes.auth.crypto import DecryptionError
from hospes.domain.errors import ConflictError
from hospes.services.mfa import new_totp_secret, provisioning_uri
from hospes.services.users import UserService, is_invited
from hospes.services.web_sessions import LiveSession, user_principal
from hospes.web.context import Page, client_address, gettext_for
from hospes.web.deps import PageDep
from hospes.web.exits import PageExit
from hospes.web.login import checked_form

router = APIRouter(include_in_schema=False)
_ENROL = "totp-enrol"


def _signed_in(page: Page, path: str) -> LiveSession:
    """The session of a fully signed-in user; otherwise the sign-in page, then back to ``path``."""
    if page.live is None or not page.live.is_full:
        raise PageExit(page.redirect(f"{page.base}/login?next=/{page.tenant.key}{path}"))
    return page.live


@router.get("/{tenant}/me")
def me(page: PageDep) -> Response:
    live = _signed_in(page, "/me")
    mfa = page.web.mfa
    user = live.user
    return page.render(
        "me.html",
        live=live,
        mfa_enrolled=mfa.is_enrolled(user.id),
        codes_left=mfa.recovery_codes_left(user.id),
        session_count=page.web.store.count_for(user.id, page.now),
        invited=is_invited(user),
        may_leave=_users(page, live).may_leave(user),
    )


def _users(page: Page, live: LiveSession) -> UserService:
    return UserService(page.web.sessions, user_principal(live.user), clock=lambda: page.now)


@router.get("/{tenant}/me/leave")
def leave_page(page: PageDep) -> Response:
    """What leaving means, and the button that does it (a POST with the page's CSRF token)."""
    live = _signed_in(page, "/me/leave")
    if not is_invited(live.user):
        return page.redirect(f"{page.base}/me")
    allowed = _users(page, live).may_leave(live.user)
    return page.render("leave.html", 200 if allowed else 403, allowed=allowed)


@router.post("/{tenant}/me/leave")
async def leave(page: PageDep) -> Response:
    live = _signed_in(page, "/me/leave")
    await checked_form(page)
    if not _users(page, live).leave():
        return page.render("leave.html", 403, allowed=False)
    # The account's sessions ended with it; the browser forgets its cookie.
    page.live = None
    page.set_cookie(page.web.cookies.session, None)
    return page.redirect(f"{page.base}/me/left")


@router.get("/{tenant}/me/left")
def left(page: PageDep) -> Response:
    _ = gettext_for(page)
    return page.render(
        "notice.html",
        title=_("You left %(organization)s") % {"organization": page.tenant.name},
        message=_("Your guest account was removed. To work with this organization again, ask for a new invitation."),
        link=None,
        link_text=None,
    )


def _setup_page(page: Page, live: LiveSession, sealed: str | None, error: str | None, status: int = 200) -> Response:
    secret = new_totp_secret()
    if sealed is not None:
        secret = page.web.box.decrypt(_ENROL, sealed, live.token_hash).decode()
    else:
        sealed = page.web.box.encrypt(_ENROL, secret.encode(), live.token_hash)
    uri = provisioning_uri(secret, live.user.user_principal_name, page.tenant.name)
    # segno renders only path data of its own, so the markup is safe to embed unescaped.
    qr = Markup(segno.make(uri, error="m").svg_inline(scale=5, border=4, light="#fff", svgclass="qr", omitsize=True))
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return page.render("mfa_setup.html", status, qr=qr, secret=grouped, sealed=sealed, error=error)


@router.get("/{tenant}/me/mfa")
def mfa_page(page: PageDep) -> Response:
    live = _signed_in(page, "/me/mfa")
    user_id = live.user.id
    if page.web.mfa.is_enrolled(user_id):
        return page.render("mfa_manage.html", codes_left=page.web.mfa.recovery_codes_left(user_id), error=None)
    return _setup_page(page, live, None, None)


@router.post("/{tenant}/me/mfa/enrol")
async def mfa_enrol(request: Request, page: PageDep) -> Response:
    live = _signed_in(page, "/me/mfa")
    form = await checked_form(page)
    _ = gettext_for(page)
    web, user = page.web, live.user
    sealed = form.get("sealed", "")
    try:
        secret = web.box.decrypt(_ENROL, sealed, live.token_hash).decode()
    except DecryptionError:
        return page.error(400, _("Set-up expired"), _("This set-up page has expired. Open it again to start over."))
    scopes = (web.throttle.codes(user.id), web.throttle.address(client_address(request)))
    if web.throttle.locked_until(page.now, *scopes) is not None:
        return _setup_page(page, live, sealed, _("Too many failed attempts. Wait a few minutes, then try again."), 429)
    try:
        codes = web.mfa.enrol(user_principal(user), secret, form.get("code", "")[:64], page.now)
    except ConflictError:
        return page.redirect(f"{page.base}/me/mfa")
    if codes is None:
        web.throttle.failure(page.now, *scopes)
        message = _("That code is not valid. Check the time on your phone and try again.")
        return _setup_page(page, live, sealed, message, 400)
    web.throttle.success(*scopes)
    return page.render("recovery_codes.html", codes=codes, first_time=True)


async def _with_code(request: Request, page: Page) -> LiveSession:
    """A security-info change: signed in, a valid form, and a fresh code (TOTP or recovery) from the user, so a
    stolen session alone cannot take over or strip the second factor."""
    live = _signed_in(page, "/me/mfa")
    form = await checked_form(page)
    _ = gettext_for(page)
    web, user = page.web, live.user
    scopes = (web.throttle.codes(user.id), web.throttle.address(client_address(request)))
    codes_left = web.mfa.recovery_codes_left(user.id)
    if web.throttle.locked_until(page.now, *scopes) is not None:
        message = _("Too many failed attempts. Wait a few minutes, then try again.")
        raise PageExit(page.render("mfa_manage.html", 429, codes_left=codes_left, error=message))
    method = web.mfa.verify_any(user.id, form.get("code", "")[:64], page.now)
    if method is None:
        web.throttle.failure(page.now, *scopes)
        message = _("That code is not valid. Try again.")
        raise PageExit(page.render("mfa_manage.html", 401, codes_left=codes_left, error=message))
    web.throttle.success(*scopes)
    return live


@router.post("/{tenant}/me/mfa/recovery-codes")
async def regenerate_codes(request: Request, page: PageDep) -> Response:
    live = await _with_code(request, page)
    codes = page.web.mfa.regenerate_codes(user_principal(live.user), page.now)
    return page.render("recovery_codes.html", codes=codes, first_time=False)


@router.post("/{tenant}/me/mfa/remove")
async def remove_authenticator(request: Request, page: PageDep) -> Response:
    live = await _with_code(request, page)
    page.web.mfa.remove(user_principal(live.user), page.now)
    return page.redirect(f"{page.base}/me")
