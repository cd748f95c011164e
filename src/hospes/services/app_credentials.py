"""Certificates of applications and service principals (Graph ``keyCredentials``).

* An application's certificates verify its ``private_key_jwt`` client assertions: only the public half is given
  and stored.
* A service principal's token-signing certificates sign its SAML responses: Hospes makes them
  (``addTokenSigningCertificate``) and keeps the private key sealed with the deployment's SecretBox, bound to the
  credential's key id. The active one is named by ``preferredTokenSigningKeyThumbprint``.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.auth.certificates import (
    CertificateError,
    CertificateInfo,
    create_signing_certificate,
    read_certificate,
    seal_private_key,
)
from hospes.auth.crypto import SecretBox
from hospes.domain.app_registration import PlainError, RegistrationError
from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.services.base import Services, Write
from hospes.storage.tables import Application, ServicePrincipal
from hospes.storage.tables_sso import KeyCredential as KeyCredential

CLIENT_ASSERTION = "client_assertion"
TOKEN_SIGNING = "token_signing"
REQUEST_VERIFICATION = "request_verification"
MAX_APP_CERTIFICATES = 20
MAX_SIGNING_YEARS = 3
_SIGN_KEY_NAMESPACE = uuid.UUID("3b0d7c4e-2a51-4e0e-9f57-8c1b6a0f2d19")


def custom_key_identifier(thumbprint: str) -> str:
    """Graph's default ``customKeyIdentifier``: the thumbprint, as an Edm.Binary (base64 of its 20 bytes)."""
    return base64.b64encode(bytes.fromhex(thumbprint)).decode()


def sign_key_id(key_id: str) -> str:
    """The key id of the ``Sign`` half Graph lists beside a token-signing certificate's ``Verify`` half."""
    return str(uuid.uuid5(_SIGN_KEY_NAMESPACE, key_id))


def _bad(template: str, **params: Any) -> RegistrationError:
    return RegistrationError("keyCredentials", "Application", template, **params)


def _plain(template: str, target: str | None = None, **params: Any) -> PlainError:
    return PlainError(template % params if params else template, template, params, target)


def _certificate_error(exc: CertificateError, target: str) -> PlainError:
    return _plain(exc.template, target, **exc.params)


def verify_credential(
    op: Write, tenant_id: str, info: CertificateInfo, name: str | None, **owner: str
) -> KeyCredential:
    """A public certificate that verifies what its owner signs: an app's client assertions
    (``application_id=``, purpose ``CLIENT_ASSERTION``) or a SAML app's signed requests
    (``service_principal_id=``, purpose ``REQUEST_VERIFICATION``), given as ``purpose=``."""
    return KeyCredential(
        key_id=info.key_id,
        tenant_id=tenant_id,
        usage="Verify",
        display_name=(name or info.display_name)[:90],
        custom_key_identifier=custom_key_identifier(info.thumbprint),
        certificate=info.der_b64,
        thumbprint=info.thumbprint,
        start_at=info.start,
        end_at=info.end,
        created_at=op.now,
        **owner,
    )


def _new_app_certificate(op: Write, app: Application, info: CertificateInfo, name: str | None) -> KeyCredential:
    if info.end <= op.now:
        raise _bad("The certificate expired on %(date)s.", date=f"{info.end:%Y-%m-%d}")
    return verify_credential(op, app.tenant_id, info, name, application_id=app.id, purpose=CLIENT_ASSERTION)


def app_certificates(session: Session, app: Application) -> list[KeyCredential]:
    stmt = select(KeyCredential).where(KeyCredential.application_id == app.id, KeyCredential.tenant_id == app.tenant_id)
    return list(session.scalars(stmt.order_by(KeyCredential.created_at, KeyCredential.key_id)))


def replace_app_certificates(op: Write, app: Application, entries: Any) -> None:
    """``PATCH keyCredentials``: the list replaces the application's certificates. An entry with a ``key`` (the
    certificate's base64 DER) adds it; an entry naming only the ``keyId`` of a certificate the app has keeps it;
    a certificate not listed is removed."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _bad("Expected a list of keyCredential objects.")
    if len(entries) > MAX_APP_CERTIFICATES:
        raise _bad("An application can have at most %(num)d certificates.", num=MAX_APP_CERTIFICATES)
    existing = {c.key_id: c for c in app_certificates(op.session, app)}
    keep: set[str] = set()
    added: list[KeyCredential] = []
    for entry in entries:
        if entry.get("type", "AsymmetricX509Cert") != "AsymmetricX509Cert" or entry.get("usage", "Verify") != "Verify":
            raise _bad("Only certificates (type AsymmetricX509Cert, usage Verify) can be added to an application.")
        name = entry.get("displayName")
        if name is not None and not isinstance(name, str):
            raise _bad("displayName must be a string.")
        key = entry.get("key")
        key_id = entry.get("keyId")
        if key is None:
            if not isinstance(key_id, str) or key_id not in existing:
                raise _bad("A new key credential needs its certificate in 'key' (base64 of the DER).")
            keep.add(key_id)
            if name is not None:
                existing[key_id].display_name = name[:90]
            continue
        if not isinstance(key, str):
            raise _bad("'key' must be the base64 of the certificate's DER encoding.")
        if key_id is not None and (not isinstance(key_id, str) or key_id in existing or _not_guid(key_id)):
            raise _bad("keyId must be a new GUID.")
        try:
            info = read_certificate(key, key_id)
        except CertificateError as exc:
            raise _bad(exc.template, **exc.params) from None
        added.append(_new_app_certificate(op, app, info, name))
    thumbprints = [existing[k].thumbprint for k in keep] + [c.thumbprint for c in added]
    if len(set(thumbprints)) != len(thumbprints):
        raise _bad("The same certificate is listed twice.")
    for key_id, row in existing.items():
        if key_id not in keep:
            op.session.delete(row)
    op.session.add_all(added)


def _not_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return True
    return False


def signing_certificates(session: Session, sp: ServicePrincipal, purpose: str = TOKEN_SIGNING) -> list[KeyCredential]:
    """A service principal's token-signing certificates, or (``REQUEST_VERIFICATION``) the service provider's
    certificates that verify its signed requests."""
    stmt = select(KeyCredential).where(
        KeyCredential.service_principal_id == sp.id,
        KeyCredential.tenant_id == sp.tenant_id,
        KeyCredential.purpose == purpose,
    )
    return list(session.scalars(stmt.order_by(KeyCredential.created_at, KeyCredential.key_id)))


def require_signing_certificate(session: Session, sp: ServicePrincipal, thumbprint: str) -> None:
    if not any(c.thumbprint == thumbprint.upper() for c in signing_certificates(session, sp)):
        raise InvalidInputError(
            "Invalid value specified for property 'preferredTokenSigningKeyThumbprint' of resource "
            "'ServicePrincipal'. No signing certificate of this service principal has that thumbprint.",
            target="preferredTokenSigningKeyThumbprint",
        )


@dataclass
class AppCredentialService(Services):
    """Certificate writes that are not part of an application or service principal PATCH: the portal's upload,
    Graph's ``addTokenSigningCertificate``, removal."""

    box: SecretBox | None = None

    def _app(self, session: Session, key: str) -> Application:
        app = session.scalar(select(Application).where(Application.tenant_id == self.tenant_id, Application.id == key))
        if app is None:
            raise NotFoundError(key)
        return app

    def _sp(self, session: Session, key: str) -> ServicePrincipal:
        column = ServicePrincipal.app_id if key.startswith("appId=") else ServicePrincipal.id
        value = key.removeprefix("appId=").strip("'")
        sp = session.scalar(
            select(ServicePrincipal).where(ServicePrincipal.tenant_id == self.tenant_id, column == value)
        )
        if sp is None:
            raise NotFoundError(value)
        return sp

    # --- application certificates --------------------------------------------------------------------------
    def list_app_certificates(self, app_id: str) -> list[KeyCredential]:
        with self.read() as session:
            return app_certificates(session, self._app(session, app_id))

    def upload_app_certificate(self, app_id: str, data: bytes | str, display_name: str | None = None) -> KeyCredential:
        with self.write("ApplicationManagement", "Update application - Certificates and secrets management") as op:
            app = self._app(op.session, app_id)
            op.target("Application", app.id, app.display_name)
            try:
                info = read_certificate(data)
            except CertificateError as exc:
                raise _certificate_error(exc, "certificate") from None
            current = app_certificates(op.session, app)
            if any(c.thumbprint == info.thumbprint for c in current):
                raise _plain("This certificate is already uploaded.", "certificate")
            if len(current) >= MAX_APP_CERTIFICATES:
                raise _plain("An application can have at most %(num)d certificates.", num=MAX_APP_CERTIFICATES)
            row = _new_app_certificate(op, app, info, display_name or None)
            op.session.add(row)
            op.details.update(keyId=row.key_id, thumbprint=row.thumbprint)
            return row

    def remove_app_certificate(self, app_id: str, key_id: str) -> None:
        with self.write("ApplicationManagement", "Update application - Certificates and secrets management") as op:
            app = self._app(op.session, app_id)
            op.target("Application", app.id, app.display_name)
            row = op.session.get(KeyCredential, key_id)
            if row is None or row.application_id != app.id:
                raise NotFoundError(key_id)
            op.details.update(keyId=row.key_id, thumbprint=row.thumbprint)
            op.session.delete(row)

    # --- the service provider's request-verification certificates ----------------------------------------------
    def upload_verification_certificate(
        self, sp_key: str, data: bytes | str, display_name: str | None = None
    ) -> KeyCredential:
        """A SAML service provider's certificate, which verifies the requests it signs (public half only)."""
        with self.write("ApplicationManagement", "Update service principal") as op:
            sp = self._sp(op.session, sp_key)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            try:
                info = read_certificate(data)
            except CertificateError as exc:
                raise _certificate_error(exc, "certificate") from None
            current = signing_certificates(op.session, sp, REQUEST_VERIFICATION)
            if any(c.thumbprint == info.thumbprint for c in current):
                raise _plain("This certificate is already uploaded.", "certificate")
            if len(current) >= MAX_APP_CERTIFICATES:
                raise _plain("At most %(num)d verification certificates.", num=MAX_APP_CERTIFICATES)
            if info.end <= op.now:
                raise _plain("The certificate expired on %(date)s.", "certificate", date=f"{info.end:%Y-%m-%d}")
            row = verify_credential(
                op, self.tenant_id, info, display_name, service_principal_id=sp.id, purpose=REQUEST_VERIFICATION
            )
            op.session.add(row)
            op.details.update(keyId=row.key_id, thumbprint=row.thumbprint)
            return row

    def remove_verification_certificate(self, sp_key: str, key_id: str) -> None:
        """Remove one; the last one cannot go while signed requests are required (nothing could verify them)."""
        with self.write("ApplicationManagement", "Update service principal") as op:
            sp = self._sp(op.session, sp_key)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            row = op.session.get(KeyCredential, key_id)
            if row is None or row.service_principal_id != sp.id or row.purpose != REQUEST_VERIFICATION:
                raise NotFoundError(key_id)
            required = bool((sp.saml_options or {}).get("requireSignedRequests"))
            if required and len(signing_certificates(op.session, sp, REQUEST_VERIFICATION)) == 1:
                raise _plain(
                    "Signed requests are required: turn that off, or upload another certificate, first.", "keyId"
                )
            op.details.update(keyId=row.key_id, thumbprint=row.thumbprint)
            op.session.delete(row)

    def require_signed_requests(self, sp_key: str, required: bool) -> None:
        with self.write("ApplicationManagement", "Update service principal") as op:
            sp = self._sp(op.session, sp_key)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            if required and not signing_certificates(op.session, sp, REQUEST_VERIFICATION):
                raise _plain(
                    "Upload the service provider's certificate first: it is what verifies the signed requests.",
                    "require_signed",
                )
            sp.saml_options = {**(sp.saml_options or {}), "requireSignedRequests": required}
            op.details["requireSignedRequests"] = required

    # --- token-signing certificates -------------------------------------------------------------------------
    def list_signing_certificates(self, sp_key: str) -> list[KeyCredential]:
        with self.read() as session:
            return signing_certificates(session, self._sp(session, sp_key))

    def add_token_signing_certificate(
        self, sp_key: str, display_name: Any, end: datetime | None = None, *, activate_if_first: bool = False
    ) -> KeyCredential:
        """Graph's ``addTokenSigningCertificate``: a new self-signed certificate, not active until
        ``preferredTokenSigningKeyThumbprint`` names it (``activate_if_first``: the portal activates an app's
        first certificate at once, as Entra's portal does)."""
        if self.box is None:
            raise RuntimeError("signing certificates need the deployment's secret box")
        with self.write("ApplicationManagement", "Update service principal") as op:
            sp = self._sp(op.session, sp_key)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            if display_name in (None, ""):
                display_name = f"CN={sp.display_name}"[:67]
            elif not isinstance(display_name, str) or not display_name.upper().startswith("CN="):
                raise InvalidInputError("The displayName must start with 'CN='.", target="displayName")
            if end is not None and end <= op.now:
                raise InvalidInputError("The endDateTime must be in the future.", target="endDateTime")
            if end is not None and end > op.now + timedelta(days=365 * MAX_SIGNING_YEARS + 1):
                raise InvalidInputError(
                    f"The endDateTime can be at most {MAX_SIGNING_YEARS} years from now.", target="endDateTime"
                )
            try:
                made = create_signing_certificate(display_name, start=op.now, end=end)
            except CertificateError as exc:
                raise _certificate_error(exc, "displayName") from None
            info = made.info
            row = KeyCredential(
                key_id=info.key_id,
                tenant_id=self.tenant_id,
                service_principal_id=sp.id,
                purpose=TOKEN_SIGNING,
                usage="Verify",
                display_name=info.display_name,
                custom_key_identifier=custom_key_identifier(info.thumbprint),
                certificate=info.der_b64,
                thumbprint=info.thumbprint,
                private_key=seal_private_key(self.box, info.key_id, made.private_key_pem),
                start_at=info.start,
                end_at=info.end,
                created_at=op.now,
            )
            op.session.add(row)
            if activate_if_first and not sp.preferred_token_signing_key_thumbprint:
                sp.preferred_token_signing_key_thumbprint = info.thumbprint
            op.details.update(keyId=row.key_id, thumbprint=row.thumbprint)
            return row

    def activate_signing_certificate(self, sp_key: str, thumbprint: str) -> None:
        with self.write("ApplicationManagement", "Update service principal") as op:
            sp = self._sp(op.session, sp_key)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            require_signing_certificate(op.session, sp, thumbprint)
            sp.preferred_token_signing_key_thumbprint = thumbprint.upper()
            op.details.update(preferredTokenSigningKeyThumbprint=thumbprint.upper())

    def remove_signing_certificate(self, sp_key: str, key_id: str) -> None:
        with self.write("ApplicationManagement", "Update service principal") as op:
            sp = self._sp(op.session, sp_key)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            row = op.session.get(KeyCredential, key_id)
            if row is None or row.service_principal_id != sp.id or row.purpose != TOKEN_SIGNING:
                raise NotFoundError(key_id)
            if row.thumbprint == sp.preferred_token_signing_key_thumbprint:
                raise _plain(
                    "This is the active signing certificate: activate another one before removing it.", "keyId"
                )
            op.details.update(keyId=row.key_id, thumbprint=row.thumbprint)
            op.session.delete(row)
