"""Enterprise applications (Global Administrators): create an app (registration + service principal + user roles,
one transaction), its properties (enabled, assignment required, visible to users in My Apps, sign-on and logout
URLs; the logo is ``app_logo``), delete it (after a confirmation), assign users and groups with a role, remove
assignments. The Single sign-on and Provisioning screens hang off an app's page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.domain.app_registration import HIDE_APP
from hospes.domain.errors import DomainError, NotFoundError
from hospes.services.app_logos import AppLogos
from hospes.services.directory_views import AppDetail, user_roles
from hospes.web.portal.access import AdminPage, page_number
from hospes.web.portal.app_forms import reason_of
from hospes.web.portal.deps import AppManagerDep, AppsDep
from hospes.web.portal.pickers import pick_user_or_group

router = APIRouter(include_in_schema=False)


@router.get("/{tenant}/admin/apps")
def app_list(request: Request, admin: AppsDep) -> Response:
    search = request.query_params.get("q", "")[:256]
    listing = admin.queries.apps(search=search, page=page_number(request))

    def params(page: int) -> str:
        return urlencode({"q": search, "page": page})

    notice = admin._("The application was deleted.") if request.query_params.get("done") == "deleted" else None
    return admin.render("portal/apps.html", listing=listing, search=search, params=params, notice=notice)


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


def app_page(admin: AdminPage, detail: AppDetail, status: int = 200, **extra: object) -> Response:
    notices = {
        "created": admin._("The application was created."),
        "assigned": admin._("Assigned."),
        "removed": admin._("Assignment removed."),
        "saved": admin._("The properties were saved."),
        "logo": admin._("The logo was saved."),
        "logo-removed": admin._("The logo was removed."),
    }
    sp = detail.sp
    properties = {
        "enabled": "on" if sp.account_enabled else "",
        "assignment_required": "on" if sp.app_role_assignment_required else "",
        "visible": "" if HIDE_APP in (sp.tags or []) else "on",
        "login_url": sp.login_url or "",
        "logout_url": sp.logout_url or "",
    }
    context: dict[str, object] = {
        "notice": notices.get(admin.page.request.query_params.get("done", "")),
        "errors": {},
        "values": {},
        "roles": user_roles(detail.roles),
        "provisioning_available": True,
        "properties": properties,
        "logo": AppLogos(admin.sessions, admin.principal).address(sp.application_id) if sp.application_id else None,
    }
    context.update(extra)
    return admin.render("portal/app.html", status, d=detail, **context)


@router.get("/{tenant}/admin/apps/{sp_id}")
def app_detail(admin: AppManagerDep, sp_id: str) -> Response:
    return app_page(admin, admin.app(sp_id))


@router.post("/{tenant}/admin/apps/{sp_id}/assign")
async def assign(admin: AppManagerDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    form = await admin.form()
    _ = admin._
    key = form.get("principal").strip()[:256]
    role_id = form.get("role")
    values = {"principal": key, "role": role_id}
    principal_id, error = pick_user_or_group(admin, key)
    if principal_id is None:
        return app_page(admin, detail, 400, errors={"principal": error or ""}, values=values)
    if role_id not in {r["id"] for r in user_roles(detail.roles)}:
        return app_page(admin, detail, 400, errors={"role": _("Choose a role.")}, values=values)
    try:
        admin.apps.assign(principal_id, detail.sp.id, role_id)
    except DomainError as exc:
        field = "role" if exc.target == "appRoleId" else "principal"
        return app_page(admin, detail, 400, errors={field: exc.message}, values=values)
    return admin.redirect(f"/apps/{detail.sp.id}", done="assigned")


@router.post("/{tenant}/admin/apps/{sp_id}/assignments/{assignment_id}/remove")
async def unassign(admin: AppManagerDep, sp_id: str, assignment_id: str) -> Response:
    detail = admin.app(sp_id)
    await admin.form()
    try:
        admin.apps.unassign(assignment_id[:64], resource_id=detail.sp.id)
    except NotFoundError:
        return admin.not_found()
    except DomainError as exc:
        return app_page(admin, detail, 400, errors={"_form": exc.message})
    return admin.redirect(f"/apps/{detail.sp.id}", done="removed")


_PROPERTY_FIELDS = {"loginUrl": "login_url", "logoutUrl": "logout_url"}


@router.post("/{tenant}/admin/apps/{sp_id}/properties")
async def save_properties(admin: AppsDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    form = await admin.form()
    values = {name: form.get(name).strip() for name in ("login_url", "logout_url")}
    flags = {name: form.flag(name) for name in ("enabled", "assignment_required", "visible")}
    tags = [t for t in (detail.sp.tags or []) if t != HIDE_APP] + ([] if flags["visible"] else [HIDE_APP])
    try:
        admin.apps.update_sp(
            detail.sp.id,
            {
                "account_enabled": flags["enabled"],
                "app_role_assignment_required": flags["assignment_required"],
                "tags": tags,
                "login_url": values["login_url"] or None,
                "logout_url": values["logout_url"] or None,
            },
        )
    except DomainError as exc:
        shown = {**values, **{k: "on" if v else "" for k, v in flags.items()}}
        errors = {_PROPERTY_FIELDS.get(exc.target or "", "_form"): reason_of(admin, exc)}
        return app_page(admin, detail, 400, properties=shown, errors=errors)
    return admin.redirect(f"/apps/{detail.sp.id}", done="saved")


@router.get("/{tenant}/admin/apps/{sp_id}/delete")
def delete_confirm(admin: AppsDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    _ = admin._
    return admin.render(
        "portal/app_confirm.html",
        title=_("Delete enterprise application"),
        subject=detail.sp.display_name,
        consequence=_(
            "Nobody can sign in to it any more; its assignments, provisioning and signing certificates are deleted. "
            "The app registration stays, so the app can be added again. This cannot be undone."
        ),
        action=f"{admin.admin}/apps/{detail.sp.id}/delete",
        back=f"{admin.admin}/apps/{detail.sp.id}",
        crumbs=[(f"{admin.admin}/apps", _("Enterprise applications"))],
        button=_("Delete"),
    )


@router.post("/{tenant}/admin/apps/{sp_id}/delete")
async def delete(admin: AppsDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    form = await admin.form()
    if form.get("confirm") != "yes":
        return admin.redirect(f"/apps/{detail.sp.id}/delete")
    try:
        admin.apps.delete_sp(detail.sp.id)
    except NotFoundError:
        return admin.not_found()
    except DomainError as exc:
        return app_page(admin, detail, 400, errors={"_form": reason_of(admin, exc)})
    return admin.redirect("/apps", done="deleted")
