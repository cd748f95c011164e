"""A user's directory roles, assigned and removed from the user's page by a Global Administrator (as in Entra, only
a privileged administrator assigns roles): one service call each, audited as "Add member to role" and "Remove
member from role". Nobody removes their own Global Administrator role, so a tenant cannot lose its last one by a
stray click."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hospes.domain.errors import ConflictError, DomainError, NotFoundError
from hospes.domain.principals import DIRECTORY_ROLES, GLOBAL_ADMINISTRATOR
from hospes.services.user_views import UserDetail
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage
from hospes.web.portal.deps import RolesDep

router = APIRouter(include_in_schema=False)


def _live_user(admin: AdminPage, user_id: str) -> UserDetail:
    try:
        return admin.queries.user(user_id[:64])
    except NotFoundError:
        raise PageExit(admin.not_found()) from None


def _refused(admin: AdminPage, detail: UserDetail, message: str) -> Response:
    return admin.render("portal/user.html", 400, d=detail, notice=None, error=None, role_error=message)


@router.post("/{tenant}/admin/users/{user_id}/roles/add")
async def add_role(admin: RolesDep, user_id: str) -> Response:
    form = await admin.form()
    detail = _live_user(admin, user_id)
    role = form.get("role")
    if role not in DIRECTORY_ROLES:
        return _refused(admin, detail, admin._("Choose a role from the list."))
    try:
        admin.directory_roles.add_member(role, detail.user.id)
    except ConflictError:
        return _refused(admin, detail, admin._("The user already has this role."))
    except DomainError as exc:
        return _refused(admin, detail, admin.plain(exc))
    return admin.redirect(f"/users/{detail.user.id}", done="role-added")


@router.post("/{tenant}/admin/users/{user_id}/roles/{role_id}/remove")
async def remove_role(admin: RolesDep, user_id: str, role_id: str) -> Response:
    await admin.form()
    detail = _live_user(admin, user_id)
    if role_id not in detail.role_ids:
        return admin.not_found()
    if role_id == GLOBAL_ADMINISTRATOR and detail.user.id == admin.principal.id:
        return _refused(admin, detail, admin._("You can't remove your own Global Administrator role."))
    try:
        admin.directory_roles.remove_member(role_id, detail.user.id)
    except DomainError as exc:
        return _refused(admin, detail, admin.plain(exc))
    return admin.redirect(f"/users/{detail.user.id}", done="role-removed")
