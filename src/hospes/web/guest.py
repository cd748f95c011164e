"""What the guest pages share: the flow cookie, and a page for pages without a tenant
(the unsubscribe portal, the "block future invitations" confirmation)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hospes.domain.errors import InvitationError
from hospes.domain.invitation import check_email
from hospes.services.guest_flows import FlowView, origin
from hospes.web import i18n
from hospes.web.context import LANGUAGE_COOKIE_SECONDS, Page, WebState, lang_links, language_hint, web_state
from hospes.web.exits import PageExit
from hospes.web.render import CSP, render_html
from hospes.web.security import new_pre_session, read_form, same_origin

_ORIGIN = re.compile(r"^https?://[a-z0-9.\-\[\]:]+$")


def flow_cookie(web: WebState) -> str:
    return "__Host-hospes_guest" if web.cookies.secure else "hospes_guest"


def current_flow(page: Page) -> FlowView | None:
    flow = page.web.redemption.load(page.request.cookies.get(flow_cookie(page.web)), page.now)
    if flow is None or flow.tenant_id != page.tenant.id:
        return None
    return flow


def allow_form_target(response: Response, url: str) -> Response:
    """Chromium applies CSP ``form-action`` to the redirects that follow a form POST: a form whose POST ends by
    sending the browser to another origin (the inviter's redirect URL) must name that origin."""
    target = origin(url)
    if _ORIGIN.match(target):
        response.headers["Content-Security-Policy"] = CSP.replace("form-action 'self'", f"form-action 'self' {target}")
    return response


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    if not domain:
        return email
    return f"{local[:2]}{'•' * max(1, min(len(local) - 2, 6))}@{domain}"


@dataclass
class PlainPage:
    """A page outside any tenant: language, CSRF bound to the pre-session cookie, cookies to set."""

    request: Request
    web: WebState
    lang: str
    now: datetime
    _cookies: list[tuple[str, str | None, int | None]] = field(default_factory=list)

    @classmethod
    def open(cls, request: Request) -> PlainPage:
        web = web_state(request)
        chosen, from_query = language_hint(request, web)
        lang = i18n.choose(chosen, accept_language=request.headers.get("accept-language"))
        page = cls(request, web, lang, web.clock())
        if from_query and chosen:
            page.set_cookie(web.cookies.language, chosen, LANGUAGE_COOKIE_SECONDS)
        return page

    @property
    def gettext(self) -> Callable[[str], str]:
        return i18n.translations(self.lang).gettext

    def set_cookie(self, name: str, value: str | None, max_age: int | None = None) -> None:
        self._cookies.append((name, value, max_age))

    @property
    def csrf(self) -> str:
        pre = self.request.cookies.get(self.web.cookies.pre_session)
        if not pre or len(pre) > 128:
            pre = new_pre_session()
            self.set_cookie(self.web.cookies.pre_session, pre)
        return self.web.csrf.token("pre:" + pre)

    def csrf_ok(self, form: dict[str, str]) -> bool:
        pre = self.request.cookies.get(self.web.cookies.pre_session)
        return bool(pre) and self.web.csrf.valid("pre:" + (pre or ""), form.get("csrf"))

    def _apply(self, response: Response) -> Response:
        for name, value, max_age in self._cookies:
            if value is None:
                self.web.cookies.clear(response, name)
            else:
                self.web.cookies.set(response, name, value, max_age)
        return response

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        csrf = self.csrf
        context.setdefault("lang_links", lang_links(self.request))
        response = render_html(self.lang, template, status, tenant=None, base="", user=None, csrf=csrf, **context)
        return self._apply(response)

    def error(self, status: int, title: str, message: str) -> Response:
        return self.render("error.html", status, title=title, message=message)

    def redirect(self, url: str) -> Response:
        return self._apply(RedirectResponse(url, status_code=303))


async def plain_form(page: PlainPage) -> dict[str, str]:
    _ = page.gettext
    if not same_origin(page.request, page.web.origin):
        raise PageExit(
            page.error(403, _("Request refused"), _("This form was sent from another site, so it was refused."))
        )
    form = await read_form(page.request)
    if form is None:
        raise PageExit(page.error(400, _("Request refused"), _("The form could not be read. Go back and try again.")))
    if not page.csrf_ok(form):
        raise PageExit(
            page.error(
                403,
                _("Request refused"),
                _("The form has expired or did not come from this site. Go back, reload the page and try again."),
            )
        )
    return form


def entered_address(form: dict[str, Any]) -> tuple[str, bool]:
    """The address typed into a guest page's ``email`` field, and whether it passes the rules an invitation's
    address passed (which a passcode email's header also needs: no spaces or controls, ASCII before the '@')."""
    raw = str(form.get("email", "")).strip()[:256]
    try:
        return check_email(raw, "email"), True
    except InvitationError:
        return raw, False
