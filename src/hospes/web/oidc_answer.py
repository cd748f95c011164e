"""How an authorization request is answered at the client's redirect URI, per ``response_mode``: in the query,
in the fragment, or as a form posted by the browser (``form_post``).

After a sign-in or consent form, the answer is a page that moves the browser on (a meta refresh and a link)
rather than a redirect: Chromium applies the form's CSP ``form-action 'self'`` to every redirect that follows a
POST, which would stop the last hop to the client's origin.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from starlette.responses import Response

from hospes.services.guest_flows import origin
from hospes.services.oidc.authorize import RedirectError
from hospes.web.context import Page

_FORM_POST_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'nonce-{nonce}'; form-action {target}; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def error_params(problem: RedirectError, state: str | None, base_url: str) -> dict[str, str]:
    params = {
        "error": problem.error,
        "error_description": problem.description,
        "error_uri": f"{base_url}/error?code={problem.code}",
    }
    if state is not None:
        params["state"] = state
    return params


def answer(page: Page, redirect_uri: str, mode: str, params: dict[str, str], *, interactive: bool) -> Response:
    """Send ``params`` to the client. ``interactive``: this request follows one of our forms."""
    if mode == "form_post":
        nonce = secrets.token_urlsafe(16)
        response = page.render("oidc_form_post.html", action=redirect_uri, fields=sorted(params.items()), nonce=nonce)
        response.headers["Content-Security-Policy"] = _FORM_POST_CSP.format(nonce=nonce, target=origin(redirect_uri))
        return response
    if mode == "fragment":
        url = f"{redirect_uri.split('#', 1)[0]}#{urlencode(params)}"
    else:
        url = f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(params)}"
    if interactive:
        return page.render("oidc_redirect.html", url=url)
    response = page.redirect(url)
    response.status_code = 302
    response.headers["Cache-Control"] = "no-store"  # the address carries the code
    return response
