"""The pages an app's sign-in may pass through: "who are you" (the address decides: a member signs in with a
password, a guest of this tenant with the identity they redeemed with — and a guest still pending is redeemed on
the way —, anyone else is told they are not in this organization), and the consent page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.services.oidc.authorize import AuthorizationRequest, PageError
from hospes.web import i18n
from hospes.web.context import Page, gettext_for
from hospes.web.deps import PageDep
from hospes.web.guest import entered_address, flow_cookie
from hospes.web.login import checked_form
from hospes.web.oidc import caller, continue_url, page_failure, signed_in, to_client, unseal

router = APIRouter(include_in_schema=False)


def N_(message: str) -> str:  # noqa: N802 - marks a message for extraction; translated where it is shown
    return message


# What the consent page says each permission lets the app do.
_DESCRIPTIONS = {
    "openid": N_("Sign you in"),
    "profile": N_("View your basic profile"),
    "email": N_("View your email address"),
    "offline_access": N_("Maintain access to data you have given it access to"),
    "User.Read": N_("Sign you in and read your profile"),
    "User.ReadBasic.All": N_("Read the basic profiles of all users"),
}


def _route_address(page: Page, request: AuthorizationRequest, address: str) -> Response:
    runtime = page.web.runtime
    info = runtime.authorizer.classify(page.tenant.id, address, page.web.settings.public_url)
    back = continue_url(page, request)
    if info.kind in ("member", "tenant_domain"):
        query = {"next": back, "login_hint": address, "prompt": "login"}
        return page.redirect(f"{page.base}/login?{urlencode(query)}")
    if info.kind == "guest":
        token = page.web.redemption.start_signin(page.tenant.id, address, back, page.now)
        page.set_cookie(flow_cookie(page.web), token)
        return page.redirect(f"{page.base}/redeem/continue")
    if info.kind == "disabled":
        return page_failure(page, PageError(50057, "The user account is disabled."))
    problem = runtime.authorizer.not_in_tenant(request, address, info, page.now, caller(page))
    _ = gettext_for(page)
    return page.render(
        "notice.html",
        400,
        title=_("You can't sign in here"),
        message=f"AADSTS{problem.code}: {problem.message}",
        link=continue_url(page, request, "signin"),
        link_text=_("Use another account"),
    )


def _lang_links(ctx: str) -> dict[str, str]:
    """Language links that keep the sealed request."""
    return {code: "?" + urlencode({"ctx": ctx, "lang": code}) for code in i18n.SUPPORTED}


def _signin_page(
    page: Page, request: AuthorizationRequest, ctx: str, email: str, error: str | None, status: int = 200
) -> Response:
    return page.render(
        "oidc_signin.html",
        status,
        app_name=page.web.runtime.authorizer.app_name(request),
        ctx=ctx,
        email=email,
        error=error,
        lang_links=_lang_links(ctx),
    )


@router.get("/{tenant}/oauth2/v2.0/authorize/signin")
def signin_form(request: Request, page: PageDep) -> Response:
    checked = unseal(page, request.query_params.get("ctx"))
    if checked.login_hint and "@" in checked.login_hint:
        return _route_address(page, checked, checked.login_hint)
    hint = (checked.domain_hint or "").lower()
    if hint and (hint == page.tenant.id or hint in page.web.runtime.authorizer.tenant_domains(page.tenant.id)):
        query = {"next": continue_url(page, checked), "prompt": "login"}
        return page.redirect(f"{page.base}/login?{urlencode(query)}")
    return _signin_page(page, checked, request.query_params.get("ctx", ""), "", None)


@router.post("/{tenant}/oauth2/v2.0/authorize/signin")
async def signin_submit(page: PageDep) -> Response:
    form = await checked_form(page)
    checked = unseal(page, form.get("ctx"))
    email, valid = entered_address(form)
    if not valid:
        _ = gettext_for(page)
        return _signin_page(page, checked, form.get("ctx", ""), email, _("Enter an email address."), 400)
    return _route_address(page, checked, email)


@router.get("/{tenant}/oauth2/v2.0/authorize/consent")
def consent_form(request: Request, page: PageDep) -> Response:
    ctx = request.query_params.get("ctx")
    checked = unseal(page, ctx)
    who = signed_in(page)
    authorizer = page.web.runtime.authorizer
    if who is None:
        return page.redirect(continue_url(page, checked))
    try:
        needed = authorizer.consent_needed(checked, who)
    except PageError as problem:
        return page_failure(page, problem)
    if needed is None:
        return page.redirect(continue_url(page, checked))
    _ = gettext_for(page)
    if not needed.may_consent:
        return page.render(
            "notice.html",
            403,
            title=_("Approval required"),
            message="AADSTS90094: "
            + _(
                "%(app)s needs permissions that only an administrator of this organization can grant. Ask your "
                "host's administrator to grant them, then sign in again."
            )
            % {"app": needed.app_name},
            link=None,
            link_text=None,
        )
    scopes = [(s, _(_DESCRIPTIONS[s]) if s in _DESCRIPTIONS else s) for s in needed.scopes]
    return page.render(
        "oidc_consent.html", app_name=needed.app_name, scopes=scopes, ctx=ctx or "", lang_links=_lang_links(ctx or "")
    )


@router.post("/{tenant}/oauth2/v2.0/authorize/consent")
async def consent_submit(page: PageDep) -> Response:
    form = await checked_form(page)
    checked = unseal(page, form.get("ctx"))
    who = signed_in(page)
    if who is None:
        return page.redirect(continue_url(page, checked))
    authorizer = page.web.runtime.authorizer
    if form.get("decision") != "accept":
        try:
            problem = authorizer.declined(checked, who, page.now, caller(page))
        except PageError as failure:
            return page_failure(page, failure)
        return to_client(page, checked, problem, interactive=True)
    try:
        consented = authorizer.consent(checked, who, page.now)
    except PageError as problem:
        return page_failure(page, problem)
    return page.redirect(continue_url(page, consented))
