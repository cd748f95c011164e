"""Telling a browser session's apps that it ended: OpenID Connect apps by front-channel logout (a hidden frame per
app with a logout URL, ``?iss=…&sid=…``), SAML apps by single logout (a chain of LogoutRequests), and a page that
says how many apps were signed out. Used by Hospes' own sign-out and by an app's end-session request."""

from __future__ import annotations

from starlette.responses import Response

from hospes.services.guest_flows import origin
from hospes.web.context import Page
from hospes.web.render import CSP
from hospes.web.saml_signout import saml_state


def frames_page(page: Page, frames: list[str], count: int, then: str | None, refused: bool = False) -> Response:
    response = page.render("oidc_signed_out.html", frames=frames, count=count, redirect=then, refused=refused)
    if frames:
        sources = " ".join(sorted({origin(f) for f in frames}))
        response.headers["Content-Security-Policy"] = CSP.replace(
            "default-src 'none';", f"default-src 'none'; frame-src {sources};"
        )
    return response


def tell_apps(page: Page, sid: str, then: str | None) -> tuple[list[str], int, str | None]:
    """The session ``sid`` just ended: the front-channel frames of its OpenID Connect apps, how many apps it had,
    and where the browser goes next (the first SAML app to tell, whose chain ends at ``then``; else ``then``)."""
    end_session = page.web.runtime.end_session
    participants = end_session.participants(sid)
    frames = [p.frame_url for p in participants if p.frame_url]
    final = then or f"{page.base}/login?signed_out=1"
    saml_first = saml_state(page).logout.sign_out(page.tenant.id, sid, final, page.now)
    end_session.forget(sid)
    return frames, len(participants), saml_first or then


def sign_out_of_every_app(page: Page, sid: str, then: str) -> Response:
    """Hospes' own sign-out: OpenID Connect apps by front-channel frames, SAML apps by single logout, then
    ``then``. Without apps to tell this is a plain redirect."""
    frames, count, onward = tell_apps(page, sid, then)
    if frames:
        return frames_page(page, frames, count, onward)
    if onward != then and onward is not None:
        return page.render("saml_signout.html", url=onward)
    return page.redirect(then)
