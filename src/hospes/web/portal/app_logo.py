"""An enterprise application's logo on its Properties page: upload (a multipart form, checked by its bytes: PNG,
JPEG or GIF, at most 100 KB and 215 x 215 pixels) and remove; both answer with a redirect (Post/Redirect/Get).
The logo belongs to the app registration, as in Entra: My Apps and ``info.logoUrl`` show it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from hospes.domain.app_logo import MAX_LOGO_BYTES, MAX_LOGO_SIDE, LogoError
from hospes.services.app_logos import AppLogos
from hospes.services.directory_views import AppDetail
from hospes.web.portal.access import AdminPage
from hospes.web.portal.apps import app_page
from hospes.web.portal.deps import AppsDep
from hospes.web.security import same_origin

router = APIRouter(include_in_schema=False)


def _logos(admin: AdminPage) -> AppLogos:
    return AppLogos(admin.sessions, admin.principal)


def _words(admin: AdminPage, reason: str) -> str:
    _ = admin._
    if reason == "size":
        return _("The image is larger than %(num)d KB. Choose a smaller one.") % {"num": MAX_LOGO_BYTES // 1024}
    if reason == "dimensions":
        return _("The image is larger than %(num)d × %(num)d pixels. Choose a smaller one.") % {"num": MAX_LOGO_SIDE}
    if reason == "empty":
        return _("Choose an image file.")
    return _("This isn't a PNG, JPEG or GIF image.")


def _refused(admin: AdminPage, detail: AppDetail, reason: str) -> Response:
    return app_page(admin, detail, 400, errors={"logo": _words(admin, reason)})


@router.post("/{tenant}/admin/apps/{sp_id}/logo")
async def upload_logo(request: Request, admin: AppsDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    _ = admin._
    if not same_origin(request, admin.page.web.origin):
        return admin.refused(_("This form was sent from another site, so it was refused."))
    if detail.sp.application_id is None:
        return admin.not_found()
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "multipart/form-data":
        return _refused(admin, detail, "empty")
    try:
        form = await request.form(max_files=1, max_fields=4, max_part_size=MAX_LOGO_BYTES + 1024)
    except Exception:  # multipart errors of every kind (a part over the limit among them): a readable page
        return _refused(admin, detail, "size")
    try:
        token = form.get("csrf")
        if not isinstance(token, str) or not admin.page.csrf_ok({"csrf": token}):
            return admin.refused(
                _("The form has expired or did not come from this site. Go back, reload the page and try again.")
            )
        upload = form.get("logo")
        data = await upload.read(MAX_LOGO_BYTES + 1) if isinstance(upload, UploadFile) else b""
    finally:
        await form.close()
    try:
        _logos(admin).set_logo(detail.sp.application_id, data)
    except LogoError as exc:
        return _refused(admin, detail, exc.reason)
    return admin.redirect(f"/apps/{detail.sp.id}", done="logo")


@router.post("/{tenant}/admin/apps/{sp_id}/logo/remove")
async def remove_logo(admin: AppsDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    await admin.form()
    if detail.sp.application_id is not None:
        _logos(admin).remove_logo(detail.sp.application_id)
    return admin.redirect(f"/apps/{detail.sp.id}", done="logo-removed")
