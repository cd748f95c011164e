"""Enterprise applications (Global Administrators): create an app (registration + service principal + user roles,
one transaction), assign users and groups with a role, remove assignments. The Provisioning screen hangs off an
app's page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.domain.errors import DomainError, NotFoundError
from hospes.services.directory_views import AppDetail, user_roles
from hospes.web.portal.access import AdminPage, page_number
from hospes.web.portal.deps import AppsDep

router = APIRouter(include_in_schema=False)


@router.get("/{tenant}/admin/apps")
def app_list(request: Request, admin: AppsDep) -> Response:
    search = request.query_params.get("q", "")[:256]
    listing = admin.queries.apps(search=search, page=page_number(request))

    def params(page: int) -> str:
        return urlencode({"q": search, "page": page})

    return admin.render("portal/apps.html", listing=listing, search=search, params=params)


@router.get("/{tenant}/admin/apps/new")
def new_app_form(admin: AppsDep) -> Response:
    return admin.render("portal/app_new.html", values={}, errors={})


@router.post("/{tenant}/admin/apps/new")
async def new_app_submit(admin: AppsDep) -> Response:
    form = await admin.form()
    values = {"name": form.get("name").strip(), "roles": form.get("roles")}
    roles = [line.strip() for line in values["roles"].splitlines() if line.strip()]
    try:
        sp = admin.apps.create_enterprise_app(values["name"], roles)
    except DomainError as exc:
        field = {"displayName": "name", "appRoles": "roles"}.get(exc.target or "", "_form")
        return admin.render("portal/app_new.html", 400, values=values, errors={field: exc.message})
    return admin.redirect(f"/apps/{sp.id}", done="created")


def _app_page(admin: AdminPage, detail: AppDetail, status: int = 200, **extra: object) -> Response:
    notices = {
        "created": admin._("The application was created."),
        "assigned": admin._("Assigned."),
        "removed": admin._("Assignment removed."),
    }
    context: dict[str, object] = {
        "notice": notices.get(admin.page.request.query_params.get("done", "")),
        "errors": {},
        "values": {},
        "roles": user_roles(detail.roles),
        "provisioning_available": True,
    }
    context.update(extra)
    return admin.render("portal/app.html", status, d=detail, **context)


@router.get("/{tenant}/admin/apps/{sp_id}")
def app_detail(admin: AppsDep, sp_id: str) -> Response:
    return _app_page(admin, admin.app(sp_id))


@router.post("/{tenant}/admin/apps/{sp_id}/assign")
async def assign(admin: AppsDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    form = await admin.form()
    _ = admin._
    key = form.get("principal").strip()[:256]
    role_id = form.get("role")
    values = {"principal": key, "role": role_id}
    principal_id: str | None = None
    user = admin.queries.find_user(key)
    if user is not None:
        principal_id = user.id
    else:
        group = admin.queries.find_group(key)
        principal_id = group.id if group is not None else None
    if principal_id is None:
        errors = {"principal": _("No user (sign-in name or email) or group (exact name) matches.")}
        return _app_page(admin, detail, 400, errors=errors, values=values)
    if role_id not in {r["id"] for r in user_roles(detail.roles)}:
        return _app_page(admin, detail, 400, errors={"role": _("Choose a role.")}, values=values)
    try:
        admin.apps.assign(principal_id, detail.sp.id, role_id)
    except DomainError as exc:
        field = "role" if exc.target == "appRoleId" else "principal"
        return _app_page(admin, detail, 400, errors={field: exc.message}, values=values)
    return admin.redirect(f"/apps/{detail.sp.id}", done="assigned")


@router.post("/{tenant}/admin/apps/{sp_id}/assignments/{assignment_id}/remove")
async def unassign(admin: AppsDep, sp_id: str, assignment_id: str) -> Response:
    detail = admin.app(sp_id)
    await admin.form()
    try:
        admin.apps.unassign(assignment_id[:64], resource_id=detail.sp.id)
    except NotFoundError:
        return admin.not_found()
    except DomainError as exc:
        return _app_page(admin, detail, 400, errors={"_form": exc.message})
    return admin.redirect(f"/apps/{detail.sp.id}", done="removed")
