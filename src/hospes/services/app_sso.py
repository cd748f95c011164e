"""An enterprise application's single sign-on, as the portal's "Single sign-on" screen edits it: the mode, the
basic SAML configuration (kept where Graph keeps it: identifiers and reply URLs on the application, the sign-on
URL, relay state and logout URL on the service principal), how responses are signed, the NameID, and a preview of
the NameID each guest would get.

The guest rule of the NameID: where the source is the user principal name, a guest who signed in with their home
tenant gets their mail, any other guest (email one-time passcode) the stored ``#EXT#`` UPN (``saml.claims``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from hospes.domain.app_registration import HIDE_APP as HIDE_APP
from hospes.domain.app_registration import (
    application_changes,
    check_redirect_total,
    service_principal_changes,
)
from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.saml.claims import HOME_TENANT_ISSUER, SamlUser, source_value
from hospes.saml.claims import NAME_ID_SOURCES as NAME_ID_SOURCES
from hospes.saml.nameid import EMAIL, FORMATS, UNSPECIFIED
from hospes.services.app_credentials import REQUEST_VERIFICATION, KeyCredential, signing_certificates
from hospes.services.apps import (
    APPLICATION_NAMES,
    SERVICE_PRINCIPAL_NAMES,
    Application,
    AppService,
    ServicePrincipal,
)
from hospes.services.graph_permissions import GRAPH_APP_ID
from hospes.storage.tables import User

SIGNING_OPTIONS = ("assertion", "response", "both")
ALGORITHMS = ("sha256", "sha1")
NAME_ID_FORMATS = FORMATS
MODES = {"saml": "saml", "oidc": "oidc", "disabled": None}
PREVIEW_SIZE = 25


@dataclass(frozen=True)
class SsoView:
    sp: ServicePrincipal
    app: Application
    certificates: list[KeyCredential]
    verification: list[KeyCredential]  # the service provider's certificates for its signed requests

    @property
    def mode(self) -> str:
        return {"saml": "saml", "oidc": "oidc"}.get(self.sp.preferred_single_sign_on_mode or "", "disabled")

    @property
    def options(self) -> dict[str, Any]:
        options = self.sp.saml_options if isinstance(self.sp.saml_options, dict) else {}
        return {
            "signing": options.get("signing") if options.get("signing") in SIGNING_OPTIONS else "assertion",
            "algorithm": "sha1" if options.get("algorithm") == "sha1" else "sha256",
            "nameIdFormat": options.get("nameIdFormat") or EMAIL,
            "nameIdSource": options.get("nameIdSource") or "userprincipalname",
            "requireSignedRequests": bool(options.get("requireSignedRequests")),
        }

    @property
    def relay_state(self) -> str:
        settings = self.sp.saml_single_sign_on_settings or {}
        return str(settings.get("relayState") or "")

    @property
    def active(self) -> KeyCredential | None:
        wanted = self.sp.preferred_token_signing_key_thumbprint
        return next((c for c in self.certificates if c.thumbprint == wanted), None)


@dataclass(frozen=True)
class NameIdPreview:
    user: User
    signed_in_with: str  # "home" | "otp" | "pending" | "member"
    value: str | None  # None: an opaque pairwise or random id, made at sign-in


def guest_signed_in_with(user: User) -> str:
    if user.user_type != "Guest":
        return "member"
    issuers = {str(i.get("issuer")) for i in (user.identities or []) if isinstance(i, dict)}
    if user.external_user_state != "Accepted":
        return "pending"
    return "home" if HOME_TENANT_ISSUER in issuers else "otp"


class SsoSettings(AppService):
    def _pair(self, session: Any, sp_id: str) -> tuple[ServicePrincipal, Application]:
        sp = self.find_sp(session, sp_id)
        app = session.get(Application, sp.application_id) if sp.application_id else None
        if app is None or sp.app_id == GRAPH_APP_ID:
            raise NotFoundError(sp_id)
        return sp, app

    def view(self, sp_id: str) -> SsoView:
        with self.read() as session:
            sp, app = self._pair(session, sp_id)
            verification = signing_certificates(session, sp, REQUEST_VERIFICATION)
            return SsoView(sp, app, signing_certificates(session, sp), verification)

    def set_mode(self, sp_id: str, mode: str) -> None:
        if mode not in MODES:
            raise InvalidInputError("Choose SAML, OpenID Connect or disabled.", target="mode")
        with self.write("ApplicationManagement", "Update service principal") as op:
            sp, _ = self._pair(op.session, sp_id)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            op.details["modifiedProperties"] = op.record_changes(
                sp, {"preferred_single_sign_on_mode": MODES[mode]}, SERVICE_PRINCIPAL_NAMES
            )
            sp.preferred_single_sign_on_mode = MODES[mode]

    def save_basic_saml(
        self,
        sp_id: str,
        *,
        identifiers: list[str],
        reply_urls: list[str],
        sign_on_url: str,
        relay_state: str,
        logout_url: str,
    ) -> None:
        """The "Basic SAML configuration", in one transaction: identifiers and reply URLs go to the application
        (``identifierUris``, ``web.redirectUris``), the others to the service principal; the logout URL to both."""
        with self.write("ApplicationManagement", "Update application") as op:
            sp, app = self._pair(op.session, sp_id)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            changes = application_changes(
                {"web": {"redirectUris": reply_urls, "logoutUrl": logout_url or None}},
                {"identifier_uris": identifiers},
            )
            sp_changes = service_principal_changes(
                {
                    "login_url": sign_on_url or None,
                    "logout_url": logout_url or None,
                    "saml_single_sign_on_settings": {"relayState": relay_state or None},
                }
            )
            op.details["modifiedProperties"] = [
                *op.record_changes(app, changes, APPLICATION_NAMES),
                *op.record_changes(sp, sp_changes, SERVICE_PRINCIPAL_NAMES),
            ]
            for attr, value in changes.items():
                setattr(app, attr, value)
            check_redirect_total(
                {"web": app.web_redirect_uris, "spa": app.spa_redirect_uris, "pc": app.public_client_redirect_uris}
            )
            if app.identifier_uris:
                self._identifiers_unique(op.session, app)
            for attr, value in sp_changes.items():
                setattr(sp, attr, value)

    def save_saml_options(self, sp_id: str, **options: str) -> None:
        """Signing (``signing``, ``algorithm``) or NameID (``nameIdFormat``, ``nameIdSource``) options."""
        allowed = {
            "signing": SIGNING_OPTIONS,
            "algorithm": ALGORITHMS,
            "nameIdFormat": NAME_ID_FORMATS,
            "nameIdSource": NAME_ID_SOURCES,
        }
        for name, value in options.items():
            if name not in allowed or value not in allowed[name]:
                raise InvalidInputError("Choose one of the options offered.", target=name)
        with self.write("ApplicationManagement", "Update service principal") as op:
            sp, _ = self._pair(op.session, sp_id)
            op.target("ServicePrincipal", sp.id, sp.display_name)
            sp.saml_options = {**(sp.saml_options or {}), **options}
            op.details.update(options)

    def name_id_preview(self, sp_id: str, search: str = "") -> list[NameIdPreview]:
        """The NameID each guest (or, searching, each user) would get: guests first, at most ``PREVIEW_SIZE``."""
        view = self.view(sp_id)
        options = view.options
        conditions = [User.tenant_id == self.tenant_id, User.deleted_at.is_(None)]
        search = search.strip().lower()[:256]
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(
                func.lower(User.user_principal_name).like(pattern, escape="\\")
                | func.lower(func.coalesce(User.mail, "")).like(pattern, escape="\\")
                | func.lower(func.coalesce(User.display_name, "")).like(pattern, escape="\\")
            )
        else:
            conditions.append(User.user_type == "Guest")
        with self.read() as session:
            users = list(
                session.scalars(select(User).where(*conditions).order_by(User.user_principal_name).limit(PREVIEW_SIZE))
            )
        out = []
        for user in users:
            how = guest_signed_in_with(user)
            value: str | None = None
            # emailAddress sends an address-like source value, a configured unspecified format the value as it is;
            # the other formats (and a value that cannot be used) send an opaque id made at sign-in.
            if options["nameIdFormat"] in (EMAIL, UNSPECIFIED):
                saml_user = SamlUser(
                    object_id=user.id,
                    tenant_id=user.tenant_id,
                    user_principal_name=user.user_principal_name,
                    user_type=user.user_type,
                    identity_provider="",
                    mail=user.mail,
                    given_name=user.given_name,
                    surname=user.surname,
                    display_name=user.display_name,
                    signed_in_with=HOME_TENANT_ISSUER if how == "home" else "mail",
                )
                value = source_value(saml_user, options["nameIdSource"])
                unusable = options["nameIdFormat"] == EMAIL and (value is None or "@" not in value.strip("@"))
                value = None if unusable or not value else value
            out.append(NameIdPreview(user, how, value))
        return out
