"""My Apps: ``/{tenant}/myapps`` lists the applications assigned to the signed-in user or guest (directly or
through groups), and ``/{tenant}/myapps/launch/{id}`` sends them to an assigned app's login URL (or, for a SAML
app without one, to IdP-initiated sign-in). ``/{tenant}/myapps/people`` is the tenant's people search (the global
address list), for members only.

A guest who comes here without a session — or who has not accepted yet — goes through the guest sign-in and, if
needed, "Review permissions" first (just-in-time redemption), then lands on the page (or app) asked for.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from hospes.services.users import is_invited
from hospes.web.access import terms_pending, terms_url
from hospes.web.context import Page, gettext_for
from hospes.web.deps import PageDep
from hospes.web.exits import PageExit
from hospes.web.redeem import guest_signin_url

router = APIRouter(include_in_schema=False)


def _ready(page: Page, path: str) -> str:
    """The id of the signed-in user (an accepted guest, or a member); otherwise the guest sign-in, then back."""
    user = page.user
    if user is None:
        raise PageExit(page.redirect(guest_signin_url(page, f"/{page.tenant.key}{path}")))
    if is_invited(user) and user.external_user_state not in (None, "Accepted"):
        raise PageExit(page.redirect(guest_signin_url(page, f"/{page.tenant.key}{path}")))
    return str(user.id)


@router.get("/{tenant}/myapps")
def my_apps(page: PageDep) -> Response:
    user_id = _ready(page, "/myapps")
    if page.live is not None and page.user is not None:
        # Terms of use a policy requires for Hospes's own pages: accepted before the apps are listed, whichever
        # way the user signed in (password, guest passcode, home tenant, redemption).
        agreements = terms_pending(page, page.user, list(page.live.amr), f"{page.base}/myapps")
        if agreements:
            return page.redirect(terms_url(page, agreements, f"{page.base}/myapps"))
    apps = page.web.my_apps.apps(page.tenant.id, user_id)
    # Group and app owners manage their own groups' and apps' guests from the portal, without an admin role: the
    # page links to it.
    access = page.web.my_apps.portal_access(page.tenant.id, user_id)
    owned = page.web.my_apps.owned_apps(page.tenant.id, access)
    return page.render(
        "myapps.html",
        apps=apps,
        owns_groups=bool(access.owned_groups),
        owned_apps=owned,
        opens_portal=access.may_open_portal,
        finds_people=page.web.address_list.may_search(page.tenant.id, user_id),
    )


@router.get("/{tenant}/myapps/people")
def people(page: PageDep, q: str = "") -> Response:
    """The people of the organization (members, synchronized members, guests shown in the address list)."""
    user_id = _ready(page, "/myapps/people")
    if not page.web.address_list.may_search(page.tenant.id, user_id):
        _ = gettext_for(page)
        return page.render(
            "notice.html",
            403,
            title=_("People"),
            message=_("The people search is for members of %(organization)s.") % {"organization": page.tenant.name},
            link=f"{page.base}/myapps",
            link_text=_("Back to My Apps"),
        )
    found, more = page.web.address_list.search(page.tenant.id, user_id, q)
    return page.render("people.html", people=found, more=more, query=q[:100])


@router.get("/{tenant}/myapps/launch/{sp_id}")
def launch(page: PageDep, sp_id: str) -> Response:
    user_id = _ready(page, f"/myapps/launch/{sp_id[:64]}")
    url = page.web.my_apps.launch_url(page.tenant.id, user_id, sp_id[:64])
    if url is None:
        _ = gettext_for(page)
        return page.render(
            "notice.html",
            404,
            title=_("App not available"),
            message=_("This app is not assigned to you, or it has no sign-in address. Ask your administrator."),
            link=f"{page.base}/myapps",
            link_text=_("Back to My Apps"),
        )
    if url.startswith("saml:"):
        return page.redirect(f"{page.base}/myapps/signin/{quote(url[5:])}")  # IdP-initiated SAML sign-in
    # A link navigation (not a form), so the page's CSP form-action does not apply; the URL was re-validated.
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response
