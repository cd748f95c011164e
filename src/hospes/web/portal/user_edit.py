"""One user's properties and sponsors: the edit form (every problem shown under its field, in plain words, and the
form keeps what was typed), a guest converted to a member and back, sponsors added and removed.

Each submit is one service call (one transaction); an administrator of users may edit anyone but a Global
Administrator, whom only another Global Administrator may change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from hospes.domain.errors import ConflictError, DomainError, NotFoundError
from hospes.domain.principals import GLOBAL_ADMINISTRATOR
from hospes.services.user_views import UserDetail
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, countries
from hospes.web.portal.deps import UserAdminDep
from hospes.web.portal.pickers import pick_user_or_group

router = APIRouter(include_in_schema=False)

# form field -> the most characters the directory keeps
TEXT_FIELDS = {
    "display_name": 256,
    "given_name": 64,
    "surname": 64,
    "job_title": 128,
    "department": 64,
    "company_name": 64,
    "office_location": 128,
    "mobile_phone": 64,
    "employee_id": 16,
}


def _load(admin: AdminPage, user_id: str) -> UserDetail:
    try:
        detail = admin.queries.user(user_id[:64])
    except NotFoundError:
        raise PageExit(admin.not_found()) from None
    if not admin.access.is_global_admin and GLOBAL_ADMINISTRATOR in detail.role_ids:
        raise PageExit(admin.forbidden())
    return detail


def _values(detail: UserDetail) -> dict[str, Any]:
    user = detail.user
    values: dict[str, Any] = {key: getattr(user, key) or "" for key in TEXT_FIELDS}
    values["usage_location"] = user.usage_location or ""
    values["account_enabled"] = "on" if user.account_enabled else ""
    return values


def _edit_page(admin: AdminPage, detail: UserDetail, values: dict[str, Any], errors: dict[str, str]) -> Response:
    return admin.render(
        "portal/user_edit.html",
        400 if errors else 200,
        d=detail,
        values=values,
        errors=errors,
        countries=countries(admin.page.lang),
    )


@router.get("/{tenant}/admin/users/{user_id}/edit")
def edit_form(admin: UserAdminDep, user_id: str) -> Response:
    detail = _load(admin, user_id)
    return _edit_page(admin, detail, _values(detail), {})


@router.post("/{tenant}/admin/users/{user_id}/edit")
async def edit_submit(admin: UserAdminDep, user_id: str) -> Response:
    form = await admin.form()
    detail = _load(admin, user_id)
    _ = admin._
    values: dict[str, Any] = {key: form.get(key).strip() for key in TEXT_FIELDS}
    values["usage_location"] = form.get("usage_location").strip().upper()
    values["account_enabled"] = "on" if form.flag("account_enabled") else ""
    errors: dict[str, str] = {}
    if not values["display_name"]:
        errors["display_name"] = _("Enter a name.")
    for key, limit in TEXT_FIELDS.items():
        if len(values[key]) > limit:
            errors[key] = _("This is too long: at most %(num)d characters.") % {"num": limit}
    if values["usage_location"] and values["usage_location"] not in dict(countries("en")):
        errors["usage_location"] = _("Choose a country or region from the list.")
    if not values["account_enabled"] and detail.user.id == admin.principal.id:
        errors["account_enabled"] = _("You can't block your own sign-in.")
    if errors:
        return _edit_page(admin, detail, values, errors)
    changes: dict[str, Any] = {key: values[key] or None for key in TEXT_FIELDS}
    changes["display_name"] = values["display_name"]
    changes["usage_location"] = values["usage_location"] or None
    changes["account_enabled"] = bool(values["account_enabled"])
    try:
        admin.users.update(detail.user.id, changes)
    except DomainError as exc:
        return _edit_page(admin, detail, values, {"_form": admin.plain(exc)})
    return admin.redirect(f"/users/{detail.user.id}", done="saved")


@router.post("/{tenant}/admin/users/{user_id}/convert")
async def convert(admin: UserAdminDep, user_id: str) -> Response:
    """Guest to member or member to guest (the user type): the account, its sign-in and its access stay; what the
    directory lets it see follows the new type. Only after the confirmation page."""
    form = await admin.form()
    detail = _load(admin, user_id)
    if form.get("confirm") != "yes":
        return admin.redirect(f"/users/{detail.user.id}/convert")
    if detail.user.id == admin.principal.id:
        return admin.redirect(f"/users/{detail.user.id}", done="not-self")
    target = "Member" if detail.user.user_type == "Guest" else "Guest"
    try:
        admin.users.update(detail.user.id, {"user_type": target})
    except NotFoundError:  # deleted since the page was read
        return admin.not_found()
    return admin.redirect(f"/users/{detail.user.id}", done="to-member" if target == "Member" else "to-guest")


@router.post("/{tenant}/admin/users/{user_id}/sponsors/add")
async def add_sponsor(admin: UserAdminDep, user_id: str) -> Response:
    form = await admin.form()
    detail = _load(admin, user_id)
    _ = admin._
    typed = form.get("sponsor").strip()[:256]
    found, error = pick_user_or_group(admin, typed)
    if found is not None:
        try:
            admin.users.add_sponsor(detail.user.id, found)
        except ConflictError:
            error = _("This sponsor is already there.")
        except DomainError:
            error = (
                _("A user can't be their own sponsor.") if found == detail.user.id else _("Choose a user or a group.")
            )
    if error is not None:
        return admin.render(
            "portal/user.html", 400, d=detail, notice=None, error=None, sponsor_error=error, sponsor_value=typed
        )
    return admin.redirect(f"/users/{detail.user.id}", done="sponsor-added")


@router.post("/{tenant}/admin/users/{user_id}/sponsors/{sponsor_id}/remove")
async def remove_sponsor(admin: UserAdminDep, user_id: str, sponsor_id: str) -> Response:
    await admin.form()
    detail = _load(admin, user_id)
    if sponsor_id not in {sid for _kind, sid, _name in detail.sponsors}:
        return admin.not_found()
    try:
        admin.users.remove_sponsor(detail.user.id, sponsor_id)
    except NotFoundError:  # removed meanwhile, by another administrator
        return admin.not_found()
    return admin.redirect(f"/users/{detail.user.id}", done="sponsor-removed")
