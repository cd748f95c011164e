"""Server-rendered pages (Jinja2, gettext): sign-in, sessions, MFA — and later redemption, My Apps, the portal.

See docs/web.md. ``mount`` is called by the composition root (``hospes.asgi``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.staticfiles import StaticFiles

from hospes.auth.crypto import secret_box
from hospes.services.mfa import MfaService
from hospes.services.signin import PasswordSignIn
from hospes.services.throttle import Throttle
from hospes.services.web_sessions import SessionStore
from hospes.settings import Settings
from hospes.web.context import WebState
from hospes.web.security import CookiePolicy, Csrf, origin_of

STATIC_DIR = Path(__file__).parent / "static"


def build_state(settings: Settings, sessions: sessionmaker[Session]) -> WebState:
    box = secret_box(settings.secret_key, settings.data_dir)
    throttle = Throttle(sessions, settings)
    return WebState(
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
        signin=PasswordSignIn(sessions, throttle),
        mfa=MfaService(sessions, box),
        origin=origin_of(settings.public_url),
    )


def mount(app: FastAPI, settings: Settings, sessions: sessionmaker[Session]) -> WebState:
    from hospes.web import account, guest, login, myapps, portal, redeem, unsubscribe

    state = build_state(settings, sessions)
    app.state.web = state
    app.state.redemption = guest.build_redemption(state)
    app.include_router(unsubscribe.router)  # /unsubscribe/... before the /{tenant}/... pages
    app.include_router(redeem.router)
    app.include_router(myapps.router)
    app.include_router(login.router)
    app.include_router(account.router)
    app.include_router(portal.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return state
