"""The portal's request context: a signed-in user of this tenant, what they may manage (``Access``), the service
principal they act as, and the form plumbing every portal page shares (origin + CSRF check, multi-value forms,
validation errors tied to fields).

Role rules (docs/portal.md): Global Administrator everything; User Administrator users and groups; Guest Inviter
invitations only; group owners their own groups' guests. A page that refuses shows a readable 403 page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from babel.dates import format_datetime
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from hospes.digits import ascii_int
from hospes.domain.errors import DomainError, NotFoundError
from hospes.domain.principals import Principal
from hospes.forms import form_pairs
from hospes.runtime import Runtime
from hospes.services.admin_access import Access, load_access
from hospes.services.apps import AppService
from hospes.services.audit_views import AuditQueries
from hospes.services.collaboration import CollaborationService
from hospes.services.directory import DeletedItemsService, DirectoryRoleService
from hospes.services.directory_views import AppDetail, PortalQueries
from hospes.services.groups import GroupService
from hospes.services.invitations.jobs import BulkJobs
from hospes.services.invitations.service import InvitationService
from hospes.services.tenants import OrganizationService
from hospes.services.user_export import UserExport
from hospes.services.users import UserService
from hospes.services.web_sessions import user_principal
from hospes.web.access import terms_pending, terms_url
from hospes.web.context import Page, gettext_for
from hospes.web.exits import PageExit
from hospes.web.portal.plain import plain_message
from hospes.web.portal.wording import Wording
from hospes.web.render import CSP
from hospes.web.security import same_origin

MAX_PORTAL_FORM_BYTES = 64 * 1024  # the invitation message alone may be 10,000 characters
MAX_FIELDS = 400  # group and app check boxes
# The sign-in pages' policy plus our own script (progress polling, live expression checks) and its fetches.
# Territory codes that are not countries or regions a user can be in.
_NOT_PLACES = {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"}
PORTAL_CSP = CSP.replace("default-src 'none';", "default-src 'none'; script-src 'self'; connect-src 'self';")


class Form:
    """A url-encoded form with repeated fields kept (check boxes), read within size limits."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def flag(self, name: str) -> bool:
        return self.get(name) in ("on", "true", "1", "yes")


@dataclass
class AdminPage:
    page: Page
    access: Access
    principal: Principal
    section: str

    @property
    def base(self) -> str:
        return self.page.base

    @property
    def admin(self) -> str:
        return f"{self.page.base}/admin"

    @property
    def user(self) -> Any:
        return self.page.user

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.page.web.sessions

    @property
    def runtime(self) -> Runtime:
        return self.page.web.runtime

    # The services a page uses, acting as the signed-in administrator.

    @property
    def queries(self) -> PortalQueries:
        return PortalQueries(self.sessions, self.principal)

    @property
    def directory_roles(self) -> DirectoryRoleService:
        return DirectoryRoleService(self.sessions, self.principal)

    @property
    def audit_log(self) -> AuditQueries:
        # Log pages accept a few seconds of staleness: a streaming replica serves them when there is one.
        return AuditQueries(self.runtime.database.eventual_sessions(), self.principal)

    @property
    def user_export(self) -> UserExport:
        return UserExport(self.sessions, self.principal)

    @property
    def users(self) -> UserService:
        return UserService(self.sessions, self.principal)

    @property
    def deleted_items(self) -> DeletedItemsService:
        return DeletedItemsService(self.sessions, self.principal)

    @property
    def groups(self) -> GroupService:
        return GroupService(self.sessions, self.principal)

    @property
    def apps(self) -> AppService:
        return AppService(self.sessions, self.principal)

    @property
    def organization(self) -> OrganizationService:
        return OrganizationService(self.sessions, self.principal)

    @property
    def collaboration(self) -> CollaborationService:
        return CollaborationService(self.sessions, self.principal)

    @property
    def invitations(self) -> InvitationService:
        return InvitationService(self.runtime.database, self.principal, self.runtime.invite_config)

    @property
    def bulk_jobs(self) -> BulkJobs:
        return BulkJobs(self.runtime.database, self.principal)

    @property
    def _(self) -> Callable[[str], str]:
        return gettext_for(self.page)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        response = self.page.render(
            template,
            status,
            access=self.access,
            section=self.section,
            admin=self.admin,
            when=self.when,
            country=self.country,
            word=Wording(self._, self.page.lang),
            lang_href=self.lang_href,
            plain=self.plain_text,
            **context,
        )
        response.headers["Content-Security-Policy"] = PORTAL_CSP
        return response

    def when(self, value: Any) -> str:
        """An ISO 8601 timestamp (as the provisioning facade returns them) in the page's language."""
        if not isinstance(value, str) or not value:
            return "—"
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return str(format_datetime(parsed, "medium", locale=self.page.lang))

    def lang_href(self, code: str) -> str:
        """This page in another language: its query (filters, page, ``next``) kept, ``lang`` replaced."""
        kept = [(k, v) for k, v in self.page.request.query_params.multi_items() if k != "lang"]
        return "?" + urlencode([*kept, ("lang", code)])

    def country(self, code: str | None) -> str:
        """A country or region's name in the page's language (a usage location is its ISO 3166 code)."""
        return dict(countries(self.page.lang)).get(code or "", code or "—")

    def redirect(self, path: str, **query: str) -> Response:
        suffix = ("?" + urlencode(query)) if query else ""
        return self.page.redirect(f"{self.admin}{path}{suffix}")

    def app(self, sp_id: str) -> AppDetail:
        """An enterprise application of this tenant, or the readable 404 page."""
        try:
            return self.queries.app(sp_id[:64])
        except NotFoundError:
            raise PageExit(self.not_found()) from None

    def plain_text(self, message: str | None) -> str:
        return plain_message(self._, message or "")

    def plain(self, exc: DomainError) -> str:
        """A service error in plain words, in the page's language."""
        return plain_message(self._, exc.message)

    def plain_errors(self, exc: DomainError, fields: dict[str, str], default: str = "_form") -> dict[str, str]:
        """As ``field_errors``, in plain words."""
        return {field: plain_message(self._, message) for field, message in field_errors(exc, fields, default).items()}

    def forbidden(self) -> Response:
        return forbidden(self.page, self.access)

    def not_found(self) -> Response:
        _ = self._
        return self.render(
            "portal/message.html",
            404,
            title=_("Not found"),
            message=_("This item does not exist, or it was deleted."),
        )

    async def form(self) -> Form:
        """The POSTed form, or the refusal page: same origin, readable body, valid CSRF token."""
        _ = self._
        request = self.page.request
        if not same_origin(request, self.page.web.origin):
            raise PageExit(self.refused(_("This form was sent from another site, so it was refused.")))
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        body = b""
        if ctype == "application/x-www-form-urlencoded":
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_PORTAL_FORM_BYTES:
                    body = b""
                    ctype = "too-large"
                    break
        try:
            if ctype != "application/x-www-form-urlencoded":
                raise ValueError
            pairs = form_pairs(body, MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise PageExit(
                self.render(
                    "portal/message.html",
                    400,
                    title=_("Request refused"),
                    message=_("The form could not be read. Go back and try again."),
                )
            ) from None
        if not self.page.csrf_ok({"csrf": Form(pairs).get("csrf")}):
            raise PageExit(
                self.refused(
                    _("The form has expired or did not come from this site. Go back, reload the page and try again.")
                )
            )
        return Form(pairs)

    def refused(self, message: str) -> Response:
        return self.render("portal/message.html", 403, title=self._("Request refused"), message=message)


@cache
def countries(language: str) -> list[tuple[str, str]]:
    """(ISO 3166 code, name in ``language``), sorted by name: the choices of a user's usage location."""
    names = Locale.parse(language).territories
    codes = [c for c in names if isinstance(c, str) and len(c) == 2 and c.isalpha() and c not in _NOT_PLACES]
    return sorted(((c, str(names[c])) for c in codes), key=lambda item: item[1].casefold())


def forbidden(page: Page, access: Access | None) -> Response:
    _ = gettext_for(page)
    return page.render(
        "portal/forbidden.html",
        403,
        access=access,
        section="",
        admin=f"{page.base}/admin",
        title=_("You don't have access to this page"),
    )


def admin_of(page: Page, section: str, allowed: Callable[[Access], bool]) -> AdminPage:
    """The AdminPage of a signed-in user whose roles pass ``allowed``; otherwise the sign-in redirect or the 403
    page. Roles are read on every request, so a removed role takes effect at once."""
    if page.live is None or not page.live.is_full:
        # After signing in the browser GETs ``next``: a form's POST address would answer 405, so an expired
        # session on a POST comes back to the overview instead.
        request = page.request
        path = request.url.path if request.method == "GET" else f"{page.base}/admin"
        raise PageExit(page.redirect(f"{page.base}/login?{urlencode({'next': path})}"))
    principal = user_principal(page.live.user)
    access = load_access(page.web.sessions, principal.tenant_id, principal.id)
    if not allowed(access):
        raise PageExit(forbidden(page, access))
    # Terms of use a policy requires for the portal hold on every page, not only at sign-in: a user who left the
    # terms page unanswered gets it again.
    request = page.request
    here = request.url.path if request.method == "GET" else f"{page.base}/admin"
    agreements = terms_pending(page, page.live.user, list(page.live.amr), here)
    if agreements:
        raise PageExit(page.redirect(terms_url(page, agreements, here)))
    return AdminPage(page, access, principal, section)


def field_errors(exc: DomainError, fields: dict[str, str], default: str) -> dict[str, str]:
    """A service error as ``{form field: message}``: the error's target (a Graph property name) picks the field;
    an error without a known target goes to ``default`` (shown at the top of the form)."""
    target = exc.target or ""
    return {fields.get(target, default): exc.message}


def page_number(request: Request) -> int:
    number = ascii_int(request.query_params.get("page"))
    return number if number is not None and 0 < number < 1_000_000 else 1
