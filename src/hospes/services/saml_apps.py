"""The directory as SAML single sign-on reads it: an app set to SAML (its identifiers, reply URLs, options and
certificates), the signing key objects (unsealed and loaded once per process, then reused), and what the
assertion says about a user (roles and groups through nested groups, the guest's identity)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.auth.certificates import SigningKey, load_certificate, load_signing_key, open_private_key
from hospes.auth.crypto import SecretBox
from hospes.saml.claims import HOME_TENANT_ISSUER, SamlUser
from hospes.saml.response import SIGNING_OPTIONS, SigningOption
from hospes.saml.signing import Algorithm
from hospes.services.memberships import transitive_groups
from hospes.storage.tables import Application, AppRoleAssignment, ServicePrincipal, User
from hospes.storage.tables_sso import KeyCredential

SAML_MODE = "saml"
TOKEN_SIGNING = "token_signing"
REQUEST_VERIFICATION = "request_verification"


@dataclass(frozen=True)
class SamlApp:
    sp_id: str
    tenant_id: str
    app_id: str
    display_name: str
    entity_ids: tuple[str, ...]
    reply_urls: tuple[str, ...]
    logout_url: str | None
    login_url: str | None
    relay_state: str | None
    enabled: bool
    assignment_required: bool
    signing: SigningOption
    algorithm: Algorithm
    name_id_format: str | None
    name_id_source: str | None
    require_signed_requests: bool
    include_groups: bool
    preferred_thumbprint: str | None
    app_roles: tuple[dict[str, Any], ...]

    def entity_id_for(self, issuer: str | None) -> str:
        """The identifier this exchange uses: the request's Issuer, else the first configured one."""
        if issuer and issuer in self.entity_ids:
            return issuer
        return self.entity_ids[0] if self.entity_ids else f"spn:{self.app_id}"


def _app(sp: ServicePrincipal, application: Application | None) -> SamlApp:
    options = sp.saml_options if isinstance(sp.saml_options, dict) else {}
    settings = sp.saml_single_sign_on_settings if isinstance(sp.saml_single_sign_on_settings, dict) else {}
    signing = options.get("signing")
    relay = settings.get("relayState")
    return SamlApp(
        sp_id=sp.id,
        tenant_id=sp.tenant_id,
        app_id=sp.app_id,
        display_name=sp.display_name,
        entity_ids=tuple(application.identifier_uris or []) if application else (),
        reply_urls=tuple(application.web_redirect_uris or []) if application else (),
        logout_url=sp.logout_url or (application.logout_url if application else None),
        login_url=sp.login_url,
        relay_state=relay if isinstance(relay, str) and relay else None,
        enabled=sp.account_enabled,
        assignment_required=sp.app_role_assignment_required,
        signing=signing if signing in SIGNING_OPTIONS else "assertion",
        algorithm="rsa-sha1" if options.get("algorithm") == "sha1" else "rsa-sha256",
        name_id_format=options.get("nameIdFormat") or None,
        name_id_source=str(options["nameIdSource"]).lower() if options.get("nameIdSource") else None,
        require_signed_requests=bool(options.get("requireSignedRequests")),
        include_groups=bool(application and application.group_membership_claims not in (None, "None")),
        preferred_thumbprint=sp.preferred_token_signing_key_thumbprint,
        app_roles=tuple(application.app_roles or []) if application else (),
    )


def app_by_entity_id(session: Session, tenant_id: str, entity_id: str) -> SamlApp | None:
    """The SAML app of this tenant one of whose identifier URIs is ``entity_id`` (compared exactly)."""
    rows = session.execute(
        select(ServicePrincipal, Application)
        .join(Application, Application.id == ServicePrincipal.application_id)
        .where(ServicePrincipal.tenant_id == tenant_id, Application.tenant_id == tenant_id)
        .where(ServicePrincipal.preferred_single_sign_on_mode == SAML_MODE)
    )
    for sp, application in rows:
        if entity_id in (application.identifier_uris or []):
            return _app(sp, application)
    return None


def app_by_app_id(session: Session, tenant_id: str, app_id: str) -> SamlApp | None:
    row = session.execute(
        select(ServicePrincipal, Application)
        .outerjoin(Application, Application.id == ServicePrincipal.application_id)
        .where(ServicePrincipal.tenant_id == tenant_id, ServicePrincipal.app_id == app_id)
    ).first()
    if row is None or row[0].preferred_single_sign_on_mode != SAML_MODE:
        return None
    return _app(row[0], row[1])


def _credentials(session: Session, app: SamlApp, purpose: str, now: datetime) -> list[KeyCredential]:
    return list(
        session.scalars(
            select(KeyCredential)
            .where(
                KeyCredential.tenant_id == app.tenant_id,
                KeyCredential.service_principal_id == app.sp_id,
                KeyCredential.purpose == purpose,
                KeyCredential.start_at <= now,
                KeyCredential.end_at > now,
            )
            .order_by(KeyCredential.created_at, KeyCredential.key_id)
        )
    )


def request_certificates(session: Session, app: SamlApp, now: datetime) -> list[x509.Certificate]:
    """The certificates that verify the SP's signed requests."""
    found = []
    for row in _credentials(session, app, REQUEST_VERIFICATION, now):
        try:
            found.append(load_certificate(row.certificate))
        except ValueError:
            continue  # stored by an older writer in a form we cannot read: it verifies nothing
    return found


def published_certificates(session: Session, app: SamlApp, now: datetime) -> list[str]:
    """Every current token-signing certificate (base64 DER), the active one first: what metadata lists."""
    rows = _credentials(session, app, TOKEN_SIGNING, now)
    rows.sort(key=lambda r: r.thumbprint != app.preferred_thumbprint)
    return [r.certificate for r in rows]


class SigningKeys:
    """Token-signing keys unsealed and loaded once per process (loading a PEM costs ~40 ms; a signature ~1 ms)."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box
        self._loaded: dict[tuple[str, str], SigningKey] = {}
        self._lock = threading.Lock()

    def active(self, session: Session, app: SamlApp, now: datetime) -> SigningKey | None:
        """The app's active key: the certificate ``preferredTokenSigningKeyThumbprint`` names, if current."""
        if not app.preferred_thumbprint:
            return None
        for row in _credentials(session, app, TOKEN_SIGNING, now):
            if row.thumbprint == app.preferred_thumbprint and row.private_key:
                return self._load(row)
        return None

    def _load(self, row: KeyCredential) -> SigningKey:
        cache_key = (row.key_id, row.thumbprint)
        found = self._loaded.get(cache_key)
        if found is None:
            pem = open_private_key(self.box, row.key_id, str(row.private_key))
            found = load_signing_key(pem, row.certificate)
            with self._lock:
                self._loaded[cache_key] = found
        return found


def _principals(session: Session, tenant_id: str, user_id: str) -> tuple[set[str], set[str]]:
    """(the user and every group they are in, directly or through nested groups; the groups alone)."""
    groups = transitive_groups(session, tenant_id, user_id) - {user_id}
    return {user_id, *groups}, groups


@dataclass(frozen=True)
class Standing:
    assigned: bool
    roles: tuple[str, ...]
    groups: tuple[str, ...]


def standing(session: Session, app: SamlApp, user_id: str) -> Standing:
    """Whether the user (or a group of theirs) is assigned to the app, the values of their app roles, their groups."""
    principals, groups = _principals(session, app.tenant_id, user_id)
    role_ids = set(
        session.scalars(
            select(AppRoleAssignment.app_role_id).where(
                AppRoleAssignment.tenant_id == app.tenant_id,
                AppRoleAssignment.resource_id == app.sp_id,
                AppRoleAssignment.principal_id.in_(principals),
            )
        )
    )
    values = sorted({str(r["value"]) for r in app.app_roles if r.get("id") in role_ids and r.get("value")})
    return Standing(bool(role_ids), tuple(values), tuple(sorted(groups)))


def _home_issuer(user: User, public_url: str) -> tuple[str | None, str | None]:
    """(the guest's identity issuer, the idp claim) from the federated identity recorded at redemption; the local
    ``userPrincipalName`` identity every user has says nothing about where a guest signs in."""
    federated = [i for i in user.identities or [] if isinstance(i, dict) and i.get("signInType") == "federated"]
    for identity in federated:
        if identity.get("issuer") == HOME_TENANT_ISSUER:
            home = str(identity.get("issuerAssignedId", "")).split("/", 1)[0]
            return HOME_TENANT_ISSUER, f"{public_url}/{home}/" if home else HOME_TENANT_ISSUER
    for identity in federated:
        issuer = identity.get("issuer")
        if isinstance(issuer, str) and issuer:
            return issuer, issuer
    return None, None


def home_tenant_of(user: User) -> str | None:
    """A guest's home tenant, when they redeemed with an account of another tenant of this deployment."""
    for identity in user.identities or []:
        if identity.get("issuer") == HOME_TENANT_ISSUER:
            return str(identity.get("issuerAssignedId", "")).split("/", 1)[0] or None
    return None


def saml_user(user: User, found: Standing, public_url: str, issuer: str) -> SamlUser:
    signed_in_with, idp = _home_issuer(user, public_url) if user.user_type == "Guest" else (None, None)
    return SamlUser(
        object_id=user.id,
        tenant_id=user.tenant_id,
        user_principal_name=user.user_principal_name,
        user_type=user.user_type,
        identity_provider=idp or issuer,
        mail=user.mail,
        given_name=user.given_name,
        surname=user.surname,
        display_name=user.display_name,
        signed_in_with=signed_in_with,
        roles=found.roles,
        groups=found.groups,
    )


def first(values: Iterable[str]) -> str | None:
    return next(iter(values), None)
