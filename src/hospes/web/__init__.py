"""Server-rendered pages (Jinja2, gettext): sign-in, sessions, MFA — and later redemption, My Apps, the portal.

See docs/web.md. ``mount`` is called by the composition root (``hospes.asgi``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from hospes.provisioning.ssrf import GuardedTransport, OutboundBlockedError, OutboundPolicy
from hospes.runtime import Runtime
from hospes.services.address_list import AddressList
from hospes.services.email_otp import EmailOtpService
from hospes.services.mfa import MfaService
from hospes.services.my_apps import MyApps
from hospes.services.oidc_federation import OidcRelyingParty
from hospes.services.redemption import RedemptionService
from hospes.services.web_sessions import SessionStore
from hospes.web.context import WebState
from hospes.web.exits import install as install_page_exit
from hospes.web.security import CookiePolicy, Csrf, origin_of

STATIC_DIR = Path(__file__).parent / "static"


class _Guarded(GuardedTransport):
    """A refused address is, to the relying party, a provider that cannot be reached."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except OutboundBlockedError as exc:
            raise httpx.ConnectError(str(exc), request=request) from None


def guarded_relying_party(allow: str) -> OidcRelyingParty:
    """The relying party of guests' OpenID providers: the addresses it calls are a tenant administrator's (the
    discovery document) and the partner's (keys, token endpoint), so they pass the outbound guard of provisioning
    targets (public addresses, or what the operator admits with ``HOSPES_OUTBOUND_ALLOW``)."""
    policy = OutboundPolicy.parse(allow)

    def client() -> httpx.Client:
        return httpx.Client(transport=_Guarded(policy), timeout=httpx.Timeout(5.0), follow_redirects=False)

    return OidcRelyingParty(http=client)


def build_state(runtime: Runtime) -> WebState:
    settings, sessions, box = runtime.settings, runtime.sessions, runtime.box
    throttle = runtime.throttle
    otp = EmailOtpService(sessions, box, throttle, settings)
    mfa = MfaService(sessions, box)
    return WebState(
        runtime=runtime,
        settings=settings,
        sessions=sessions,
        box=box,
        cookies=CookiePolicy.for_url(settings.public_url, settings.session_cookie_name),
        csrf=Csrf(box),
        store=SessionStore(
            sessions,
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
        ),
        throttle=throttle,
        signin=runtime.passwords,
        mfa=mfa,
        redemption=RedemptionService(sessions, box, otp, settings, mfa, guarded_relying_party(settings.outbound_allow)),
        my_apps=MyApps(sessions),
        address_list=AddressList(sessions),
        origin=origin_of(settings.public_url),
        clock=runtime.clock,
    )


def mount(app: FastAPI, runtime: Runtime) -> WebState:
    from hospes.web import (
        account,
        applogos,
        federation,
        home,
        invitation_block,
        login,
        myaccess,
        myapps,
        oidc,
        oidc_logout,
        oidc_pages,
        portal,
        redeem,
        reviews,
        saml,
        terms,
        unsubscribe,
    )

    state = build_state(runtime)
    app.state.web = state
    install_page_exit(app)
    app.include_router(home.router)  # / and /admin: the front door
    app.include_router(unsubscribe.router)  # /unsubscribe/... before the /{tenant}/... pages
    saml.install(app, runtime)  # /{tenant}/saml2, federation metadata, IdP-initiated sign-in
    app.include_router(federation.router)  # /login.srf, /te/{tenant}/oauth2/authresp, /{tenant}/redeem/federation
    app.include_router(redeem.router)
    app.include_router(myapps.router)
    app.include_router(reviews.router)
    app.include_router(myaccess.router)
    app.include_router(applogos.router)
    app.include_router(login.router)
    app.include_router(terms.router)
    app.include_router(oidc.router)
    app.include_router(oidc_pages.router)
    app.include_router(oidc_logout.router)
    app.include_router(account.router)
    app.include_router(portal.router)
    app.include_router(invitation_block.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return state
