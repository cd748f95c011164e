"""Groups: list, create, members and owners. Administrators (Global, User) manage every group; a group's owners
manage their own group's guests: they may add or remove guest users as members and invite
new guests straight into the group, but not add members of the organization or change owners."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.domain.errors import DomainError, NotFoundError
from hospes.services.directory_views import GroupDetail
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, page_number
from hospes.web.portal.deps import GroupAdminDep, GroupManagerDep, GroupsDep

router = APIRouter(include_in_schema=False)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _nickname(name: str) -> str:
    alias = re.sub(r"[^A-Za-z0-9]", "", name)[:48]
    return alias or f"group{secrets.token_hex(4)}"


@router.get("/{tenant}/admin/groups")
def group_list(request: Request, admin: GroupsDep) -> Response:
    search = request.query_params.get("q", "")[:256]
    only = None if admin.access.manages_users else admin.access.owned_groups
    listing = admin.queries.groups(search=search, only=only, page=page_number(request))

    def params(page: int) -> str:
        return urlencode({"q": search, "page": page})

    return admin.render("portal/groups.html", listing=listing, search=search, params=params)


@router.get("/{tenant}/admin/groups/new")
def new_group_form(admin: GroupAdminDep) -> Response:
    return admin.render("portal/group_new.html", values={"owner_me": "on"}, errors={})


@router.post("/{tenant}/admin/groups/new")
async def new_group_submit(admin: GroupAdminDep) -> Response:
    form = await admin.form()
    _ = admin._
    values = {"name": form.get("name").strip(), "description": form.get("description").strip()}
    values["owner_me"] = "on" if form.flag("owner_me") else ""
    errors: dict[str, str] = {}
    if not values["name"] or len(values["name"]) > 256:
        errors["name"] = _("Enter a name of at most 256 characters.")
    if len(values["description"]) > 1024:
        errors["description"] = _("At most %(num)d characters.") % {"num": 1024}
    if errors:
        return admin.render("portal/group_new.html", 400, values=values, errors=errors)
    body = {
        "display_name": values["name"],
        "description": values["description"] or None,
        "mail_nickname": _nickname(values["name"]),
        "mail_enabled": False,
        "security_enabled": True,
    }
    owners = [admin.principal.id] if values["owner_me"] else []
    try:
        group = admin.groups.create(body, [], owners)
    except DomainError as exc:
        return admin.render("portal/group_new.html", 400, values=values, errors={"_form": exc.message})
    return admin.redirect(f"/groups/{group.id}", done="created")


def _group(admin: AdminPage, group_id: str) -> GroupDetail:
    gid = group_id.lower()[:64]
    if not _GUID.match(gid):
        raise PageExit(admin.not_found())
    try:
        return admin.queries.group(gid)
    except NotFoundError:
        raise PageExit(admin.not_found()) from None


def _group_page(admin: AdminPage, detail: GroupDetail, status: int = 200, **extra: object) -> Response:
    notices = {
        "created": admin._("The group was created."),
        "added": admin._("Added."),
        "removed": admin._("Removed."),
    }
    done = admin.page.request.query_params.get("done", "")
    context: dict[str, object] = {"notice": notices.get(done), "errors": {}, "values": {}}
    context.update(extra)
    return admin.render("portal/group.html", status, d=detail, **context)


@router.get("/{tenant}/admin/groups/{group_id}")
def group_detail(admin: GroupManagerDep, group_id: str) -> Response:
    return _group_page(admin, _group(admin, group_id))


@router.post("/{tenant}/admin/groups/{group_id}/{relation}/add")
async def add_reference(admin: GroupManagerDep, group_id: str, relation: str) -> Response:
    detail = _group(admin, group_id)
    if relation not in ("members", "owners") or (relation == "owners" and not admin.access.manages_users):
        return admin.forbidden()
    form = await admin.form()
    _ = admin._
    field = "member" if relation == "members" else "owner"
    key = form.get(field).strip()[:256]
    user = admin.queries.find_user(key)
    error = None
    if user is None:
        error = _("No user with this sign-in name or email.")
    elif not admin.access.manages_users and user.user_type != "Guest":
        error = _("As a group owner you can add guest users only.")
    if error is None and user is not None:
        try:
            admin.groups.add_reference(detail.group.id, field, user.id)
        except DomainError as exc:
            error = exc.message
    if error is not None:
        return _group_page(admin, detail, 400, errors={field: error}, values={field: key})
    return admin.redirect(f"/groups/{detail.group.id}", done="added")


@router.post("/{tenant}/admin/groups/{group_id}/{relation}/{object_id}/remove")
async def remove_reference(admin: GroupManagerDep, group_id: str, relation: str, object_id: str) -> Response:
    detail = _group(admin, group_id)
    if relation not in ("members", "owners") or (relation == "owners" and not admin.access.manages_users):
        return admin.forbidden()
    await admin.form()
    field = "member" if relation == "members" else "owner"
    items = detail.members if relation == "members" else detail.owners
    target = next((obj for _kind, obj in items if obj.id == object_id), None)
    if target is None:
        return admin.not_found()
    if not admin.access.manages_users and getattr(target, "user_type", None) != "Guest":
        return admin.forbidden()
    try:
        admin.groups.remove_reference(detail.group.id, field, target.id)
    except DomainError as exc:
        return _group_page(admin, detail, 400, errors={field: exc.message})
    return admin.redirect(f"/groups/{detail.group.id}", done="removed")
