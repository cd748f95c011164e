"""Sign-in pages: password, then the second factor when the user has one; sign-out.

``/{tenant}/login`` → (``/{tenant}/login/mfa``) → ``next`` (default ``/{tenant}/me``). The later redemption and
My Apps pages send people here with ``?next=`` and get them back, signed in, on the same tenant.
"""

from __future__ import annotations

from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import Response

from hospes.auth.crypto import DecryptionError
from hospes.domain.ca_evaluation import SECOND_FACTORS
from hospes.domain.errors import ConflictError
from hospes.services.access_decision import blocked_message
from hospes.services.mfa import new_totp_secret, provisioning_uri
from hospes.services.signin import audit_failure
from hospes.services.users import is_invited
from hospes.services.web_sessions import FULL, MFA_PENDING, LiveSession, user_principal
from hospes.web.access import blocked_page, decide_sign_in, onward, record_sign_in
from hospes.web.context import Page, client_address, gettext_for
from hospes.web.deps import PageDep
from hospes.web.exits import PageExit
from hospes.web.security import read_form, safe_next, same_origin
from hospes.web.signout import sign_out_of_every_app

router = APIRouter(include_in_schema=False)
_ENROL = "totp-enrol"


def _retry_message(page: Page) -> str:
    _ = gettext_for(page)
    return _("Too many failed attempts. Wait a few minutes, then try again.")


async def checked_form(page: Page) -> dict[str, str]:
    """The POSTed form, or the 403/400 page: same origin, valid CSRF token, readable body."""
    _ = gettext_for(page)
    if not same_origin(page.request, page.web.origin):
        raise PageExit(
            page.error(403, _("Request refused"), _("This form was sent from another site, so it was refused."))
        )
    form = await read_form(page.request)
    if form is None:
        raise PageExit(page.error(400, _("Request refused"), _("The form could not be read. Go back and try again.")))
    if not page.csrf_ok(form):
        raise PageExit(
            page.error(
                403,
                _("Request refused"),
                _("The form has expired or did not come from this site. Go back, reload the page and try again."),
            )
        )
    return form


def _next_of(page: Page, value: str | None) -> str:
    return safe_next(value, page.tenant.key, f"{page.base}/me")


@router.get("/{tenant}/login")
def login_form(request: Request, page: PageDep) -> Response:
    target = _next_of(page, request.query_params.get("next"))
    # prompt=login (as in OpenID Connect) asks for credentials again even when signed in: switching account,
    # or a later step-up; the new sign-in then replaces the current session.
    if page.live is not None and page.live.is_full and request.query_params.get("prompt") != "login":
        return page.redirect(target)
    page.live = None  # a half-finished (MFA pending) sign-in starts over; the form is bound to the pre-session
    _ = gettext_for(page)
    notice = _("You have signed out.") if "signed_out" in request.query_params else None
    hint = request.query_params.get("login_hint", "")[:256]
    return page.render("login.html", next=target, login_name=hint, error=None, notice=notice)


@router.post("/{tenant}/login")
async def login_submit(request: Request, page: PageDep) -> Response:
    # The login form is protected by the pre-session cookie, not by whatever session the browser holds.
    page.live = None
    form = await checked_form(page)
    _ = gettext_for(page)
    login_name = form.get("username", "")
    target = _next_of(page, form.get("next"))
    address = client_address(request)
    check = page.web.signin.check(page.tenant.id, login_name, form.get("password", ""), address, page.now)
    if check.outcome != "ok" or check.user is None:
        locked = check.outcome == "locked"
        message = _retry_message(page) if locked else _("The sign-in name or password is incorrect.")
        return page.render(
            "login.html", 429 if locked else 401, next=target, login_name=login_name, error=message, notice=None
        )
    user = check.user
    enrolled = page.web.mfa.is_enrolled(user.id)
    decision = decide_sign_in(page, user, ["pwd"], target)
    if decision.blocked:
        record_sign_in(page, user, decision, ["pwd"], target)
        audit_failure(
            page.web.sessions,
            user.tenant_id,
            page.now,
            "Sign in",
            blocked_message(decision),
            user=user,
            address=address,
        )
        return blocked_page(page, decision.error_code)
    # Enrolled users always give their second factor; a policy that wants MFA from someone without one has them
    # set up an authenticator before the sign-in completes (Entra's registration interrupt).
    register = "mfa" in decision.required and not enrolled
    needs_mfa = enrolled or register
    token = page.web.store.create(
        user,
        level=MFA_PENDING if needs_mfa else FULL,
        amr=["pwd"],
        now=page.now,
        address=address,
        user_agent=request.headers.get("user-agent"),
        data={"next": target, **({"register": True} if register else {})},
        replaces=page.cookie_session,
    )
    page.set_cookie(page.web.cookies.session, token)
    page.set_cookie(page.web.cookies.pre_session, None)
    if not needs_mfa:
        record_sign_in(page, user, decision, ["pwd"], target)
    return page.redirect(f"{page.base}/login/mfa" if needs_mfa else onward(page, decision, target))


@router.get("/{tenant}/login/mfa")
def mfa_form(page: PageDep) -> Response:
    if page.live is None:
        return page.redirect(f"{page.base}/login")
    if page.live.is_full:
        return page.redirect(_next_of(page, page.live.data.get("next")))
    if page.live.data.get("register") and not page.web.mfa.is_enrolled(page.live.user.id):
        return _register_page(page, page.live, None, None)
    return page.render("mfa_challenge.html", error=None)


def _register_page(page: Page, live: LiveSession, sealed: str | None, error: str | None, status: int = 200) -> Response:
    """The authenticator set-up a policy asks for in the middle of a sign-in; like the account page's, it keeps
    nothing on the server until the first code works (the secret travels sealed to this pending session)."""
    if sealed is None:
        secret = new_totp_secret()
        sealed = page.web.box.encrypt(_ENROL, secret.encode(), live.token_hash)
    else:
        secret = page.web.box.decrypt(_ENROL, sealed, live.token_hash).decode()
    uri = provisioning_uri(secret, live.user.user_principal_name, page.tenant.name)
    qr = Markup(segno.make(uri, error="m").svg_inline(scale=5, border=4, light="#fff", svgclass="qr", omitsize=True))
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return page.render(
        "mfa_setup.html",
        status,
        qr=qr,
        secret=grouped,
        sealed=sealed,
        error=error,
        action=f"{page.base}/login/mfa/enrol",
    )


@router.post("/{tenant}/login/mfa/enrol")
async def mfa_register(request: Request, page: PageDep) -> Response:
    form = await checked_form(page)
    live = page.live
    if live is None or live.auth_level != MFA_PENDING or not live.data.get("register"):
        return page.redirect(f"{page.base}/login")
    _ = gettext_for(page)
    web, user = page.web, live.user
    sealed = form.get("sealed", "")
    try:
        secret = web.box.decrypt(_ENROL, sealed, live.token_hash).decode()
    except DecryptionError:
        return page.redirect(f"{page.base}/login/mfa")
    scopes = (web.throttle.codes(user.id), web.throttle.address(client_address(request)))
    if web.throttle.locked_until(page.now, *scopes) is not None:
        return _register_page(page, live, sealed, _retry_message(page), 429)
    try:
        codes = web.mfa.enrol(user_principal(user), secret, form.get("code", "")[:64], page.now)
    except ConflictError:  # set up meanwhile in another tab: the usual challenge
        return page.redirect(f"{page.base}/login/mfa")
    if codes is None:
        web.throttle.failure(page.now, *scopes)
        message = _("That code is not valid. Check the time on your phone and try again.")
        return _register_page(page, live, sealed, message, 400)
    web.throttle.success(*scopes)
    token = web.store.create(
        user,
        level=FULL,
        amr=[*live.amr, "otp"],
        now=page.now,
        address=client_address(request),
        user_agent=request.headers.get("user-agent"),
        replaces=live.token_hash,
    )
    page.set_cookie(web.cookies.session, token)
    next_url = _next_of(page, live.data.get("next"))
    amr = [*live.amr, "otp"]
    decision = decide_sign_in(page, user, amr, next_url)
    record_sign_in(page, user, decision, amr, next_url)
    return page.render("recovery_codes.html", codes=codes, first_time=True, done_url=onward(page, decision, next_url))


@router.post("/{tenant}/login/mfa")
async def mfa_submit(request: Request, page: PageDep) -> Response:
    form = await checked_form(page)
    live = page.live
    if live is None or live.auth_level != MFA_PENDING:
        return page.redirect(f"{page.base}/login")
    _ = gettext_for(page)
    web, user = page.web, live.user
    scopes = (web.throttle.codes(user.id), web.throttle.address(client_address(request)))
    if web.throttle.locked_until(page.now, *scopes) is not None:
        return page.render("mfa_challenge.html", 429, error=_retry_message(page))
    method = web.mfa.verify_any(user.id, form.get("code", "")[:64], page.now)
    if method is None:
        web.throttle.failure(page.now, *scopes)
        audit_failure(
            web.sessions,
            user.tenant_id,
            page.now,
            "Sign in",
            "invalid second factor",
            user=user,
            address=client_address(request),
        )
        return page.render("mfa_challenge.html", 401, error=_("That code is not valid. Try again."))
    web.throttle.success(*scopes)
    token = web.store.create(
        user,
        level=FULL,
        amr=[*live.amr, method],
        now=page.now,
        address=client_address(request),
        user_agent=request.headers.get("user-agent"),
        replaces=live.token_hash,  # a new token once fully signed in: the pending one dies
    )
    page.set_cookie(web.cookies.session, token)
    target = _next_of(page, live.data.get("next"))
    amr = [*live.amr, method]
    decision = decide_sign_in(page, user, amr, target)
    record_sign_in(page, user, decision, amr, target)
    return page.redirect(onward(page, decision, target))


def step_up_url(page: Page, next_url: str) -> str:
    """Where a signed-in user gives the second factor a policy wants, then goes on to ``next_url``."""
    return f"{page.base}/login/stepup?{urlencode({'next': next_url})}"


@router.get("/{tenant}/login/stepup")
def step_up(request: Request, page: PageDep) -> Response:
    """A signed-in session without a second factor that conditional access wants one from: the session becomes a
    pending one (as after a password) and the MFA step asks for the factor, or has one set up."""
    target = _next_of(page, request.query_params.get("next"))
    live = page.live
    if live is None or not live.is_full:
        return page.redirect(f"{page.base}/login?{urlencode({'next': target})}")
    if SECOND_FACTORS & set(live.amr):
        return page.redirect(target)  # already done (another tab)
    register = not page.web.mfa.is_enrolled(live.user.id)
    token = page.web.store.create(
        live.user,
        level=MFA_PENDING,
        amr=list(live.amr),
        now=page.now,
        address=client_address(request),
        user_agent=request.headers.get("user-agent"),
        data={"next": target, **({"register": True} if register else {})},
        replaces=live.token_hash,
    )
    page.set_cookie(page.web.cookies.session, token)
    return page.redirect(f"{page.base}/login/mfa")


@router.get("/{tenant}/logout")
def logout_confirm(page: PageDep) -> Response:
    """A GET only asks: signing out changes server state, so it takes the POST of this page's form."""
    if page.live is None:
        return page.redirect(f"{page.base}/login")
    return page.render("logout.html")


def signed_out_url(page: Page, invited: bool) -> str:
    """Where sign-out lands: the sign-in this user uses (a guest's email and code, a member's password)."""
    if invited:
        return f"{page.base}/guest?{urlencode({'next': f'{page.base}/myapps', 'signed_out': '1'})}"
    return f"{page.base}/login?signed_out=1"


@router.post("/{tenant}/logout")
async def logout(page: PageDep) -> Response:
    if page.live is None:
        page.set_cookie(page.web.cookies.session, None)
        return page.redirect(f"{page.base}/login?signed_out=1")
    form = await checked_form(page)
    everywhere = form.get("scope") == "all"
    invited, sid = is_invited(page.live.user), page.live.sid
    page.web.store.end(page.live, page.now, "Sign out everywhere" if everywhere else "Sign out")
    page.set_cookie(page.web.cookies.session, None)
    return sign_out_of_every_app(page, sid, signed_out_url(page, invited))
