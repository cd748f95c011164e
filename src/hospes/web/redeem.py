"""Redemption pages: the redeem link, guest sign-in (home tenant or email one-time passcode), MFA for guests,
"Review permissions", and just-in-time sign-in for guests who come without the link.

``GET /redeem?tenant=&invitation=&ticket=`` only shows the invitation (mail scanners follow links); its POST
starts a flow (a random token in the ``hospes_guest`` cookie) and ``/{tenant}/redeem/continue`` sends the browser
to the step it is at: ``signin`` → (``mfa``) → ``consent`` → the redirect URL. See docs/redemption.md.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import segno
from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import Response

from hospes.auth.crypto import DecryptionError
from hospes.domain.errors import ConflictError
from hospes.services.mfa import new_totp_secret, provisioning_uri
from hospes.services.redemption import FlowView, LinkInfo, RedemptionRefusedError, safe_redirect
from hospes.services.web_sessions import FULL, user_principal
from hospes.storage.tables import User
from hospes.web.context import Page, client_address, gettext_for, open_page
from hospes.web.exits import PageExit
from hospes.web.guest import (
    allow_form_target,
    current_flow,
    entered_address,
    flow_cookie,
    lang_links,
    mask_email,
    redemption,
)
from hospes.web.login import checked_form
from hospes.web.security import safe_next

router = APIRouter(include_in_schema=False)
_ENROL = "guest-totp-enrol"


def _link_error(page: Page, info: LinkInfo) -> Response:
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


@router.get("/redeem")
def redeem_link(request: Request) -> Response:
    tenant_id, invitation_id, ticket = _link_params(request)
    page = open_page(request, tenant_id or "-")
    info = redemption(request).inspect_link(page.tenant.id, invitation_id, ticket, page.now)
    if info.status != "ok":
        return _link_error(page, info)
    return page.render(
        "redeem_start.html",
        org=info.org,
        inviter=info.inviter,
        email=info.email,
        link={"tenant": tenant_id, "invitation": invitation_id, "ticket": ticket},
        lang_links=lang_links(request),
    )


@router.post("/redeem")
async def redeem_start(request: Request) -> Response:
    tenant_id, _i, _t = _link_params(request)
    page = open_page(request, tenant_id or "-")
    form = await checked_form(page)
    tenant_id, invitation_id, ticket = _link_params(request, form)
    started = redemption(request).start_from_link(page.tenant.id, invitation_id, ticket, page.now)
    if isinstance(started, LinkInfo):
        return _link_error(page, started)
    page.set_cookie(flow_cookie(page.web), started)
    return page.redirect(f"{page.base}/redeem/continue")


# --- just-in-time: a guest arrives without the link ------------------------------------------------------------


def guest_signin_url(page: Page, next_path: str) -> str:
    return f"{page.base}/guest?{urlencode({'next': next_path})}"


@router.get("/{tenant}/guest")
def guest_form(request: Request, tenant: str) -> Response:
    page = open_page(request, tenant)
    target = safe_next(request.query_params.get("next"), page.tenant.key, f"{page.base}/myapps")
    return page.render("guest_signin.html", next=target, email="", error=None)


@router.post("/{tenant}/guest")
async def guest_submit(request: Request, tenant: str) -> Response:
    page = open_page(request, tenant)
    form = await checked_form(page)
    _ = gettext_for(page)
    target = safe_next(form.get("next"), page.tenant.key, f"{page.base}/myapps")
    email, valid = entered_address(form)
    if not valid:
        return page.render("guest_signin.html", 400, next=target, email=email, error=_("Enter an email address."))
    token = redemption(request).start_signin(page.tenant.id, email, target, page.now)
    page.set_cookie(flow_cookie(page.web), token)
    return page.redirect(f"{page.base}/redeem/continue")


# --- the steps -------------------------------------------------------------------------------------------------


def _flow_page(request: Request, tenant: str) -> tuple[Page, FlowView]:
    page = open_page(request, tenant)
    flow = current_flow(page)
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
    return page, flow


@router.get("/{tenant}/redeem/continue")
def continue_flow(request: Request, tenant: str) -> Response:
    found = _flow_page(request, tenant)
    page, flow = found
    step = redemption(request).next_step(flow)
    if step == "finish":
        return _finish(page, flow)
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


def _start_session(page: Page, user: User, flow: FlowView) -> None:
    token = page.web.store.create(
        user,
        level=FULL,
        amr=flow.amr or ["email"],
        now=page.now,
        address=client_address(page.request),
        user_agent=page.request.headers.get("user-agent"),
        replaces=page.live.token_hash if page.live else None,
    )
    page.set_cookie(page.web.cookies.session, token)
    page.set_cookie(flow_cookie(page.web), None)


def _finish(page: Page, flow: FlowView) -> Response:
    service = redemption(page.request)
    try:
        user = service.finish_signin(flow, page.now)
    except RedemptionRefusedError as exc:
        return _refused(page, exc.reason, exc.detail)
    _start_session(page, user, flow)
    return page.redirect(service.redirect_target(flow, f"{page.base}/myapps"))


@router.get("/{tenant}/redeem/signin")
def signin_page(request: Request, tenant: str) -> Response:
    found = _flow_page(request, tenant)
    page, flow = found
    service = redemption(request)
    if flow.verified_method is not None:
        return page.redirect(f"{page.base}/redeem/continue")
    org = service.org(page.tenant.id)
    method = service.method(flow)
    if method == "home":
        home = service.home_tenant(flow.email, flow.tenant_id)
        assert home is not None
        back = f"/{home.id}/redeem/home/{flow.flow_id}"
        home_url = f"/{home.id}/login?{urlencode({'next': back, 'login_hint': flow.email, 'prompt': 'login'})}"
        return page.render("redeem_signin.html", org=org, method="home", home=home, home_url=home_url, flow=flow)
    enabled = service.policy(page.tenant.id).email_otp
    return page.render(
        "redeem_signin.html", org=org, method="otp" if enabled else "none", masked=mask_email(flow.email), flow=flow
    )


@router.post("/{tenant}/redeem/code/send")
async def send_code(request: Request, tenant: str) -> Response:
    found = _flow_page(request, tenant)
    page, flow = found
    await checked_form(page)
    outcome = redemption(request).send_code(flow, client_address(request), page.now)
    return page.redirect(f"{page.base}/redeem/code?sent={outcome}")


def _code_page(page: Page, flow: FlowView, status: int = 200, error: str | None = None) -> Response:
    _ = gettext_for(page)
    sent = page.request.query_params.get("sent")
    notice = {
        "sent": _("We sent a code to %(email)s.") % {"email": mask_email(flow.email)},
        "too_soon": _("A code was sent less than 30 seconds ago. Wait a moment before asking for another."),
        "limited": _("Too many codes were requested for this address. Try again in an hour."),
    }.get(sent or "")
    return page.render(
        "redeem_code.html",
        status,
        masked=mask_email(flow.email),
        notice=notice,
        error=error,
        minutes=page.web.settings.email_otp_lifetime_minutes,
        org=redemption(page.request).org(page.tenant.id),
    )


@router.get("/{tenant}/redeem/code")
def code_page(request: Request, tenant: str) -> Response:
    found = _flow_page(request, tenant)
    page, flow = found
    if flow.verified_method is not None:
        return page.redirect(f"{page.base}/redeem/continue")
    return _code_page(page, flow)


@router.post("/{tenant}/redeem/code")
async def code_submit(request: Request, tenant: str) -> Response:
    found = _flow_page(request, tenant)
    page, flow = found
    form = await checked_form(page)
    _ = gettext_for(page)
    outcome = redemption(request).verify_code(flow, form.get("code", "")[:64], client_address(request), page.now)
    if outcome == "ok":
        return page.redirect(f"{page.base}/redeem/continue")
    errors = {
        "invalid": (401, _("That code is not right. Check the latest email and try again.")),
        "exhausted": (401, _("Too many wrong codes. Ask for a new code.")),
        "expired": (401, _("This code has expired or was already used. Ask for a new code.")),
        "locked": (429, _("Too many failed attempts. Wait a few minutes, then try again.")),
    }
    status, message = errors[outcome]
    return _code_page(page, flow, status, message)


# --- home tenant round trip ------------------------------------------------------------------------------------


@router.get("/{tenant}/redeem/home/return")
def home_return(request: Request, tenant: str) -> Response:
    """Back from the home tenant with its assertion (bound to this browser's flow, fresh, single use)."""
    found = _flow_page(request, tenant)
    page, flow = found
    if not redemption(request).accept_assertion(flow, request.query_params.get("assertion", ""), page.now):
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
def home_side(request: Request, tenant: str, flow_id: str) -> Response:
    """On the guest's home tenant: once its user is signed in here, send them back with an assertion."""
    page = open_page(request, tenant)
    _ = gettext_for(page)
    service = redemption(request)
    flow = service.by_flow_id(flow_id, page.now)
    home = service.home_tenant(flow.email, flow.tenant_id) if flow else None
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
    assertion = service.issue_assertion(flow, page.live.user, page.live.amr, page.now)
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
    assert flow.user_id is not None
    if page.web.mfa.is_enrolled(flow.user_id):
        return page.render("redeem_mfa.html", status, enrol=False, error=error, qr=None, secret=None, sealed=None)
    user = redemption(page.request).user(flow.user_id)
    assert user is not None
    secret = new_totp_secret()
    if sealed is not None:
        secret = page.web.box.decrypt(_ENROL, sealed, flow.token_hash).decode()
    else:
        sealed = page.web.box.encrypt(_ENROL, secret.encode(), flow.token_hash)
    uri = provisioning_uri(secret, flow.email, page.tenant.name)
    # segno renders only path data of its own, so the markup is safe to embed unescaped.
    qr = Markup(segno.make(uri, error="m").svg_inline(scale=5, border=4, light="#fff", svgclass="qr", omitsize=True))
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return page.render("redeem_mfa.html", status, enrol=True, error=error, qr=qr, secret=grouped, sealed=sealed)


@router.get("/{tenant}/redeem/mfa")
def mfa_page(request: Request, tenant: str) -> Response:
    found = _flow_page(request, tenant)
    page, flow = found
    if redemption(request).next_step(flow) != "mfa":
        return page.redirect(f"{page.base}/redeem/continue")
    return _mfa_page(page, flow, None, None)


@router.post("/{tenant}/redeem/mfa")
async def mfa_submit(request: Request, tenant: str) -> Response:
    found = _flow_page(request, tenant)
    page, flow = found
    form = await checked_form(page)
    service = redemption(request)
    if service.next_step(flow) != "mfa" or flow.user_id is None:
        return page.redirect(f"{page.base}/redeem/continue")
    _ = gettext_for(page)
    web, code = page.web, form.get("code", "")[:64]
    scopes = (web.throttle.codes(flow.user_id), web.throttle.address(client_address(request)))
    sealed = form.get("sealed") or None
    try:
        if web.throttle.locked_until(page.now, *scopes) is not None:
            return _mfa_page(
                page, flow, sealed, _("Too many failed attempts. Wait a few minutes, then try again."), 429
            )
        if web.mfa.is_enrolled(flow.user_id):
            method = web.mfa.verify_any(flow.user_id, code, page.now)
            if method is None:
                web.throttle.failure(page.now, *scopes)
                return _mfa_page(page, flow, None, _("That code is not valid. Try again."), 401)
            web.throttle.success(*scopes)
            service.mark_mfa(flow, method)
            return page.redirect(f"{page.base}/redeem/continue")
        if sealed is None:
            return page.redirect(f"{page.base}/redeem/mfa")
        secret = web.box.decrypt(_ENROL, sealed, flow.token_hash).decode()
        user = service.user(flow.user_id)
        assert user is not None
        try:
            codes = web.mfa.enrol(user_principal(user), secret, code, page.now)
        except ConflictError:
            return page.redirect(f"{page.base}/redeem/mfa")
        if codes is None:
            web.throttle.failure(page.now, *scopes)
            message = _("That code is not valid. Check the time on your phone and try again.")
            return _mfa_page(page, flow, sealed, message, 400)
        web.throttle.success(*scopes)
        service.mark_mfa(flow, "otp")
        return page.render("redeem_codes.html", codes=codes)
    except DecryptionError:
        return page.redirect(f"{page.base}/redeem/mfa")


# --- Review permissions ----------------------------------------------------------------------------------------


@router.get("/{tenant}/redeem/consent")
def consent_page(request: Request, tenant: str) -> Response:
    found = _flow_page(request, tenant)
    page, flow = found
    service = redemption(request)
    if service.next_step(flow) != "consent":
        return page.redirect(f"{page.base}/redeem/continue")
    user = service.user(flow.user_id)
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
async def consent_submit(request: Request, tenant: str) -> Response:
    found = _flow_page(request, tenant)
    page, flow = found
    form = await checked_form(page)
    service = redemption(request)
    if service.next_step(flow) != "consent":
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
