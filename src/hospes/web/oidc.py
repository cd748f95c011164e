"""``/{tenant}/oauth2/v2.0/authorize`` (GET and POST): the OpenID Connect authorization request.

The checks and their order are ``services/oidc/authorize.py``'s; this router only reads the request, carries the
checked request (sealed, in ``ctx``) through the sign-in and consent pages, and answers. Failures before the
redirect URI is trusted are shown here; later ones go back to the client.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.services.oidc.authorize import AuthorizationRequest, PageError, RedirectError, target_of
from hospes.services.oidc.authorizer import Issued, NeedConsent, NeedLogin, NeedMfa, NeedTerms, SignedIn
from hospes.services.oidc.sign_in_events import Caller
from hospes.web.access import terms_url
from hospes.web.context import Page, client_address, gettext_for
from hospes.web.deps import PageDep
from hospes.web.exits import PageExit
from hospes.web.login import step_up_url
from hospes.web.oidc_answer import answer, error_params
from hospes.web.security import read_form

router = APIRouter(include_in_schema=False)
_SEAL = "oidc-authorize"
# A sign-in started from an app must finish within this time (the sealed request then expires).
CTX_LIFETIME_SECONDS = 3600
_MAX_URL = 2000  # the continuation travels as a ``next`` path, which the sign-in pages cap


def page_failure(page: Page, problem: PageError) -> Response:
    _ = gettext_for(page)
    return page.error(400, _("We couldn't sign you in"), f"AADSTS{problem.code}: {problem.message}")


def signed_in(page: Page) -> SignedIn | None:
    """The browser's session at this tenant; or, for a guest, their session at their home tenant (single sign-on
    across the deployment's tenants, as a guest of Entra signed in at home)."""
    live = page.live
    if live is not None:
        return SignedIn(live.user, live.sid, live.created_at, tuple(live.amr)) if live.is_full else None
    elsewhere = page.web.store.load(page.request.cookies.get(page.web.cookies.session), page.now)
    if elsewhere is None or not elsewhere.is_full or elsewhere.tenant_id == page.tenant.id:
        return None
    home = SignedIn(elsewhere.user, elsewhere.sid, elsewhere.created_at, tuple(elsewhere.amr))
    return page.web.runtime.authorizer.guest_signed_in_at_home(page.tenant.id, home)


def caller(page: Page) -> Caller:
    return Caller(client_address(page.request), page.request.headers.get("user-agent"))


def seal(page: Page, request: AuthorizationRequest) -> str:
    return str(page.web.runtime.keys.seal(_SEAL, request.to_payload()))


def continue_url(page: Page, request: AuthorizationRequest, step: str = "continue") -> str:
    url = f"{page.base}/oauth2/v2.0/authorize/{step}?{urlencode({'ctx': seal(page, request)})}"
    if len(url) > _MAX_URL:
        _ = gettext_for(page)
        raise PageExit(
            page.error(400, _("We couldn't sign you in"), "AADSTS90014: The request is too long to sign you in with.")
        )
    return url


def unseal(page: Page, ctx: str | None) -> AuthorizationRequest:
    """The request sealed into ``ctx`` by this tenant's authorize step, not expired; a page otherwise."""
    _ = gettext_for(page)
    try:
        request = AuthorizationRequest.from_payload(page.web.runtime.keys.unseal(_SEAL, (ctx or "")[:4096]))
    except (ValueError, TypeError):
        request = None
    if request is None or request.tenant_id != page.tenant.id:
        raise PageExit(page.error(400, _("We couldn't sign you in"), _("This sign-in link is not valid.")))
    if page.now.timestamp() - request.requested_at > CTX_LIFETIME_SECONDS:
        raise PageExit(page.error(400, _("This sign-in has expired"), _("Go back to the app and sign in again.")))
    return request


def to_client(page: Page, request: AuthorizationRequest, problem: RedirectError, interactive: bool) -> Response:
    params = error_params(problem, request.state, page.web.settings.public_url)
    return answer(page, request.redirect_uri, request.response_mode, params, interactive=interactive)


def proceed(page: Page, request: AuthorizationRequest, *, interactive: bool) -> Response:
    """Steps 6-11 for the browser's session: sign in, consent, or the code."""
    authorizer = page.web.runtime.authorizer
    try:
        decision = authorizer.decide(request, signed_in(page), page.now, caller(page))
    except PageError as problem:
        return page_failure(page, problem)
    except RedirectError as problem:
        return to_client(page, request, problem, interactive)
    if isinstance(decision, NeedLogin):
        return page.redirect(continue_url(page, request, "signin"))
    if isinstance(decision, NeedConsent):
        return page.redirect(continue_url(page, request, "consent"))
    if isinstance(decision, NeedMfa):
        return page.redirect(step_up_url(page, continue_url(page, request)))
    if isinstance(decision, NeedTerms):
        return page.redirect(terms_url(page, decision.agreements, continue_url(page, request)))
    assert isinstance(decision, Issued)
    params = {"code": decision.code}
    if request.state is not None:
        params["state"] = request.state
    return answer(page, request.redirect_uri, request.response_mode, params, interactive=interactive)


async def _params(request: Request) -> dict[str, str] | None:
    if request.method == "POST":
        return await read_form(request)
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, value)
    return params


@router.api_route("/{tenant}/oauth2/v2.0/authorize", methods=["GET", "POST"])
async def authorize(request: Request, page: PageDep) -> Response:
    params = await _params(request)
    if params is None:
        return page_failure(page, PageError(90023, "The authorization request could not be read."))
    authorizer = page.web.runtime.authorizer
    try:
        checked = authorizer.check(page.tenant.id, params, page.now, caller(page))
    except PageError as problem:
        return page_failure(page, problem)
    except RedirectError as problem:
        redirect_uri = authorizer.trusted_target(page.tenant.id, params)
        if redirect_uri is None:  # cannot happen after steps 2-3 passed; never redirect to an unchecked URI
            return page_failure(page, PageError(problem.code, problem.message))
        target = target_of(params, redirect_uri)
        answered = error_params(problem, target.state, page.web.settings.public_url)
        return answer(page, redirect_uri, target.response_mode, answered, interactive=False)
    return proceed(page, checked, interactive=False)


@router.get("/{tenant}/oauth2/v2.0/authorize/continue")
def authorize_continue(request: Request, page: PageDep) -> Response:
    """Back from a sign-in or consent page, with the sealed request."""
    return proceed(page, unseal(page, request.query_params.get("ctx")), interactive=True)
