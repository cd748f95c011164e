"""Groups: list, create (security or Microsoft 365), edit, delete (after a confirmation page), members and owners
chosen with a picker. Administrators (Global, User) manage every group; a group's owners manage their own group's
guests: they may add or remove guest users as members and invite new guests straight into the group, but not add
members of the organization, change owners, edit or delete the group."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.domain.errors import ConflictError, DomainError, NotFoundError
from hospes.services.directory_views import GroupDetail
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, page_number
from hospes.web.portal.deps import GroupAdminDep, GroupManagerDep, GroupsDep
from hospes.web.portal.pickers import resolve

router = APIRouter(include_in_schema=False)
GROUP_KINDS = ("security", "m365")
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

    notice = admin._("The group was deleted.") if request.query_params.get("done") == "deleted" else None
    return admin.render("portal/groups.html", listing=listing, search=search, params=params, notice=notice)


@router.get("/{tenant}/admin/groups/new")
def new_group_form(admin: GroupAdminDep) -> Response:
    return admin.render("portal/group_new.html", values={"owner_me": "on", "kind": "security"}, errors={})


@router.post("/{tenant}/admin/groups/new")
async def new_group_submit(admin: GroupAdminDep) -> Response:
    form = await admin.form()
    _ = admin._
    values = {"name": form.get("name").strip(), "description": form.get("description").strip()}
    values["owner_me"] = "on" if form.flag("owner_me") else ""
    values["kind"] = form.get("kind") or "security"
    errors = _check(admin, values)
    if values["kind"] not in GROUP_KINDS:
        errors["kind"] = _("Choose a group type.")
    if errors:
        return admin.render("portal/group_new.html", 400, values=values, errors=errors)
    nickname = _nickname(values["name"])
    unified = values["kind"] == "m365"
    body = {
        "display_name": values["name"],
        "description": values["description"] or None,
        "mail_nickname": nickname,
        "mail_enabled": unified,
        "security_enabled": not unified,
        "group_types": ["Unified"] if unified else [],
    }
    if unified:  # a Microsoft 365 group gets an address on the organization's default domain, as in Entra
        body["mail"] = f"{nickname}@{admin.organization.default_domain()}"
    owners = [admin.principal.id] if values["owner_me"] else []
    try:
        group = admin.groups.create(body, [], owners)
    except DomainError as exc:
        return admin.render("portal/group_new.html", 400, values=values, errors={"_form": admin.plain(exc)})
    return admin.redirect(f"/groups/{group.id}", done="created")


def _check(admin: AdminPage, values: dict[str, str]) -> dict[str, str]:
    _ = admin._
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = _("Enter a name.")
    elif len(values["name"]) > 256:
        errors["name"] = _("This is too long: at most %(num)d characters.") % {"num": 256}
    if len(values["description"]) > 1024:
        errors["description"] = _("This is too long: at most %(num)d characters.") % {"num": 1024}
    return errors


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
        "saved": admin._("The changes were saved."),
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
    # Owners are users; members of a security group may be groups too (a Microsoft 365 group holds users only).
    nested = field == "member" and admin.access.manages_users and "Unified" not in (detail.group.group_types or [])
    choice, error = resolve(admin, key, "principals" if nested else "users")
    if choice is None and not admin.access.manages_users:
        found = admin.queries.find_user(key)
        if found is not None and found.user_type != "Guest":
            error = _("As a group owner you can add guest users only.")
    if choice is not None:
        if choice.id == detail.group.id:
            error = _("A group can't be a member of itself.")
        else:
            try:
                admin.groups.add_reference(detail.group.id, field, choice.id)
            except ConflictError:
                error = _("Already in the group.") if field == "member" else _("Already an owner.")
            except DomainError as exc:
                error = admin.plain(exc)
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
        return _group_page(admin, detail, 400, errors={field: admin.plain(exc)})
    return admin.redirect(f"/groups/{detail.group.id}", done="removed")


@router.get("/{tenant}/admin/groups/{group_id}/edit")
def edit_form(admin: GroupAdminDep, group_id: str) -> Response:
    g = _group(admin, group_id).group
    values = {"name": g.display_name, "description": g.description or ""}
    return admin.render("portal/group_edit.html", g=g, values=values, errors={})


@router.post("/{tenant}/admin/groups/{group_id}/edit")
async def edit_submit(admin: GroupAdminDep, group_id: str) -> Response:
    form = await admin.form()
    g = _group(admin, group_id).group
    values = {"name": form.get("name").strip(), "description": form.get("description").strip()}
    errors = _check(admin, values)
    if not errors:
        try:
            admin.groups.update(
                g.id, {"display_name": values["name"], "description": values["description"] or None}, []
            )
        except DomainError as exc:
            errors = {"_form": admin.plain(exc)}
    if errors:
        return admin.render("portal/group_edit.html", 400, g=g, values=values, errors=errors)
    return admin.redirect(f"/groups/{g.id}", done="saved")


@router.get("/{tenant}/admin/groups/{group_id}/delete")
def confirm_delete(admin: GroupAdminDep, group_id: str) -> Response:
    detail = _group(admin, group_id)
    return admin.render("portal/group_delete.html", d=detail)


@router.post("/{tenant}/admin/groups/{group_id}/delete")
async def delete(admin: GroupAdminDep, group_id: str) -> Response:
    """Only with ``confirm=yes``, which the confirmation page sends; the group goes to the deleted items (its
    memberships kept, restorable for 30 days)."""
    form = await admin.form()
    detail = _group(admin, group_id)
    if form.get("confirm") != "yes":
        return admin.redirect(f"/groups/{detail.group.id}/delete")
    try:
        admin.groups.soft_delete(detail.group.id)
    except NotFoundError:
        return admin.not_found()
    return admin.redirect("/groups", done="deleted")
