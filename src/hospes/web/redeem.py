"""Redemption pages: the redeem link, guest sign-in (home tenant or email one-time passcode), MFA for guests,
"Review permissions", and just-in-time sign-in for guests who come without the link.

``GET /redeem?tenant=&invitation=&ticket=`` only shows the invitation (mail scanners follow links); its POST
starts a flow (a random token in the ``hospes_guest`` cookie) and ``/{tenant}/redeem/continue`` sends the browser
to the step it is at: ``signin`` → (``mfa``) → ``consent`` → the redirect URL. See docs/redemption.md.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

import segno
from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from starlette.responses import Response

from hospes.auth.crypto import DecryptionError
from hospes.services.guest_flows import FlowView, GuestView, safe_redirect
from hospes.services.redemption import LinkInfo, RedemptionRefusedError
from hospes.services.web_sessions import FULL
from hospes.web.access import blocked_page
from hospes.web.context import Page, client_address, gettext_for, lang_links, open_page
from hospes.web.deps import PageDep
from hospes.web.exits import PageExit
from hospes.web.guest import allow_form_target, current_flow, entered_address, flow_cookie, mask_email
from hospes.web.login import checked_form
from hospes.web.otp_messages import code_error, sent_notice
from hospes.web.security import safe_next

router = APIRouter(include_in_schema=False)


def _link_error(page: Page, info: LinkInfo) -> Response:
    page.prefer_language(info.language)
    _ = gettext_for(page)
    org = info.org.name if info.org else None
    titles = {
        "used": _("This invitation link was already used"),
        "redeemed": _("This invitation link was already used"),
        "expired": _("This invitation link has expired"),
        "revoked": _("This invitation link was replaced"),
        "unknown": _("This invitation link is not valid"),
    }
    reasons = {
        "used": _("Each invitation link works once, and this one has been used to accept the invitation."),
        "redeemed": _("Each invitation link works once, and this one has been used to accept the invitation."),
        "expired": _("Invitation links work for a limited time, and this one is past its date."),
        "revoked": _("A newer invitation was sent to you, and only the newest link works. Look for a later email."),
        "unknown": _("The link is incomplete or was never issued. Check that you copied the whole link."),
    }
    return page.render(
        "redeem_link_error.html",
        404 if info.status == "unknown" else 410,
        title=titles.get(info.status, titles["unknown"]),
        reason=reasons.get(info.status, reasons["unknown"]),
        org=org,
        inviter=info.inviter,
        already_used=info.status in ("used", "redeemed"),
        lang_links=lang_links(page.request),
    )


def _link_params(request: Request, form: dict[str, str] | None = None) -> tuple[str, str, str]:
    source: Any = form if form is not None else request.query_params
    return (
        str(source.get("tenant", ""))[:64],
        str(source.get("invitation", ""))[:64],
        str(source.get("ticket", ""))[:128],
    )


def link_page(request: Request) -> Page:
    """The page of the tenant a redeem link names (in its query)."""
    return open_page(request, _link_params(request)[0] or "-")


LinkPageDep = Annotated[Page, Depends(link_page)]


@router.get("/redeem")
def redeem_link(request: Request, page: LinkPageDep) -> Response:
    tenant_id, invitation_id, ticket = _link_params(request)
    info = page.web.redemption.inspect_link(page.tenant.id, invitation_id, ticket, page.now)
    if info.status != "ok":
        return _link_error(page, info)
    page.prefer_language(info.language)
    return page.render(
        "redeem_start.html",
        org=info.org,
        inviter=info.inviter,
        email=info.email,
        link={"tenant": tenant_id, "invitation": invitation_id, "ticket": ticket},
        lang_links=lang_links(request),
    )


@router.post("/redeem")
async def redeem_start(request: Request, page: LinkPageDep) -> Response:
    form = await checked_form(page)
    _tenant, invitation_id, ticket = _link_params(request, form)
    started = page.web.redemption.start_from_link(page.tenant.id, invitation_id, ticket, page.now)
    if isinstance(started, LinkInfo):
        return _link_error(page, started)
    page.set_cookie(flow_cookie(page.web), started)
    return page.redirect(f"{page.base}/redeem/continue")


# --- just-in-time: a guest arrives without the link ------------------------------------------------------------


def guest_signin_url(page: Page, next_path: str) -> str:
    return f"{page.base}/guest?{urlencode({'next': next_path})}"


@router.get("/{tenant}/guest")
def guest_form(request: Request, page: PageDep) -> Response:
    target = safe_next(request.query_params.get("next"), page.tenant.key, f"{page.base}/myapps")
    _ = gettext_for(page)
    notice = _("You have signed out.") if "signed_out" in request.query_params else None
    providers = page.web.redemption.federation.buttons(page.tenant.id)
    return page.render("guest_signin.html", next=target, email="", error=None, notice=notice, providers=providers)


@router.post("/{tenant}/guest")
async def guest_submit(page: PageDep) -> Response:
    form = await checked_form(page)
    _ = gettext_for(page)
    target = safe_next(form.get("next"), page.tenant.key, f"{page.base}/myapps")
    email, valid = entered_address(form)
    if not valid:
        error = _("Enter an email address.")
        providers = page.web.redemption.federation.buttons(page.tenant.id)
        return page.render(
            "guest_signin.html", 400, next=target, email=email, error=error, notice=None, providers=providers
        )
    token = page.web.redemption.start_signin(page.tenant.id, email, target, page.now)
    page.set_cookie(flow_cookie(page.web), token)
    return page.redirect(f"{page.base}/redeem/continue")


# --- the steps -------------------------------------------------------------------------------------------------


def guest_flow(page: PageDep) -> FlowView:
    """This browser's flow at this tenant; a missing or expired one stops the request with a page saying so."""
    flow = current_flow(page)
    if flow is not None:
        page.prefer_language(flow.data.get("lang"))
    if flow is None:
        _ = gettext_for(page)
        raise PageExit(
            page.render(
                "notice.html",
                400,
                title=_("This sign-in has expired"),
                message=_(
                    "Sign-in steps must be finished within 30 minutes, in the same browser. Open the invitation "
                    "link again, or go to the organization's apps page to sign in."
                ),
                link=f"{page.base}/myapps",
                link_text=_("Go to the apps page"),
            )
        )
    return flow


FlowDep = Annotated[FlowView, Depends(guest_flow)]


@router.get("/{tenant}/redeem/continue")
def continue_flow(page: PageDep, flow: FlowDep) -> Response:
    if flow.kind == "access" and flow.verified_method is not None:
        # Someone outside the directory proved their address to ask for an access package: back to its page.
        return page.redirect(safe_next(flow.next_url, page.tenant.key, f"{page.base}/myaccess"))
    step = page.web.redemption.next_step(flow, client_address(page.request))
    if step == "finish":
        return _finish(page, flow)
    if step == "blocked":
        address = client_address(page.request)
        code = page.web.redemption.log_sign_in(flow, address, page.request.headers.get("user-agent"))
        page.set_cookie(flow_cookie(page.web), None)
        return blocked_page(page, code)
    return page.redirect(f"{page.base}/redeem/{step}")


def _refused(page: Page, reason: str, detail: str = "") -> Response:
    _ = gettext_for(page)
    messages = {
        "used": _("This invitation was already accepted with this link. Ask the organization for a new invitation."),
        "other_identity": _(
            "This invitation was already accepted by another account. If it should be yours, ask the organization "
            "to reset your invitation."
        ),
        "domain": _("The organization's collaboration settings no longer allow invitations for your address."),
        "disabled": _("Your guest account in this organization is disabled. Contact the organization."),
        "unknown": _("We could not sign you in with this address. Check it, or contact the person who invited you."),
    }
    page.set_cookie(flow_cookie(page.web), None)
    return page.render(
        "notice.html",
        403,
        title=_("You can't continue"),
        message=messages.get(reason, messages["unknown"]),
        link=None,
        link_text=None,
    )


def _start_session(page: Page, user: GuestView, flow: FlowView) -> None:
    page.web.redemption.log_sign_in(flow, client_address(page.request), page.request.headers.get("user-agent"))
    lang = flow.data.get("lang") or page.web.redemption.guest_language(user.tenant_id, user.id)
    token = page.web.store.create(
        user,
        level=FULL,
        amr=page.web.redemption.methods_here(flow),
        now=page.now,
        address=client_address(page.request),
        user_agent=page.request.headers.get("user-agent"),
        data={"lang": lang} if lang else None,
        replaces=page.live.token_hash if page.live else None,
    )
    page.set_cookie(page.web.cookies.session, token)
    page.set_cookie(flow_cookie(page.web), None)


def _finish(page: Page, flow: FlowView) -> Response:
    service = page.web.redemption
    try:
        user = service.finish_signin(flow, page.now)
    except RedemptionRefusedError as exc:
        return _refused(page, exc.reason, exc.detail)
    _start_session(page, user, flow)
    return page.redirect(service.redirect_target(flow, f"{page.base}/myapps"))


@router.get("/{tenant}/redeem/signin")
def signin_page(page: PageDep, flow: FlowDep) -> Response:
    service = page.web.redemption
    if flow.verified_method is not None:
        return page.redirect(f"{page.base}/redeem/continue")
    org = service.org(page.tenant.id)
    method = service.method(flow)
    if method == "federation":
        provider = service.federation.for_flow(flow)
        if provider is None:
            return _refused(page, "unknown")
        return page.render("redeem_signin.html", org=org, method="federation", provider=provider, flow=flow)
    if method == "home":
        home = service.home.home_tenant(flow.email, flow.tenant_id)
        if home is None:  # a guest who redeemed at a home tenant that no longer owns the address's domain
            return _refused(page, "unknown")
        back = f"/{home.id}/redeem/home/{flow.flow_id}"
        home_url = f"/{home.id}/login?{urlencode({'next': back, 'login_hint': flow.email, 'prompt': 'login'})}"
        return page.render("redeem_signin.html", org=org, method="home", home=home, home_url=home_url, flow=flow)
    enabled = service.policy(page.tenant.id).email_otp
    shown = "otp" if enabled else "none"
    providers = service.federation.buttons(page.tenant.id)
    masked = mask_email(flow.email)
    return page.render("redeem_signin.html", org=org, method=shown, masked=masked, flow=flow, providers=providers)


@router.post("/{tenant}/redeem/code/send")
async def send_code(page: PageDep, flow: FlowDep) -> Response:
    await checked_form(page)
    outcome = page.web.redemption.send_code(flow, client_address(page.request), page.now)
    return page.redirect(f"{page.base}/redeem/code?sent={outcome}")


def _code_page(page: Page, flow: FlowView, status: int = 200, error: str | None = None) -> Response:
    sent = page.request.query_params.get("sent")
    notice = sent_notice(sent, mask_email(flow.email), gettext_for(page))
    return page.render(
        "redeem_code.html",
        status,
        masked=mask_email(flow.email),
        notice=notice,
        error=error,
        minutes=page.web.settings.email_otp_lifetime_minutes,
        org=page.web.redemption.org(page.tenant.id),
    )


@router.get("/{tenant}/redeem/code")
def code_page(page: PageDep, flow: FlowDep) -> Response:
    if flow.verified_method is not None:
        return page.redirect(f"{page.base}/redeem/continue")
    return _code_page(page, flow)


@router.post("/{tenant}/redeem/code")
async def code_submit(page: PageDep, flow: FlowDep) -> Response:
    form = await checked_form(page)
    code = form.get("code", "")[:64]
    outcome = page.web.redemption.verify_code(flow, code, client_address(page.request), page.now)
    if outcome == "ok":
        return page.redirect(f"{page.base}/redeem/continue")
    status, message = code_error(outcome, gettext_for(page))
    return _code_page(page, flow, status, message)


# --- home tenant round trip ------------------------------------------------------------------------------------


@router.get("/{tenant}/redeem/home/return")
def home_return(page: PageDep, flow: FlowDep) -> Response:
    """Back from the home tenant with its assertion (bound to this browser's flow, fresh, single use)."""
    assertion = page.request.query_params.get("assertion", "")
    if not page.web.redemption.home.accept_assertion(flow, assertion, page.now):
        _ = gettext_for(page)
        return page.render(
            "notice.html",
            400,
            title=_("Sign-in could not be confirmed"),
            message=_("The answer from your organization was not valid or came too late. Start again."),
            link=f"{page.base}/redeem/signin",
            link_text=_("Start again"),
        )
    return page.redirect(f"{page.base}/redeem/continue")


@router.get("/{tenant}/redeem/home/{flow_id}")
def home_side(page: PageDep, flow_id: str) -> Response:
    """On the guest's home tenant: once its user is signed in here, send them back with an assertion."""
    _ = gettext_for(page)
    service = page.web.redemption
    flow = service.flows.by_flow_id(flow_id, page.now)
    home = service.home.home_tenant(flow.email, flow.tenant_id) if flow else None
    if flow is None or home is None or home.id != page.tenant.id or flow.tenant_id is None:
        return page.render(
            "notice.html",
            400,
            title=_("This sign-in has expired"),
            message=_("Open the invitation link again to start over."),
            link=None,
            link_text=None,
        )
    here = f"/{page.tenant.key}/redeem/home/{quote(flow.flow_id)}"
    if page.live is None or not page.live.is_full:
        return page.redirect(f"{page.base}/login?{urlencode({'next': here, 'login_hint': flow.email})}")
    assertion = service.home.issue_assertion(flow, page.live.user, page.live.amr, page.now)
    if assertion is None:
        switch = f"{page.base}/login?{urlencode({'next': here, 'login_hint': flow.email, 'prompt': 'login'})}"
        return page.render(
            "notice.html",
            403,
            title=_("Wrong account"),
            message=_("The invitation is for %(email)s, but you are signed in as %(name)s.")
            % {"email": flow.email, "name": page.live.user.user_principal_name},
            link=switch,
            link_text=_("Sign in with another account"),
        )
    return page.redirect(f"/{flow.tenant_id}/redeem/home/return?{urlencode({'assertion': assertion})}")


# --- MFA for guests --------------------------------------------------------------------------------------------


def _mfa_page(page: Page, flow: FlowView, sealed: str | None, error: str | None, status: int = 200) -> Response:
    try:
        enrolment = page.web.redemption.guest_enrolment(flow, sealed, page.tenant.name)
    except DecryptionError:  # a set-up form of another flow
        raise PageExit(page.redirect(f"{page.base}/redeem/mfa")) from None
    if enrolment is None:
        return page.render("redeem_mfa.html", status, enrol=False, error=error, qr=None, secret=None, sealed=None)
    # segno renders only path data of its own, so the markup is safe to embed unescaped.
    svg = segno.make(enrolment.uri, error="m").svg_inline(scale=5, border=4, light="#fff", svgclass="qr", omitsize=True)
    secret = enrolment.secret
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return page.render(
        "redeem_mfa.html", status, enrol=True, error=error, qr=Markup(svg), secret=grouped, sealed=enrolment.sealed
    )


@router.get("/{tenant}/redeem/mfa")
def mfa_page(page: PageDep, flow: FlowDep) -> Response:
    if page.web.redemption.next_step(flow, client_address(page.request)) != "mfa":
        return page.redirect(f"{page.base}/redeem/continue")
    return _mfa_page(page, flow, None, None)


@router.post("/{tenant}/redeem/mfa")
async def mfa_submit(page: PageDep, flow: FlowDep) -> Response:
    form = await checked_form(page)
    sealed = form.get("sealed") or None
    code, client = form.get("code", "")[:64], client_address(page.request)
    outcome = page.web.redemption.verify_guest_mfa(flow, code, client, page.now, sealed)
    _ = gettext_for(page)
    if outcome.status in ("not_due", "verified"):
        return page.redirect(f"{page.base}/redeem/continue")
    if outcome.status == "enrolled":
        return page.render("redeem_codes.html", codes=outcome.recovery_codes)
    if outcome.status == "locked":
        return _mfa_page(page, flow, sealed, _("Too many failed attempts. Wait a few minutes, then try again."), 429)
    if outcome.status == "invalid":
        return _mfa_page(page, flow, None, _("That code is not valid. Try again."), 401)
    if outcome.status == "invalid_setup":
        message = _("That code is not valid. Check the time on your phone and try again.")
        return _mfa_page(page, flow, sealed, message, 400)
    return page.redirect(f"{page.base}/redeem/mfa")  # restart


# --- Review permissions ----------------------------------------------------------------------------------------


@router.get("/{tenant}/redeem/consent")
def consent_page(page: PageDep, flow: FlowDep) -> Response:
    service = page.web.redemption
    if service.next_step(flow, client_address(page.request)) != "consent":
        return page.redirect(f"{page.base}/redeem/continue")
    user = service.guest(flow.user_id)
    target = service.redirect_target(flow, f"{page.base}/myapps")
    response = page.render(
        "redeem_consent.html",
        org=service.org(page.tenant.id),
        email=flow.email,
        name=(user.display_name if user else None) or flow.email,
        target=target,
    )
    return allow_form_target(response, target) if safe_redirect(target) else response


@router.post("/{tenant}/redeem/consent")
async def consent_submit(page: PageDep, flow: FlowDep) -> Response:
    form = await checked_form(page)
    service = page.web.redemption
    if service.next_step(flow, client_address(page.request)) != "consent":
        return page.redirect(f"{page.base}/redeem/continue")
    _ = gettext_for(page)
    org = service.org(page.tenant.id)
    if form.get("decision") != "accept":
        service.end(flow)  # nothing about the guest changes; the link still works
        page.set_cookie(flow_cookie(page.web), None)
        return page.render("redeem_declined.html", org=org, inviter=None)
    try:
        user = service.accept(flow, page.now)
    except RedemptionRefusedError as exc:
        return _refused(page, exc.reason, exc.detail)
    _start_session(page, user, flow)
    target = service.redirect_target(flow, f"{page.base}/myapps")
    return allow_form_target(page.redirect(target), target) if safe_redirect(target) else page.redirect(target)
