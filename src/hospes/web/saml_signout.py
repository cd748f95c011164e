"""Signing out of Hospes also signs out of the SAML apps of that browser session (the sign-out page's part of
single logout), and where the SAML services live on the app."""

from __future__ import annotations

from typing import NamedTuple

from starlette.responses import Response

from hospes.services.saml_logout import SamlLogout
from hospes.services.saml_signin import SamlSignIn
from hospes.web.context import Page


class SamlState(NamedTuple):
    signin: SamlSignIn
    logout: SamlLogout


def saml_state(page: Page) -> SamlState:
    found: SamlState = page.request.app.state.saml
    return found


def sign_out_of_apps(page: Page, sid: str, then: str) -> Response:
    """After the session ``sid`` ended here: tell each SAML app of it (LogoutRequests, one after the other), then
    ``then``. The first hop leaves from a page of its own: Chromium holds a form POST's redirects to the form
    page's ``form-action``, and the sign-out form's page allows only this site."""
    url = saml_state(page).logout.sign_out(page.tenant.id, sid, then, page.now)
    if url is None:
        return page.redirect(then)
    return page.render("saml_signout.html", url=url)
