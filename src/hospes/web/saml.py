"""SAML single sign-on pages: ``/{tenant}/saml2`` (GET: HTTP-Redirect binding; POST: HTTP-POST binding) takes an
AuthnRequest, a LogoutRequest or a participant's LogoutResponse; ``/{tenant}/saml2/continue`` answers an accepted
request once the browser has a session; ``/{tenant}/myapps/signin/{appId}`` is IdP-initiated sign-in; federation
metadata per tenant and per app.

An AuthnRequest is accepted, sealed into the continue URL and the browser sent there with a 303: a POST from the
SP's site carries no SameSite=Lax session cookie, the GET it is redirected to does."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hospes.forms import form_pairs
from hospes.runtime import Runtime
from hospes.saml.authn_request import peek
from hospes.saml.bindings import InboundMessage, read_post, read_redirect
from hospes.saml.common import MAX_ENCODED_BYTES, SamlError, invalid_message
from hospes.services.guest_flows import origin
from hospes.services.saml_logout import SamlLogout
from hospes.services.saml_signin import (
    Client,
    MfaRequiredError,
    Pending,
    PostMessage,
    SamlSignIn,
    SsoRefusedError,
    TermsRequiredError,
    Visitor,
)
from hospes.services.users import is_invited
from hospes.web.access import terms_url
from hospes.web.context import Page, client_address, gettext_for
from hospes.web.deps import PageDep
from hospes.web.login import step_up_url
from hospes.web.redeem import guest_signin_url
from hospes.web.render import CSP
from hospes.web.saml_signout import SamlState, saml_state

router = APIRouter(include_in_schema=False)

METADATA_PATH = "/{tenant}/federationmetadata/2007-06/federationmetadata.xml"


def install(app: FastAPI, runtime: Runtime) -> None:
    signin = SamlSignIn(runtime.sessions, runtime.database.read_sessions, runtime.box, runtime.settings.public_url)
    app.state.saml = SamlState(signin, SamlLogout(signin))
    app.include_router(router)


def _refused(page: Page, error: SamlError, status: int = 400) -> Response:
    _ = gettext_for(page)
    return page.error(status, _("We couldn't sign you in"), error.text)


def _post(page: Page, message: PostMessage, app_name: str) -> Response:
    """The page that carries a SAML message to the SP by HTTP-POST. Its CSP lets the form go to the ACS's origin
    (and only there) and runs one script of ours, the one that submits it."""
    response = page.render("saml_post.html", app=app_name, acs=message.acs, fields=sorted(message.fields.items()))
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {origin(message.acs)}"
    ).replace("default-src 'none';", "default-src 'none'; script-src 'self';")
    return response


def _after_refusal(page: Page, refused: SsoRefusedError) -> Response:
    if refused.reply is not None:
        return _post(page, refused.reply, refused.app_name or page.tenant.name)
    status = 403 if refused.error.code in ("50105", "50057") else 400
    return _refused(page, refused.error, status)


@router.get("/{tenant}/saml2")
def saml_redirect(request: Request, page: PageDep) -> Response:
    try:
        message = read_redirect(request.url.query)
    except SamlError as error:
        return _refused(page, error)
    return _dispatch(page, message)


@router.post("/{tenant}/saml2")
async def saml_post(request: Request, page: PageDep) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 2 * MAX_ENCODED_BYTES:
            return _refused(page, invalid_message("The SAML message is too large."), 413)
    try:
        form: dict[str, str] = {}
        for key, value in form_pairs(body, 10):
            form.setdefault(key, value)
        message = read_post(form)
    except (UnicodeDecodeError, ValueError):
        return _refused(page, invalid_message("The form could not be read."))
    except SamlError as error:
        return _refused(page, error)
    # Database work and signatures: off the event loop, like the sync handlers.
    return await run_in_threadpool(_dispatch, page, message)


def _dispatch(page: Page, message: InboundMessage) -> Response:
    signin, logout = saml_state(page)
    try:
        kind = peek(message.xml).kind
        if message.param == "SAMLRequest" and kind == "AuthnRequest":
            pending = signin.accept(page.tenant.id, message, page.now, _client(page))
            return page.redirect(_continue_url(page, signin.seal(pending)))
        if message.binding != "redirect":
            raise SamlError("75003", "UnsupportedBindingError - Single logout takes the HTTP-Redirect binding only.")
        if message.param == "SAMLRequest" and kind == "LogoutRequest":
            browser_sid = page.live.sid if page.live else None
            step = logout.start(page.tenant.id, message, browser_sid, page.now)
            if page.live is not None and step.ended_sid == page.live.sid:
                page.set_cookie(page.web.cookies.session, None)
        elif message.param == "SAMLResponse" and kind == "LogoutResponse":
            step = logout.resume(page.tenant.id, message, page.now)
        else:
            raise invalid_message(f"A {kind} is not expected as {message.param} here.")
    except SsoRefusedError as refused:
        return _after_refusal(page, refused)
    except SamlError as error:
        return _refused(page, error)
    if step.redirect is not None:
        return page.redirect(step.redirect)
    _ = gettext_for(page)
    return page.render(
        "notice.html", title=_("You have signed out."), message=_("You have signed out."), link=None, link_text=None
    )


def _client(page: Page) -> Client:
    return Client(client_address(page.request), page.request.headers.get("user-agent"))


def _continue_url(page: Page, sealed: str) -> str:
    return f"{page.base}/saml2/continue?{urlencode({'ctx': sealed})}"


@router.get("/{tenant}/saml2/continue")
def saml_continue(request: Request, page: PageDep) -> Response:
    signin, _logout = saml_state(page)
    sealed = request.query_params.get("ctx")
    pending = signin.open(page.tenant.id, sealed, page.now)
    if pending is None or sealed is None:
        _ = gettext_for(page)
        return page.render(
            "notice.html",
            400,
            title=_("This sign-in has expired"),
            message=_("Go back to the app and sign in again."),
            link=None,
            link_text=None,
        )
    return _proceed(page, signin, pending, _continue_url(page, sealed))


@router.get("/{tenant}/myapps/signin/{app_id}")
def idp_initiated(page: PageDep, app_id: str) -> Response:
    """Sign in to a SAML app from here (My Apps): an unsolicited Response to the app's default reply URL."""
    signin, _logout = saml_state(page)
    try:
        pending = signin.unsolicited(page.tenant.id, app_id[:64], page.now)
    except SsoRefusedError as refused:
        return _refused(page, refused.error, 404)
    return _proceed(page, signin, pending, f"{page.base}/myapps/signin/{pending.app_id}")


def _proceed(page: Page, signin: SamlSignIn, pending: Pending, here: str) -> Response:
    live = page.live if page.live is not None and page.live.is_full else None
    fresh = live is not None and not (pending.force_authn and live.created_at < pending.at)
    try:
        if live is None or not fresh:
            if pending.is_passive:
                raise signin.passive_failure(pending, page.now)
            return _choose(page, pending, here, force=live is not None)
        user = live.user
        if is_invited(user) and user.external_user_state not in (None, "Accepted"):
            return page.redirect(guest_signin_url(page, here))  # just-in-time redemption, then back here
        visitor = Visitor(live.sid, live.created_at, tuple(live.amr), _client(page))
        message = signin.answer(pending, user, visitor, page.now)
    except MfaRequiredError:
        return page.redirect(step_up_url(page, here))  # conditional access: a second factor, then back here
    except TermsRequiredError as terms:
        return page.redirect(terms_url(page, terms.agreements, here))  # accept the terms of use, then back here
    except SsoRefusedError as refused:
        return _after_refusal(page, refused)
    return _post(page, message, pending.app_id)


def _choose(page: Page, pending: Pending, here: str, *, force: bool) -> Response:
    """No session yet: a member signs in with a password, a guest with their own identity; both come back here."""
    member = {"next": here} | ({"prompt": "login"} if force else {})
    return page.render(
        "sso_choose.html",
        app=_app_name(page, pending),
        member_url=f"{page.base}/login?{urlencode(member)}",
        guest_url=guest_signin_url(page, here),
    )


def _app_name(page: Page, pending: Pending) -> str:
    signin, _logout = saml_state(page)
    try:
        return signin.app_of(pending).display_name
    except SsoRefusedError:
        return pending.app_id


@router.get(METADATA_PATH)
def federation_metadata(request: Request, page: PageDep) -> Response:
    signin, _logout = saml_state(page)
    app_id = request.query_params.get("appid") or request.query_params.get("appId")
    try:
        xml = signin.metadata(page.tenant.id, app_id[:64] if app_id else None, page.now)
    except SsoRefusedError as refused:
        return Response(refused.error.text, 404, media_type="text/plain")
    return Response(xml, media_type="application/samlmetadata+xml", headers={"Cache-Control": "public, max-age=3600"})
