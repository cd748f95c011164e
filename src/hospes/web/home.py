"""The front door: ``/`` says what this server is and takes people to their organization (by its domain, remembered
in a cookie) — its admin portal, its sign-in, My Apps — and to the API documentation. ``/admin`` leads here.

Entering a domain is a POST (it sets the cookie), answered with a redirect to ``/{domain}/admin``, which sends a
signed-out browser to that organization's sign-in first. An unknown domain is said on this same page.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from hospes.domain.errors import NotFoundError
from hospes.services.tenants import resolve_tenant
from hospes.web.deps import PlainPageDep
from hospes.web.guest import PlainPage, plain_form

router = APIRouter(include_in_schema=False)

REMEMBER_SECONDS = 400 * 24 * 3600  # the longest lifetime browsers keep (RFC 6265bis caps Max-Age at 400 days)
# A domain name (or a tenant id): letters, digits, dots and hyphens. Anything else cannot name an organization.
_KEY = re.compile(r"[a-z0-9](?:[a-z0-9.\-]{0,253}[a-z0-9])?")


def remembered_cookie(page: PlainPage) -> str:
    return "__Host-hospes_org" if page.web.cookies.secure else "hospes_org"


def organization_key(raw: str) -> str:
    """What was typed, as a tenant key: trimmed, lower-cased; a whole address ('ann@contoso.example') gives its
    domain, since people often type their sign-in name."""
    key = raw.strip().lower()[:320]
    return key.rsplit("@", 1)[-1]


def _organization_name(page: PlainPage, key: str) -> str | None:
    if not _KEY.fullmatch(key):
        return None
    try:
        with page.web.sessions() as session:
            return str(resolve_tenant(session, key).display_name)
    except NotFoundError:
        return None


def _render(page: PlainPage, status: int = 200, entered: str = "", error: str | None = None) -> Response:
    key = organization_key(page.request.cookies.get(remembered_cookie(page), ""))
    name = _organization_name(page, key) if key else None
    return page.render(
        "home.html",
        status,
        remembered={"key": key, "name": name} if name else None,
        entered=entered or (key if name else ""),
        error=error,
    )


@router.get("/")
def home(page: PlainPageDep) -> Response:
    return _render(page)


@router.post("/")
async def choose_organization(page: PlainPageDep) -> Response:
    form = await plain_form(page)
    entered = form.get("domain", "").strip()[:320]
    key = organization_key(entered)
    _ = page.gettext
    if not key:
        return _render(page, 400, entered, _("Enter your organization's domain, for example contoso.example."))
    if _organization_name(page, key) is None:
        message = _("No organization uses the domain %(domain)s here. Check the spelling, or ask your administrator.")
        return _render(page, 404, entered, message % {"domain": key})
    page.set_cookie(remembered_cookie(page), key, REMEMBER_SECONDS)
    return page.redirect(f"/{key}/admin")


@router.get("/admin")
def admin() -> Response:
    return RedirectResponse("/", status_code=307)
