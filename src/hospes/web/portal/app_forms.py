"""What the application pages share: a service error in words for the field it concerns, and the one upload the
registration page takes (a certificate file, multipart)."""

from __future__ import annotations

from starlette.datastructures import UploadFile

from hospes.digits import ascii_int
from hospes.domain.app_registration import PlainError
from hospes.domain.errors import DomainError
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage
from hospes.web.portal.plain import plain_message
from hospes.web.security import same_origin

MAX_CERTIFICATE_UPLOAD = 64 * 1024


def reason_of(admin: AdminPage, exc: DomainError) -> str:
    """The error for people, in the page's language: a registration or certificate fault says what is wrong
    without Graph's property names; any other service error as the portal's forms say them."""
    if isinstance(exc, PlainError):
        translated = admin._(exc.template)
        try:
            return translated % exc.params if exc.params else translated
        except (KeyError, ValueError, TypeError):  # a translation whose placeholders went wrong: the English one
            return exc.reason
    return plain_message(admin._, exc.message)


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "extract this, translate it where it is shown"
    return message


# The sentences of the application screens' faults (``PlainError.template``): listed here so the catalogs carry
# them; ``reason_of`` translates them when they are shown.
REASONS = (
    N_("'%(uri)s' contains spaces or control characters."),
    N_("A URI can be at most %(num)d characters long."),
    N_("'%(uri)s' has a fragment (#...); redirect URIs cannot have one."),
    N_("'%(uri)s' contains characters that are not allowed: %(chars)s"),
    N_("'%(uri)s' isn't a valid URI."),
    N_("'%(uri)s' isn't an absolute URI (it needs https://...)."),
    N_("'%(uri)s' has no host name."),
    N_("'%(uri)s' must use https (plain http is allowed only for localhost and 127.0.0.1)."),
    N_("'%(uri)s' contains a user name or password."),
    N_("'%(uri)s' must use https (custom schemes are allowed only for mobile and desktop apps)."),
    N_("The scheme '%(scheme)s' cannot be used for a redirect URI."),
    N_("The list contains the same URI twice."),
    N_("'%(uri)s': at most %(num)d characters, no spaces, '*' or '#'."),
    N_("'%(uri)s' isn't an absolute URI (e.g. api://..., https://..., urn:...)."),
    N_("The list contains the same identifier twice."),
    N_("An application can have at most %(num)d identifiers."),
    N_("An application can have at most %(num)d redirect URIs."),
    N_("The relay state is text of at most %(num)d bytes."),
    N_("Another application of this organization already uses '%(uri)s'."),
    N_("This certificate is already uploaded."),
    N_("An application can have at most %(num)d certificates."),
    N_("At most %(num)d verification certificates."),
    N_("The certificate expired on %(date)s."),
    N_("This is the active signing certificate: activate another one before removing it."),
    N_("Signed requests are required: turn that off, or upload another certificate, first."),
    N_("Upload the service provider's certificate first: it is what verifies the signed requests."),
    N_("Add at least one permission before granting consent."),
    N_("The certificate is empty."),
    N_("The certificate is too large (at most %(num)d KB)."),
    N_("This is a private key. Upload the certificate (public key) only."),
    N_("This isn't an X.509 certificate (PEM, DER or base64 DER)."),
    N_("The certificate's public key cannot be read."),
    N_("The certificate must hold an RSA or elliptic-curve public key."),
)


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
