"""What every page handler starts from: the web state built at startup, and a ``Page`` for one request (tenant,
session, language, CSRF token, cookies to set)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hospes.auth.crypto import SecretBox
from hospes.domain.clock import utcnow
from hospes.domain.errors import NotFoundError
from hospes.logs import set_tenant
from hospes.runtime import Runtime
from hospes.services.address_list import AddressList
from hospes.services.mfa import MfaService
from hospes.services.my_apps import MyApps
from hospes.services.redemption import RedemptionService
from hospes.services.signin import PasswordSignIn
from hospes.services.tenants import resolve_tenant
from hospes.services.throttle import Throttle
from hospes.services.web_sessions import LiveSession, SessionStore, token_hash
from hospes.settings import Settings
from hospes.web import i18n
from hospes.web.exits import PageExit
from hospes.web.render import render_html
from hospes.web.security import CookiePolicy, Csrf, new_pre_session

LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True)
class WebState:
    runtime: Runtime
    settings: Settings
    sessions: sessionmaker[Session]
    box: SecretBox
    cookies: CookiePolicy
    csrf: Csrf
    store: SessionStore
    throttle: Throttle
    signin: PasswordSignIn
    mfa: MfaService
    redemption: RedemptionService
    my_apps: MyApps
    address_list: AddressList
    origin: str  # scheme://host[:port] of the public URL, for the Origin check
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True)
class TenantView:
    id: str
    key: str  # as written in the URL (id or domain), so links keep the form the user came with
    name: str
    preferred_language: str | None


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass
class Page:
    request: Request
    web: WebState
    tenant: TenantView
    live: LiveSession | None  # a session of *this* tenant (of any level), or None
    lang: str
    now: datetime
    cookie_session: str | None  # hash of whatever session token the browser sent, for replacement at sign-in
    explicit_language: bool = False  # the language came from ?lang= or its cookie: nothing else overrides it
    _cookies: list[tuple[str, str | None, int | None]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"/{self.tenant.key}"

    @property
    def user(self) -> Any:
        return self.live.user if self.live and self.live.is_full else None

    @property
    def csrf(self) -> str:
        if self.live is not None:
            return self.web.csrf.token("session:" + self.live.token_hash)
        pre = self.request.cookies.get(self.web.cookies.pre_session)
        if not pre or len(pre) > 128:
            pre = new_pre_session()
            self.set_cookie(self.web.cookies.pre_session, pre)
        return self.web.csrf.token("pre:" + pre)

    def csrf_ok(self, form: dict[str, str]) -> bool:
        token = form.get("csrf")
        if self.live is not None:
            return self.web.csrf.valid("session:" + self.live.token_hash, token)
        pre = self.request.cookies.get(self.web.cookies.pre_session)
        return bool(pre) and self.web.csrf.valid("pre:" + (pre or ""), token)

    def set_cookie(self, name: str, value: str | None, max_age: int | None = None) -> None:
        self._cookies.append((name, value, max_age))

    def prefer_language(self, language: str | None) -> None:
        """Speak ``language`` (an invitation's) unless the visitor chose one."""
        found = i18n.match(language)
        if found and not self.explicit_language:
            self.lang = found

    def _apply(self, response: Response) -> Response:
        for name, value, max_age in self._cookies:
            if value is None:
                self.web.cookies.clear(response, name)
            else:
                self.web.cookies.set(response, name, value, max_age)
        return response

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        csrf = self.csrf  # may queue the pre-session cookie, so before _apply
        context.setdefault("lang_links", lang_links(self.request))
        response = render_html(
            self.lang, template, status, tenant=self.tenant, base=self.base, user=self.user, csrf=csrf, **context
        )
        return self._apply(response)

    def error(self, status: int, title: str, message: str) -> Response:
        return self.render("error.html", status, title=title, message=message)

    def redirect(self, url: str) -> Response:
        return self._apply(RedirectResponse(url, status_code=303))


def lang_links(request: Request) -> dict[str, str]:
    """Language switcher links that keep the page's own query (``next=``, a redeem link, a block token), ``lang``
    replaced."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return {code: "?" + urlencode([*kept, ("lang", code)]) for code in i18n.SUPPORTED}


def language_hint(request: Request, web: WebState) -> tuple[str | None, bool]:
    """The explicitly chosen language (``?lang=`` or its cookie), and whether it came from the query now."""
    asked = i18n.match(request.query_params.get("lang"))
    if asked:
        return asked, True
    return i18n.match(request.cookies.get(web.cookies.language)), False


def open_page(request: Request, tenant_key: str) -> Page:
    """The request's Page; an unknown organization stops the request with its page."""
    web = web_state(request)
    now = web.clock()
    chosen, from_query = language_hint(request, web)
    accept = request.headers.get("accept-language")
    try:
        with web.sessions() as session:
            tenant = resolve_tenant(session, tenant_key[:255])
            view = TenantView(tenant.id, tenant_key, tenant.display_name, tenant.preferred_language)
        set_tenant(tenant.id)
    except NotFoundError:
        lang = i18n.choose(chosen, accept_language=accept)
        _ = i18n.translations(lang).gettext
        raise PageExit(
            render_html(
                lang,
                "error.html",
                404,
                tenant=None,
                base="",
                user=None,
                csrf="",
                title=_("Organization not found"),
                message=_("There is no organization at this address. Check the link, or ask whoever sent it to you."),
            )
        ) from None
    token = request.cookies.get(web.cookies.session)
    live = web.store.load(token, now)
    if live is not None and live.tenant_id != view.id:
        live = None  # a session of another tenant: this tenant's pages treat the browser as signed out
    user_lang = live.user.preferred_language if live else None
    # A guest's session remembers the language of their invitation.
    invited_lang = live.data.get("lang") if live else None
    lang = i18n.choose(chosen, invited_lang, user_lang, view.preferred_language, accept_language=accept)
    page = Page(request, web, view, live, lang, now, token_hash(token) if token else None, chosen is not None)
    if from_query and chosen:
        page.set_cookie(web.cookies.language, chosen, LANGUAGE_COOKIE_SECONDS)
    return page


def gettext_for(page: Page) -> Callable[[str], str]:
    return i18n.translations(page.lang).gettext
