"""What the application pages share: a service error in words for the field it concerns, and the one upload the
registration page takes (a certificate file, multipart)."""

from __future__ import annotations

from starlette.datastructures import UploadFile

from hospes.digits import ascii_int
from hospes.domain.app_registration import RegistrationError
from hospes.domain.errors import DomainError
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage
from hospes.web.security import same_origin

MAX_CERTIFICATE_UPLOAD = 64 * 1024


def reason_of(admin: AdminPage, exc: DomainError) -> str:
    """The error for people: a registration fault says what is wrong without Graph's property names."""
    if isinstance(exc, RegistrationError):
        return exc.reason
    return exc.message


async def certificate_upload(admin: AdminPage) -> tuple[bytes, str]:
    """The uploaded (or pasted) certificate and its description, after the origin and CSRF checks; a refusal page
    otherwise. An empty result means nothing was given."""
    _ = admin._
    request = admin.page.request
    if not same_origin(request, admin.page.web.origin):
        raise PageExit(admin.refused(_("This form was sent from another site, so it was refused.")))
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    length = ascii_int(request.headers.get("content-length"))
    if ctype != "multipart/form-data" or length is None or length > MAX_CERTIFICATE_UPLOAD:
        return b"", ""
    try:
        form = await request.form(max_files=1, max_fields=5, max_part_size=MAX_CERTIFICATE_UPLOAD)
    except Exception:  # multipart errors of every kind: treated as nothing uploaded, never a 500
        return b"", ""
    token = form.get("csrf")
    if not isinstance(token, str) or not admin.page.csrf_ok({"csrf": token}):
        raise PageExit(
            admin.refused(
                _("The form has expired or did not come from this site. Go back, reload the page and try again.")
            )
        )
    data = b""
    upload = form.get("file")
    if isinstance(upload, UploadFile):
        data = await upload.read(MAX_CERTIFICATE_UPLOAD + 1)
    pasted = form.get("pasted")
    if not data.strip() and isinstance(pasted, str):
        data = pasted.encode()
    description = form.get("description")
    return data, (description.strip()[:90] if isinstance(description, str) else "")
