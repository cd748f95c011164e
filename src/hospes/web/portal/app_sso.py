"""An enterprise application's "Single sign-on" screen (Global Administrators): the mode (SAML, OpenID Connect,
disabled); for SAML the basic configuration, the signing certificates (create, activate, download, remove), how
responses are signed, the NameID and its preview per guest, and what the service provider needs from us (the
federation metadata URL, the sign-in URL, our identifier). Every form redirects after it saves (PRG)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from starlette.responses import Response

from hospes.auth.certificates import pem_of
from hospes.domain.errors import DomainError, NotFoundError
from hospes.services.app_credentials import AppCredentialService
from hospes.services.app_sso import (
    ALGORITHMS,
    NAME_ID_FORMATS,
    NAME_ID_SOURCES,
    SIGNING_OPTIONS,
    SsoSettings,
    SsoView,
)
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage
from hospes.web.portal.app_forms import certificate_upload, reason_of
from hospes.web.portal.deps import AppsDep

router = APIRouter(include_in_schema=False)
MAX_LINES = 300


def _sso(admin: AdminPage) -> SsoSettings:
    return SsoSettings(admin.sessions, admin.principal)


def _credentials(admin: AdminPage) -> AppCredentialService:
    return AppCredentialService(admin.sessions, admin.principal, box=admin.runtime.box)


def _view(admin: AdminPage, sp_id: str) -> SsoView:
    try:
        return _sso(admin).view(sp_id[:64])
    except NotFoundError:
        raise PageExit(admin.not_found()) from None


def idp_urls(admin: AdminPage, view: SsoView) -> dict[str, str]:
    """What the service provider is told about us (Entra's "Set up {app}" panel)."""
    base = f"{admin.page.web.settings.public_url.rstrip('/')}/{admin.principal.tenant_id}"
    return {
        "metadata": f"{base}/federationmetadata/2007-06/federationmetadata.xml?appid={quote(view.sp.app_id)}",
        "login": f"{base}/saml2",
        "identifier": f"{base}/",
        "logout": f"{base}/saml2",
    }


def _page(
    admin: AdminPage,
    view: SsoView,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    _ = admin._
    notices = {
        "mode": _("The single sign-on mode was saved."),
        "basic": _("The basic SAML configuration was saved."),
        "signing": _("The signing options were saved."),
        "nameid": _("The NameID settings were saved."),
        "cert-new": _("A new signing certificate was created."),
        "cert-active": _("The signing certificate is now active."),
        "cert-removed": _("The signing certificate was removed."),
        "verification-added": _("The verification certificate was uploaded."),
        "verification-removed": _("The verification certificate was removed."),
        "verification": _("The verification setting was saved."),
    }
    search = admin.page.request.query_params.get("preview", "")[:256]
    preview = _sso(admin).name_id_preview(view.sp.id, search) if view.mode == "saml" else []
    defaults = {
        "identifiers": "\n".join(view.app.identifier_uris),
        "reply_urls": "\n".join(view.app.web_redirect_uris),
        "sign_on_url": view.sp.login_url or "",
        "relay_state": view.relay_state,
        "logout_url": view.sp.logout_url or view.app.logout_url or "",
    }
    return admin.render(
        "portal/app_sso.html",
        status,
        v=view,
        urls=idp_urls(admin, view),
        notice=notices.get(admin.page.request.query_params.get("done", "")),
        errors=errors or {},
        values={**defaults, **(values or {})},
        preview=preview,
        search=search,
        signing_options=SIGNING_OPTIONS,
        algorithms=ALGORITHMS,
        formats=NAME_ID_FORMATS,
        sources=NAME_ID_SOURCES,
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()][:MAX_LINES]


@router.get("/{tenant}/admin/apps/{sp_id}/sso")
def sso_page(admin: AppsDep, sp_id: str) -> Response:
    return _page(admin, _view(admin, sp_id))


@router.post("/{tenant}/admin/apps/{sp_id}/sso/mode")
async def sso_mode(admin: AppsDep, sp_id: str) -> Response:
    view = _view(admin, sp_id)
    form = await admin.form()
    try:
        _sso(admin).set_mode(view.sp.id, form.get("mode"))
    except DomainError:
        return _page(admin, view, 400, errors={"mode": admin._("Choose SAML, OpenID Connect or disabled.")})
    return admin.redirect(f"/apps/{view.sp.id}/sso", done="mode")


_BASIC_FIELDS = {
    "identifierUris": "identifiers",
    "web.redirectUris": "reply_urls",
    "web.logoutUrl": "logout_url",
    "logoutUrl": "logout_url",
    "loginUrl": "sign_on_url",
    "samlSingleSignOnSettings": "relay_state",
}


@router.post("/{tenant}/admin/apps/{sp_id}/sso/basic")
async def sso_basic(admin: AppsDep, sp_id: str) -> Response:
    view = _view(admin, sp_id)
    form = await admin.form()
    values = {name: form.get(name).strip() for name in ("identifiers", "reply_urls", "sign_on_url", "relay_state")}
    values["logout_url"] = form.get("logout_url").strip()
    errors: dict[str, str] = {}
    if not _lines(values["identifiers"]):
        errors["identifiers"] = admin._("Enter the identifier (entity ID) the service provider uses.")
    if not _lines(values["reply_urls"]):
        errors["reply_urls"] = admin._("Enter the reply URL (assertion consumer service URL).")
    if not errors:
        try:
            _sso(admin).save_basic_saml(
                view.sp.id,
                identifiers=_lines(values["identifiers"]),
                reply_urls=_lines(values["reply_urls"]),
                sign_on_url=values["sign_on_url"],
                relay_state=values["relay_state"],
                logout_url=values["logout_url"],
            )
        except DomainError as exc:
            errors[_BASIC_FIELDS.get(exc.target or "", "_form")] = reason_of(admin, exc)
    if errors:
        return _page(admin, view, 400, errors=errors, values=values)
    return admin.redirect(f"/apps/{view.sp.id}/sso", done="basic")


@router.post("/{tenant}/admin/apps/{sp_id}/sso/signing")
async def sso_signing(admin: AppsDep, sp_id: str) -> Response:
    view = _view(admin, sp_id)
    form = await admin.form()
    try:
        _sso(admin).save_saml_options(view.sp.id, signing=form.get("signing"), algorithm=form.get("algorithm"))
    except DomainError as exc:
        return _page(admin, view, 400, errors={exc.target or "signing": admin._("Choose one of the options offered.")})
    return admin.redirect(f"/apps/{view.sp.id}/sso", done="signing")


@router.post("/{tenant}/admin/apps/{sp_id}/sso/nameid")
async def sso_name_id(admin: AppsDep, sp_id: str) -> Response:
    view = _view(admin, sp_id)
    form = await admin.form()
    try:
        _sso(admin).save_saml_options(
            view.sp.id, nameIdFormat=form.get("name_id_format"), nameIdSource=form.get("name_id_source")
        )
    except DomainError as exc:
        field = {"nameIdFormat": "name_id_format", "nameIdSource": "name_id_source"}.get(exc.target or "", "_form")
        return _page(admin, view, 400, errors={field: admin._("Choose one of the options offered.")})
    return admin.redirect(f"/apps/{view.sp.id}/sso", done="nameid")


@router.post("/{tenant}/admin/apps/{sp_id}/sso/certificates/new")
async def certificate_new(admin: AppsDep, sp_id: str) -> Response:
    view = _view(admin, sp_id)
    await admin.form()
    try:
        _credentials(admin).add_token_signing_certificate(view.sp.id, None, activate_if_first=True)
    except DomainError as exc:
        return _page(admin, view, 400, errors={"_form": reason_of(admin, exc)})
    return admin.redirect(f"/apps/{view.sp.id}/sso", done="cert-new")


@router.post("/{tenant}/admin/apps/{sp_id}/sso/certificates/{key_id}/activate")
async def certificate_activate(admin: AppsDep, sp_id: str, key_id: str) -> Response:
    view = _view(admin, sp_id)
    await admin.form()
    row = next((c for c in view.certificates if c.key_id == key_id), None)
    if row is None:
        return admin.not_found()
    _credentials(admin).activate_signing_certificate(view.sp.id, row.thumbprint)
    return admin.redirect(f"/apps/{view.sp.id}/sso", done="cert-active")


@router.get("/{tenant}/admin/apps/{sp_id}/sso/certificates/{key_id}/remove")
def certificate_remove_confirm(admin: AppsDep, sp_id: str, key_id: str) -> Response:
    view = _view(admin, sp_id)
    row = next((c for c in view.certificates if c.key_id == key_id), None)
    if row is None:
        return admin.not_found()
    _ = admin._
    return admin.render(
        "portal/app_confirm.html",
        title=_("Remove signing certificate"),
        subject=f"{row.display_name} ({row.thumbprint})",
        consequence=_(
            "Service providers that still trust this certificate will refuse responses signed with a new one "
            "until they are given it. This cannot be undone."
        ),
        action=f"{admin.admin}/apps/{view.sp.id}/sso/certificates/{row.key_id}/remove",
        back=f"{admin.admin}/apps/{view.sp.id}/sso",
        crumbs=[(f"{admin.admin}/apps/{view.sp.id}", view.sp.display_name)],
        button=_("Remove"),
    )


@router.post("/{tenant}/admin/apps/{sp_id}/sso/certificates/{key_id}/remove")
async def certificate_remove(admin: AppsDep, sp_id: str, key_id: str) -> Response:
    view = _view(admin, sp_id)
    await admin.form()
    try:
        _credentials(admin).remove_signing_certificate(view.sp.id, key_id[:64])
    except NotFoundError:
        return admin.not_found()
    except DomainError as exc:
        return _page(admin, view, 400, errors={"_form": reason_of(admin, exc)})
    return admin.redirect(f"/apps/{view.sp.id}/sso", done="cert-removed")


@router.get("/{tenant}/admin/apps/{sp_id}/sso/certificates/{key_id}/download")
def certificate_download(admin: AppsDep, sp_id: str, key_id: str) -> Response:
    """ "Certificate (Base64)": the PEM text of the public certificate, as a ``.cer`` file."""
    view = _view(admin, sp_id)
    row = next((c for c in view.certificates if c.key_id == key_id), None)
    if row is None:
        return admin.not_found()
    name = "".join(c for c in view.sp.display_name if c.isalnum() or c in "-_") or "app"
    return Response(
        pem_of(row.certificate),
        media_type="application/x-x509-ca-cert",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.cer"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/{tenant}/admin/apps/{sp_id}/sso/verification")
async def verification_upload(admin: AppsDep, sp_id: str) -> Response:
    """The service provider's certificate, which verifies the requests it signs."""
    view = _view(admin, sp_id)
    data, description = await certificate_upload(admin)
    if not data.strip():
        error = admin._("Choose a certificate file (.cer, .crt or .pem) of at most 64 KB, or paste one.")
        return _page(admin, view, 400, errors={"verification": error})
    try:
        _credentials(admin).upload_verification_certificate(view.sp.id, data, description or None)
    except DomainError as exc:
        return _page(admin, view, 400, errors={"verification": reason_of(admin, exc)})
    return admin.redirect(f"/apps/{view.sp.id}/sso", done="verification-added")


@router.post("/{tenant}/admin/apps/{sp_id}/sso/require-signed")
async def require_signed(admin: AppsDep, sp_id: str) -> Response:
    view = _view(admin, sp_id)
    form = await admin.form()
    try:
        _credentials(admin).require_signed_requests(view.sp.id, form.flag("require_signed"))
    except DomainError as exc:
        return _page(admin, view, 400, errors={"require_signed": reason_of(admin, exc)})
    return admin.redirect(f"/apps/{view.sp.id}/sso", done="verification")


@router.get("/{tenant}/admin/apps/{sp_id}/sso/verification/{key_id}/remove")
def verification_remove_confirm(admin: AppsDep, sp_id: str, key_id: str) -> Response:
    view = _view(admin, sp_id)
    row = next((c for c in view.verification if c.key_id == key_id), None)
    if row is None:
        return admin.not_found()
    _ = admin._
    return admin.render(
        "portal/app_confirm.html",
        title=_("Remove verification certificate"),
        subject=f"{row.display_name} ({row.thumbprint})",
        consequence=_("Requests signed with this certificate will no longer be accepted. This cannot be undone."),
        action=f"{admin.admin}/apps/{view.sp.id}/sso/verification/{row.key_id}/remove",
        back=f"{admin.admin}/apps/{view.sp.id}/sso",
        crumbs=[(f"{admin.admin}/apps/{view.sp.id}", view.sp.display_name)],
        button=_("Remove"),
    )


@router.post("/{tenant}/admin/apps/{sp_id}/sso/verification/{key_id}/remove")
async def verification_remove(admin: AppsDep, sp_id: str, key_id: str) -> Response:
    view = _view(admin, sp_id)
    await admin.form()
    try:
        _credentials(admin).remove_verification_certificate(view.sp.id, key_id[:64])
    except NotFoundError:
        return admin.not_found()
    except DomainError as exc:
        return _page(admin, view, 400, errors={"verification": reason_of(admin, exc)})
    return admin.redirect(f"/apps/{view.sp.id}/sso", done="verification-removed")
