"""App registrations (Global Administrators): the list, a new registration, and per app its Authentication
(redirect URIs per platform, front-channel logout URL, ID tokens, public client flows), Certificates & secrets
(upload a certificate, remove certificates and secrets), Token configuration (the groups claim), API permissions
and Properties (name, description, delete after a confirmation). Every form redirects after it saves (PRG)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.domain.errors import DomainError, NotFoundError
from hospes.services.app_credentials import AppCredentialService
from hospes.services.app_permissions import GRAPH_DELEGATED_PERMISSIONS, AppPermissions
from hospes.services.app_views import AppView, AppViews
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, page_number
from hospes.web.portal.app_forms import certificate_upload, reason_of
from hospes.web.portal.deps import RegistrationsDep
from hospes.web.portal.results import gone, show_later, take

router = APIRouter(include_in_schema=False)
MAX_LINES = 300
GROUP_CLAIMS = ("None", "SecurityGroup", "DirectoryRole", "ApplicationGroup", "All")


def _views(admin: AdminPage) -> AppViews:
    return AppViews(admin.sessions, admin.principal)


def _credentials(admin: AdminPage) -> AppCredentialService:
    return AppCredentialService(admin.sessions, admin.principal, box=admin.runtime.box)


def _view(admin: AdminPage, app_id: str) -> AppView:
    try:
        return _views(admin).application(app_id[:64])
    except NotFoundError:
        raise PageExit(admin.not_found()) from None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()][:MAX_LINES]


def _list_page(admin: AdminPage, search: str, page: int, status: int = 200, **context: object) -> Response:
    listing = _views(admin).registrations(search=search, page=page)

    def params(number: int) -> str:
        return urlencode({"q": search, "page": number})

    context.setdefault("values", {})
    context.setdefault("errors", {})
    context.setdefault("notice", None)
    return admin.render("portal/registrations.html", status, listing=listing, search=search, params=params, **context)


@router.get("/{tenant}/admin/registrations")
def registrations(request: Request, admin: RegistrationsDep) -> Response:
    search = request.query_params.get("q", "")[:256]
    notice = admin._("The app registration was deleted.") if request.query_params.get("done") == "deleted" else None
    return _list_page(admin, search, page_number(request), notice=notice)


@router.post("/{tenant}/admin/registrations/new")
async def registration_new(admin: RegistrationsDep) -> Response:
    form = await admin.form()
    name = form.get("name").strip()
    if not name or len(name) > 256:
        errors = {"name": admin._("Enter a name of 1 to 256 characters.")}
        return _list_page(admin, "", 1, 400, values={"name": name}, errors=errors)
    app = admin.apps.create_app({"display_name": name}, {})
    return admin.redirect(f"/registrations/{app.id}", done="created")


def _page(
    admin: AdminPage,
    view: AppView,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    _ = admin._
    app = view.app
    notices = {
        "created": _("The app registration was created."),
        "properties": _("The properties were saved."),
        "authentication": _("The authentication settings were saved."),
        "token": _("The token configuration was saved."),
        "cert-added": _("The certificate was uploaded."),
        "cert-removed": _("The certificate was removed."),
        "secret-removed": _("The client secret was removed."),
        "permissions": _("The API permissions were saved."),
        "consent": _("Admin consent was granted for %(tenant)s.") % {"tenant": admin.page.tenant.name},
    }
    defaults = {
        "name": app.display_name,
        "description": app.description or "",
        "web": "\n".join(app.web_redirect_uris),
        "spa": "\n".join(app.spa_redirect_uris),
        "public": "\n".join(app.public_client_redirect_uris),
        "logout_url": app.logout_url or "",
        "id_tokens": "on" if app.id_token_issuance else "",
        "public_flows": "on" if app.is_fallback_public_client else "",
        "groups": app.group_membership_claims or "None",
    }
    enterprise = _views(admin).service_principal_of(app.id)
    return admin.render(
        "portal/registration.html",
        status,
        v=view,
        enterprise=enterprise,
        notice=notices.get(admin.page.request.query_params.get("done", "")),
        errors=errors or {},
        values={**defaults, **(values or {})},
        group_claims=GROUP_CLAIMS,
        permissions=AppPermissions(admin.sessions, admin.principal).permissions(app.id),
        offered=GRAPH_DELEGATED_PERMISSIONS,
    )


@router.get("/{tenant}/admin/registrations/{app_id}")
def registration(admin: RegistrationsDep, app_id: str) -> Response:
    return _page(admin, _view(admin, app_id))


@router.post("/{tenant}/admin/registrations/{app_id}/properties")
async def save_properties(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    form = await admin.form()
    values = {"name": form.get("name").strip(), "description": form.get("description").strip()}
    errors: dict[str, str] = {}
    if not values["name"] or len(values["name"]) > 256:
        errors["name"] = admin._("Enter a name of 1 to 256 characters.")
    if len(values["description"]) > 1024:
        errors["description"] = admin._("The description can be at most 1,024 characters.")
    if not errors:
        try:
            admin.apps.update_app(
                view.app.id, {"display_name": values["name"], "description": values["description"] or None}
            )
        except DomainError as exc:
            errors["_form"] = reason_of(admin, exc)
    if errors:
        return _page(admin, view, 400, errors=errors, values=values)
    return admin.redirect(f"/registrations/{view.app.id}", done="properties")


_AUTH_FIELDS = {
    "web.redirectUris": "web",
    "spa.redirectUris": "spa",
    "publicClient.redirectUris": "public",
    "web.logoutUrl": "logout_url",
}


@router.post("/{tenant}/admin/registrations/{app_id}/authentication")
async def save_authentication(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    form = await admin.form()
    values = {name: form.get(name).strip() for name in ("web", "spa", "public", "logout_url")}
    values.update({name: "on" if form.flag(name) else "" for name in ("id_tokens", "public_flows")})
    extras = {
        "web": {
            "redirectUris": _lines(values["web"]),
            "logoutUrl": values["logout_url"] or None,
            "implicitGrantSettings": {"enableIdTokenIssuance": bool(values["id_tokens"])},
        },
        "spa": {"redirectUris": _lines(values["spa"])},
        "publicClient": {"redirectUris": _lines(values["public"])},
    }
    try:
        admin.apps.update_app(view.app.id, {"is_fallback_public_client": bool(values["public_flows"])}, extras)
    except DomainError as exc:
        errors = {_AUTH_FIELDS.get(exc.target or "", "_form"): reason_of(admin, exc)}
        return _page(admin, view, 400, errors=errors, values=values)
    return admin.redirect(f"/registrations/{view.app.id}", done="authentication")


@router.post("/{tenant}/admin/registrations/{app_id}/token")
async def save_token_configuration(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    form = await admin.form()
    choice = form.get("groups")
    if choice not in GROUP_CLAIMS:
        return _page(admin, view, 400, errors={"groups": admin._("Choose one of the options offered.")})
    admin.apps.update_app(view.app.id, {"group_membership_claims": None if choice == "None" else choice})
    return admin.redirect(f"/registrations/{view.app.id}", done="token")


@router.post("/{tenant}/admin/registrations/{app_id}/certificates")
async def upload_certificate(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    data, description = await certificate_upload(admin)
    if not data.strip():
        error = admin._("Choose a certificate file (.cer, .crt or .pem) of at most 64 KB, or paste one.")
        return _page(admin, view, 400, errors={"certificate": error})
    try:
        _credentials(admin).upload_app_certificate(view.app.id, data, description or None)
    except DomainError as exc:
        return _page(admin, view, 400, errors={"certificate": reason_of(admin, exc)})
    return admin.redirect(f"/registrations/{view.app.id}", done="cert-added")


def _confirm(
    admin: AdminPage, view: AppView, title: str, subject: str, consequence: str, action: str, button: str
) -> Response:
    return admin.render(
        "portal/app_confirm.html",
        title=title,
        subject=subject,
        consequence=consequence,
        action=f"{admin.admin}/registrations/{view.app.id}/{action}",
        back=f"{admin.admin}/registrations/{view.app.id}",
        crumbs=[
            (f"{admin.admin}/registrations", admin._("App registrations")),
            (f"{admin.admin}/registrations/{view.app.id}", view.app.display_name),
        ],
        button=button,
    )


@router.get("/{tenant}/admin/registrations/{app_id}/certificates/{key_id}/remove")
def remove_certificate_confirm(admin: RegistrationsDep, app_id: str, key_id: str) -> Response:
    view = _view(admin, app_id)
    row = next((c for c in view.certificates if c.key_id == key_id), None)
    if row is None:
        return admin.not_found()
    _ = admin._
    return _confirm(
        admin,
        view,
        _("Remove certificate"),
        f"{row.display_name} ({row.thumbprint})",
        _("The app can no longer sign in with this certificate. This cannot be undone."),
        f"certificates/{row.key_id}/remove",
        _("Remove"),
    )


@router.post("/{tenant}/admin/registrations/{app_id}/certificates/{key_id}/remove")
async def remove_certificate(admin: RegistrationsDep, app_id: str, key_id: str) -> Response:
    view = _view(admin, app_id)
    await admin.form()
    try:
        _credentials(admin).remove_app_certificate(view.app.id, key_id[:64])
    except NotFoundError:
        return admin.not_found()
    return admin.redirect(f"/registrations/{view.app.id}", done="cert-removed")


SECRET_LIFETIMES = {"180": 180, "365": 365, "730": 730}


@router.post("/{tenant}/admin/registrations/{app_id}/secrets/new")
async def new_secret(admin: RegistrationsDep, app_id: str) -> Response:
    """A client secret, shown once on the page the POST redirects to (never in an address, never again)."""
    view = _view(admin, app_id)
    form = await admin.form()
    description = form.get("secret_description").strip()
    days = SECRET_LIFETIMES.get(form.get("lifetime"))
    errors: dict[str, str] = {}
    if len(description) > 90:
        errors["secret_description"] = admin._("The description can be at most 90 characters.")
    if days is None:
        errors["lifetime"] = admin._("Choose one of the options offered.")
    if errors or days is None:
        return _page(admin, view, 400, errors=errors, values={"secret_description": description})
    cred, text = admin.apps.add_password(view.app.id, description or None, days)
    outcome = {"value": text, "keyId": cred.key_id, "description": cred.display_name or "", "end": str(cred.end_at)}
    return show_later(admin, "client-secret", f"/registrations/{view.app.id}/secrets/done", outcome)


@router.get("/{tenant}/admin/registrations/{app_id}/secrets/done")
def new_secret_done(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    outcome = take(admin, "client-secret")
    if outcome is None:
        return gone(admin)
    response = admin.render("portal/registration_secret.html", app=view.app, secret=outcome)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/{tenant}/admin/registrations/{app_id}/secrets/{key_id}/remove")
def remove_secret_confirm(admin: RegistrationsDep, app_id: str, key_id: str) -> Response:
    view = _view(admin, app_id)
    row = next((s for s in view.secrets if s.key_id == key_id), None)
    if row is None:
        return admin.not_found()
    _ = admin._
    return _confirm(
        admin,
        view,
        _("Remove client secret"),
        f"{row.display_name or ''} ({row.hint}…)",
        _("The app can no longer sign in with this secret. This cannot be undone."),
        f"secrets/{row.key_id}/remove",
        _("Remove"),
    )


@router.post("/{tenant}/admin/registrations/{app_id}/secrets/{key_id}/remove")
async def remove_secret(admin: RegistrationsDep, app_id: str, key_id: str) -> Response:
    view = _view(admin, app_id)
    await admin.form()
    try:
        admin.apps.remove_password(view.app.id, key_id[:64])
    except NotFoundError:
        return admin.not_found()
    return admin.redirect(f"/registrations/{view.app.id}", done="secret-removed")


@router.get("/{tenant}/admin/registrations/{app_id}/delete")
def delete_confirm(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    _ = admin._
    return _confirm(
        admin,
        view,
        _("Delete app registration"),
        view.app.display_name,
        _(
            "The app can no longer sign anyone in or call the API: its enterprise application, assignments, "
            "secrets and certificates are deleted too. This cannot be undone."
        ),
        "delete",
        _("Delete"),
    )


@router.post("/{tenant}/admin/registrations/{app_id}/delete")
async def delete(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    form = await admin.form()
    if form.get("confirm") != "yes":
        return admin.redirect(f"/registrations/{view.app.id}/delete")
    try:
        admin.apps.delete_app(view.app.id)
    except NotFoundError:
        return admin.not_found()
    return admin.redirect("/registrations", done="deleted")


@router.post("/{tenant}/admin/registrations/{app_id}/permissions")
async def save_permissions(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    form = await admin.form()
    try:
        AppPermissions(admin.sessions, admin.principal).set_graph_permissions(view.app.id, form.all("permission"))
    except DomainError as exc:
        return _page(admin, view, 400, errors={"permissions": reason_of(admin, exc)})
    return admin.redirect(f"/registrations/{view.app.id}", done="permissions")


@router.post("/{tenant}/admin/registrations/{app_id}/consent")
async def grant_consent(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    await admin.form()
    try:
        AppPermissions(admin.sessions, admin.principal).grant_admin_consent(view.app.id)
    except DomainError as exc:
        return _page(admin, view, 400, errors={"permissions": reason_of(admin, exc)})
    return admin.redirect(f"/registrations/{view.app.id}", done="consent")


@router.get("/{tenant}/admin/registrations/{app_id}/consent/revoke")
def revoke_consent_confirm(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    _ = admin._
    return _confirm(
        admin,
        view,
        _("Revoke admin consent"),
        view.app.display_name,
        _("Users will be asked to consent again, and guests cannot use the app until an administrator consents."),
        "consent/revoke",
        _("Revoke"),
    )


@router.post("/{tenant}/admin/registrations/{app_id}/consent/revoke")
async def revoke_consent(admin: RegistrationsDep, app_id: str) -> Response:
    view = _view(admin, app_id)
    await admin.form()
    try:
        AppPermissions(admin.sessions, admin.principal).revoke_admin_consent(view.app.id)
    except NotFoundError:
        return admin.not_found()
    return admin.redirect(f"/registrations/{view.app.id}", done="permissions")
