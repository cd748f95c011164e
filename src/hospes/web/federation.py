"""Guests signing in with their organization's identity provider (docs/federation.md): the redemption step that
sends the browser there, the SAML consumer URL (``POST /login.srf``, as Entra's) and the OpenID Connect redirect URI
(``GET /te/{tenant}/oauth2/authresp``). A refused answer gets a page saying why (its AADSTS code), never a 500."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hospes.forms import form_pairs
from hospes.saml.common import MAX_ENCODED_BYTES
from hospes.saml.federation import sp_metadata
from hospes.services.oidc_federation import FederationError
from hospes.web.context import Page, client_address, gettext_for
from hospes.web.deps import PageDep, PlainPageDep
from hospes.web.guest import PlainPage, current_flow, flow_cookie
from hospes.web.redeem import FlowDep
from hospes.web.security import safe_next

router = APIRouter(include_in_schema=False)


def _refused_page(page: Page | PlainPage, error: FederationError, restart: str | None) -> Response:
    _ = page.gettext if isinstance(page, PlainPage) else gettext_for(page)
    return page.render(
        "notice.html",
        400,
        title=_("Your organization's sign-in was refused"),
        message=error.text,
        link=restart,
        link_text=_("Start again") if restart else None,
    )


@router.get("/{tenant}/redeem/federation")
def go_to_provider(page: PageDep, flow: FlowDep) -> Response:
    """A link, not a form: a form's POST answered by a redirect to the partner's origin would need that origin in
    the page's CSP ``form-action``. Following it only starts this browser's own flow's trip to its provider."""
    service = page.web.redemption
    if flow.verified_method is not None or service.method(flow) != "federation":
        return page.redirect(f"{page.base}/redeem/continue")
    provider = service.federation.for_flow(flow)
    if provider is None:
        return page.redirect(f"{page.base}/redeem/signin")
    try:
        url = service.federation.begin(flow, provider.id, page.now)
    except FederationError as error:
        return _refused_page(page, error, f"{page.base}/redeem/signin")
    return page.redirect(url)


@router.get("/{tenant}/federation/sp-metadata.xml")
def service_provider_metadata(page: PageDep) -> Response:
    """What a partner's SAML identity provider imports to federate with this tenant."""
    federation = page.web.redemption.federation
    xml = sp_metadata(entity_id=federation.entity_id(page.tenant.id), acs_url=federation.acs_url)
    return Response(xml, media_type="application/samlmetadata+xml")


@router.get("/{tenant}/guest/idp/{provider_id}")
def provider_button(page: PageDep, provider_id: str) -> Response:
    """ "Sign in with …" of a provider bound to no domain: this browser's flow (``?flow=1``, an invitation being
    redeemed), or a new just-in-time sign-in whose address the provider will say."""
    service = page.web.redemption
    buttons = service.federation.buttons(page.tenant.id)
    provider = next((p for p in buttons if p.id == provider_id[:64]), None)
    if provider is None:
        return page.redirect(f"{page.base}/guest")
    flow = current_flow(page) if page.request.query_params.get("flow") else None
    if flow is None or flow.verified_method is not None:
        target = safe_next(page.request.query_params.get("next"), page.tenant.key, f"{page.base}/myapps")
        token = service.start_signin(page.tenant.id, "", target, page.now)
        page.set_cookie(flow_cookie(page.web), token)
        flow = service.load(token, page.now)
    if flow is None:
        return page.redirect(f"{page.base}/guest")
    try:
        url = service.federation.begin(flow, provider.id, page.now)
    except FederationError as error:
        return _refused_page(page, error, f"{page.base}/guest")
    return page.redirect(url)


@router.post("/login.srf")
async def saml_consumer(request: Request, page: PlainPageDep) -> Response:
    """The partner's SAML Response, posted by the browser from the partner's site (so no Origin or CSRF check: the
    signature, the request id the flow sent and ``RelayState`` naming that flow are the proof)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 2 * MAX_ENCODED_BYTES:
            return _refused_page(page, FederationError("50008", "The sign-in answer is too large."), None)
    try:
        form: dict[str, str] = {}
        for key, value in form_pairs(body, 10):
            form.setdefault(key, value)
    except (UnicodeDecodeError, ValueError):
        return _refused_page(page, FederationError("50008", "The sign-in answer could not be read."), None)
    try:
        client = (client_address(request), request.headers.get("user-agent"))
        flow = await run_in_threadpool(page.web.redemption.federation.accept_saml, form, page.now, client)
    except FederationError as error:
        return _refused_page(page, error, None)
    # A top-level GET carries this browser's (SameSite=Lax) flow cookie: the flow's own steps go on from there.
    return page.redirect(f"/{flow.tenant_id}/redeem/continue")


@router.get("/te/{tenant}/oauth2/authresp")
def oidc_redirect(page: PageDep) -> Response:
    flow = current_flow(page)
    if flow is None:
        error = FederationError("50027", "This sign-in answer belongs to no sign-in in progress in this browser.")
        return _refused_page(page, error, f"{page.base}/myapps")
    params = {k: v[:4096] for k, v in page.request.query_params.items()}
    try:
        client = (client_address(page.request), page.request.headers.get("user-agent"))
        page.web.redemption.federation.accept_oidc(flow, params, page.now, client)
    except FederationError as error:
        return _refused_page(page, error, f"{page.base}/redeem/signin")
    return page.redirect(f"{page.base}/redeem/continue")
