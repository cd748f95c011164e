"""The signed-in landing page and the user's own security info: authenticator app (TOTP) and recovery codes.

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
from hospes.services.web_sessions import user_principal
from hospes.web.context import Page, client_address, gettext_for, open_page
from hospes.web.exits import PageExit
from hospes.web.login import checked_form

router = APIRouter(include_in_schema=False)
_ENROL = "totp-enrol"


def _signed_in(request: Request, tenant: str, path: str) -> Page:
    """The Page of a fully signed-in user, or where to go instead (sign-in, unknown organization)."""
    page = open_page(request, tenant)
    if page.live is None or not page.live.is_full:
        raise PageExit(page.redirect(f"{page.base}/login?next=/{tenant}{path}"))
    return page


@router.get("/{tenant}/me")
def me(request: Request, tenant: str) -> Response:
    page = _signed_in(request, tenant, "/me")
    assert page.live is not None  # _signed_in guarantees a full session
    mfa = page.web.mfa
    user = page.live.user
    return page.render(
        "me.html",
        live=page.live,
        mfa_enrolled=mfa.is_enrolled(user.id),
        codes_left=mfa.recovery_codes_left(user.id),
        session_count=page.web.store.count_for(user.id, page.now),
    )


def _setup_page(page: Page, sealed: str | None, error: str | None, status: int = 200) -> Response:
    assert page.live is not None
    user = page.live.user
    secret = new_totp_secret()
    if sealed is not None:
        secret = page.web.box.decrypt(_ENROL, sealed, page.live.token_hash).decode()
    else:
        sealed = page.web.box.encrypt(_ENROL, secret.encode(), page.live.token_hash)
    uri = provisioning_uri(secret, user.user_principal_name, page.tenant.name)
    # segno renders only path data of its own, so the markup is safe to embed unescaped.
    qr = Markup(segno.make(uri, error="m").svg_inline(scale=5, border=4, light="#fff", svgclass="qr", omitsize=True))
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return page.render("mfa_setup.html", status, qr=qr, secret=grouped, sealed=sealed, error=error)


@router.get("/{tenant}/me/mfa")
def mfa_page(request: Request, tenant: str) -> Response:
    page = _signed_in(request, tenant, "/me/mfa")
    assert page.live is not None  # _signed_in guarantees a full session
    user_id = page.live.user.id
    if page.web.mfa.is_enrolled(user_id):
        return page.render("mfa_manage.html", codes_left=page.web.mfa.recovery_codes_left(user_id), error=None)
    return _setup_page(page, None, None)


@router.post("/{tenant}/me/mfa/enrol")
async def mfa_enrol(request: Request, tenant: str) -> Response:
    page = _signed_in(request, tenant, "/me/mfa")
    assert page.live is not None  # _signed_in guarantees a full session
    form = await checked_form(page)
    _ = gettext_for(page)
    web, user = page.web, page.live.user
    sealed = form.get("sealed", "")
    try:
        secret = web.box.decrypt(_ENROL, sealed, page.live.token_hash).decode()
    except DecryptionError:
        return page.error(400, _("Set-up expired"), _("This set-up page has expired. Open it again to start over."))
    scopes = (web.throttle.codes(user.id), web.throttle.address(client_address(request)))
    if web.throttle.locked_until(page.now, *scopes) is not None:
        return _setup_page(page, sealed, _("Too many failed attempts. Wait a few minutes, then try again."), 429)
    try:
        codes = web.mfa.enrol(user_principal(user), secret, form.get("code", "")[:64], page.now)
    except ConflictError:
        return page.redirect(f"{page.base}/me/mfa")
    if codes is None:
        web.throttle.failure(page.now, *scopes)
        return _setup_page(page, sealed, _("That code is not valid. Check the time on your phone and try again."), 400)
    web.throttle.success(*scopes)
    return page.render("recovery_codes.html", codes=codes, first_time=True)


async def _with_code(request: Request, tenant: str) -> tuple[Page, str]:
    """A security-info change: signed in, a valid form, and a fresh code (TOTP or recovery) from the user, so a
    stolen session alone cannot take over or strip the second factor."""
    page = _signed_in(request, tenant, "/me/mfa")
    assert page.live is not None  # _signed_in guarantees a full session
    form = await checked_form(page)
    _ = gettext_for(page)
    web, user = page.web, page.live.user
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
    return page, method


@router.post("/{tenant}/me/mfa/recovery-codes")
async def regenerate_codes(request: Request, tenant: str) -> Response:
    checked = await _with_code(request, tenant)
    page, _method = checked
    assert page.live is not None
    codes = page.web.mfa.regenerate_codes(user_principal(page.live.user), page.now)
    return page.render("recovery_codes.html", codes=codes, first_time=False)


@router.post("/{tenant}/me/mfa/remove")
async def remove_authenticator(request: Request, tenant: str) -> Response:
    checked = await _with_code(request, tenant)
    page, _method = checked
    assert page.live is not None
    page.web.mfa.remove(user_principal(page.live.user), page.now)
    return page.redirect(f"{page.base}/me")
