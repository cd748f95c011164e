"""Named locations in the portal: IP ranges (trusted or not) and countries, which conditional-access policies name
in their location condition. Writes go through ``ConditionalAccessService``, as Graph's
``/identity/conditionalAccess/namedLocations`` does; a location a policy uses can't be deleted."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from hospes.domain.conditional_access import COUNTRY_TYPE, IP_TYPE
from hospes.domain.errors import DomainError, NotFoundError
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, Form, countries
from hospes.web.portal.ca_policies import BASE, confirm_page, service
from hospes.web.portal.deps import ConditionalAccessDep

router = APIRouter(include_in_schema=False)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# A service error's target → the field it is shown under.
_FIELDS = {"displayName": "name", "ipRanges": "ranges", "isTrusted": "ranges", "countriesAndRegions": "countries"}


def _location(admin: AdminPage, location_id: str) -> dict[str, Any]:
    lid = location_id.lower()[:64]
    if not _GUID.match(lid):
        raise PageExit(admin.not_found())
    try:
        return service(admin).get_location(lid)
    except NotFoundError:
        raise PageExit(admin.not_found()) from None


def _values(location: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    if location is None:
        return {"name": "", "kind": kind, "ranges": "", "trusted": "", "countries": [], "unknown": ""}
    return {
        "name": location["displayName"],
        "kind": "ip" if location["@odata.type"] == IP_TYPE else "country",
        "ranges": "\n".join(r["cidrAddress"] for r in location.get("ipRanges") or []),
        "trusted": "on" if location.get("isTrusted") else "",
        "countries": list(location.get("countriesAndRegions") or []),
        "unknown": "on" if location.get("includeUnknownCountriesAndRegions") else "",
    }


def _posted(form: Form, kind: str) -> dict[str, Any]:
    return {
        "name": form.get("name").strip()[:300],
        "kind": kind,
        "ranges": form.get("ranges")[:40_000],
        "trusted": "on" if form.flag("trusted") else "",
        "countries": form.all("countries")[:300],
        "unknown": "on" if form.flag("unknown") else "",
    }


def _body(values: dict[str, Any]) -> dict[str, Any]:
    if values["kind"] == "ip":
        lines = [line.strip() for line in values["ranges"].replace("\r", "\n").split("\n") if line.strip()]
        return {
            "@odata.type": IP_TYPE,
            "displayName": values["name"],
            "ipRanges": [{"cidrAddress": line} for line in lines],
            "isTrusted": bool(values["trusted"]),
        }
    return {
        "@odata.type": COUNTRY_TYPE,
        "displayName": values["name"],
        "countriesAndRegions": values["countries"],
        "includeUnknownCountriesAndRegions": bool(values["unknown"]),
    }


def _editor(
    admin: AdminPage, values: dict[str, Any], errors: dict[str, str], location: dict[str, Any] | None, status: int = 200
) -> Response:
    return admin.render(
        "portal/ca_location.html",
        status,
        location=location,
        values=values,
        errors=errors,
        country_choices=countries(admin.page.lang),
        notice=admin._("The location was saved.") if admin.page.request.query_params.get("done") == "saved" else None,
    )


@router.get("/{tenant}/admin/conditional-access/locations")
def location_list(admin: ConditionalAccessDep) -> Response:
    notice = admin._("The location was deleted.") if admin.page.request.query_params.get("done") == "deleted" else None
    return admin.render("portal/ca_locations.html", locations=service(admin).list_locations(), notice=notice)


@router.get("/{tenant}/admin/conditional-access/locations/new")
def new_location(admin: ConditionalAccessDep) -> Response:
    kind = "country" if admin.page.request.query_params.get("kind") == "country" else "ip"
    return _editor(admin, _values(None, kind), {}, None)


async def _save(admin: AdminPage, location: dict[str, Any] | None) -> Response:
    form = await admin.form()
    kind = _values(location, "")["kind"] if location else ("country" if form.get("kind") == "country" else "ip")
    values = _posted(form, kind)
    if not values["name"]:
        return _editor(admin, values, {"name": admin._("Enter a name.")}, location, 400)
    body = _body(values)
    try:
        if location is None:
            location = service(admin).create_location(body)
        else:
            body.pop("@odata.type")
            service(admin).update_location(location["id"], body)
    except DomainError as exc:
        return _editor(admin, values, admin.plain_errors(exc, _FIELDS), location, 400)
    return admin.redirect(f"{BASE}/locations/{location['id']}", done="saved")


@router.post("/{tenant}/admin/conditional-access/locations/new")
async def create_location(admin: ConditionalAccessDep) -> Response:
    return await _save(admin, None)


@router.get("/{tenant}/admin/conditional-access/locations/{location_id}")
def edit_location(admin: ConditionalAccessDep, location_id: str) -> Response:
    location = _location(admin, location_id)
    return _editor(admin, _values(location, ""), {}, location)


@router.post("/{tenant}/admin/conditional-access/locations/{location_id}")
async def update_location(admin: ConditionalAccessDep, location_id: str) -> Response:
    return await _save(admin, _location(admin, location_id))


@router.get("/{tenant}/admin/conditional-access/locations/{location_id}/delete")
def confirm_delete(admin: ConditionalAccessDep, location_id: str) -> Response:
    location = _location(admin, location_id)
    _ = admin._
    return confirm_page(
        admin,
        _("Delete this named location?"),
        location["displayName"],
        _("A location that a policy uses can't be deleted: remove it from the policy first."),
        f"{BASE}/locations/{location['id']}",
        (f"{BASE}/locations", _("Named locations")),
    )


@router.post("/{tenant}/admin/conditional-access/locations/{location_id}/delete")
async def delete_location(admin: ConditionalAccessDep, location_id: str) -> Response:
    form = await admin.form()
    location = _location(admin, location_id)
    if form.get("confirm") != "yes":
        return admin.redirect(f"{BASE}/locations/{location['id']}")
    try:
        service(admin).delete_location(location["id"])
    except NotFoundError:
        return admin.not_found()
    except DomainError as exc:
        return _editor(admin, _values(location, ""), {"_form": admin.plain(exc)}, location, 400)
    return admin.redirect(f"{BASE}/locations", done="deleted")
