"""Guests' own identity providers, as Graph shapes them: SAML 2.0 direct federation
(``samlOrWsFedExternalDomainFederation``, bound to email domains) and OpenID Connect federation
(``oidcIdentityProvider``). Bodies are checked here, before anything is stored; no I/O.

An OpenID provider may be bound to email domains too (``domains``, a Hospes property): a guest whose address is
in one of them redeems and signs in there. One without domains is offered as a button on the guest sign-in page,
and then only a verified email (``email_verified``) names the guest.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from hospes.domain.errors import InvalidInputError

SAML_TYPE = "#microsoft.graph.samlOrWsFedExternalDomainFederation"
OIDC_TYPE = "#microsoft.graph.oidcIdentityProvider"
DOMAIN_TYPE = "#microsoft.graph.externalDomainName"
SECRET_AUTH = "#microsoft.graph.oidcClientSecretAuthentication"
PRIVATE_JWT_AUTH = "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"

KIND_SAML, KIND_OIDC = "saml", "oidc"
MAX_DOMAINS = 100
CLAIM_KEYS = ("sub", "name", "given_name", "family_name", "email", "email_verified")
SECRET_MASK = "******"  # what a read answers for a client secret

_TENANT_ISSUER = re.compile(r"/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/v2\.0/?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class SamlForm:
    display_name: str
    issuer: str
    settings: dict[
        str, Any
    ]  # passiveSignInUri, metadataExchangeUri, preferredAuthenticationProtocol, signingCertificate
    domains: tuple[str, ...]


@dataclass(frozen=True)
class OidcForm:
    display_name: str
    issuer: str
    settings: dict[str, Any]  # clientId, wellKnownEndpoint, responseType, scope, inboundClaimMapping
    client_secret: str | None  # None: unchanged (an update without clientAuthentication)
    domains: tuple[str, ...] | None  # None: unchanged


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    return body


def _only(body: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    for key in body:
        if key != "@odata.type" and key not in allowed:
            raise InvalidInputError(f"Property '{key}' does not exist on type '{what}' or is read-only.", target=key)


def _text(body: dict[str, Any], key: str, *, required: bool, limit: int = 256) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInputError(f"'{key}' is required.", target=key)
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"'{key}' must be a non-empty string.", target=key)
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise InvalidInputError(f"'{key}' must be at most {limit} printable characters.", target=key)
    return value.strip()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(body: dict[str, Any], key: str, *, required: bool, loopback_http: bool = False) -> str | None:
    """An https URL (plain http only on a loopback address, where ``loopback_http``: a partner on this machine)."""
    value = _text(body, key, required=required, limit=2048)
    if value is None:
        return None
    parts = urlsplit(value)
    host = parts.hostname or ""
    plain_ok = loopback_http and parts.scheme == "http" and is_loopback(host)
    if not host or parts.username or parts.password or (parts.scheme != "https" and not plain_ok):
        raise InvalidInputError(f"'{key}' must be an https URL.", target=key)
    return value


def domain_name(value: Any) -> str:
    """An email domain a federation is bound to, lower-cased."""
    if not isinstance(value, str) or not _DOMAIN.match(value.strip().lower()):
        raise InvalidInputError(f"'{str(value)[:64]}' is not a valid domain name.", target="domains")
    return value.strip().lower()


def domain_entry(value: Any) -> str:
    """One ``externalDomainName`` (``{"id": "fabrikam.example"}``) of a request."""
    if not isinstance(value, dict) or set(value) - {"@odata.type", "id"}:
        raise InvalidInputError("A domain is an object with an 'id' (the domain name).", target="domains")
    if value.get("@odata.type", DOMAIN_TYPE) not in (DOMAIN_TYPE, DOMAIN_TYPE[1:]):
        raise InvalidInputError(f"A domain's @odata.type must be '{DOMAIN_TYPE}'.", target="domains")
    return domain_name(value.get("id"))


def _domains(body: dict[str, Any], *, required: bool) -> tuple[str, ...] | None:
    raw = body.get("domains")
    if raw is None:
        if required:
            raise InvalidInputError("'domains' must list at least one domain.", target="domains")
        return None
    if not isinstance(raw, list) or (required and not raw) or len(raw) > MAX_DOMAINS:
        raise InvalidInputError(f"'domains' must list between 1 and {MAX_DOMAINS} domains.", target="domains")
    names = tuple(dict.fromkeys(domain_entry(d) for d in raw))
    return names


def certificate(value: str) -> x509.Certificate:
    """The partner's signing certificate: base64 DER (as Graph carries it; a PEM is accepted too), RSA."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        text = "".join(line for line in text.splitlines() if not line.startswith("-----"))
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
    except (binascii.Error, ValueError):
        raise InvalidInputError(
            "'signingCertificate' must be an X.509 certificate in base64 (DER).", target="signingCertificate"
        ) from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise InvalidInputError("'signingCertificate' must hold an RSA key.", target="signingCertificate")
    return cert


def _certificate_text(value: str) -> str:
    cert = certificate(value)
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


_SAML_FIELDS = (
    "displayName",
    "issuerUri",
    "passiveSignInUri",
    "metadataExchangeUri",
    "preferredAuthenticationProtocol",
    "signingCertificate",
)


def _check_type(body: dict[str, Any], expected: str, *, required: bool) -> None:
    kind = body.get("@odata.type")
    if kind is None and not required:
        return
    if kind not in (expected, expected[1:]):
        raise InvalidInputError(f"'@odata.type' must be '{expected}'.", target="@odata.type")


def _saml_settings(body: dict[str, Any], *, required: bool) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    passive = _url(body, "passiveSignInUri", required=required)
    if passive is not None:
        settings["passiveSignInUri"] = passive
    if "metadataExchangeUri" in body:
        settings["metadataExchangeUri"] = _url(body, "metadataExchangeUri", required=False)
    protocol = body.get("preferredAuthenticationProtocol", "saml" if required else None)
    if protocol is not None:
        if protocol == "wsFed":
            raise InvalidInputError(
                "WS-Federation is not supported; use 'saml'.", target="preferredAuthenticationProtocol"
            )
        if protocol != "saml":
            raise InvalidInputError(
                "'preferredAuthenticationProtocol' must be 'saml'.", target="preferredAuthenticationProtocol"
            )
        settings["preferredAuthenticationProtocol"] = protocol
    cert = body.get("signingCertificate")
    if cert is None and required:
        raise InvalidInputError("'signingCertificate' is required.", target="signingCertificate")
    if cert is not None:
        if not isinstance(cert, str) or len(cert) > 16384:
            raise InvalidInputError(
                "'signingCertificate' must be a certificate in base64.", target="signingCertificate"
            )
        settings["signingCertificate"] = _certificate_text(cert)
    return settings


def parse_saml(body: Any) -> SamlForm:
    """A ``POST /directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation`` body."""
    body = _object(body)
    _check_type(body, SAML_TYPE, required=False)
    _only(body, (*_SAML_FIELDS, "domains"), "samlOrWsFedExternalDomainFederation")
    name = _text(body, "displayName", required=True)
    issuer = _text(body, "issuerUri", required=True, limit=1024)
    assert name is not None and issuer is not None
    domains = _domains(body, required=True)
    assert domains is not None
    return SamlForm(name, issuer, _saml_settings(body, required=True), domains)


def parse_saml_update(body: Any) -> dict[str, Any]:
    """A PATCH: the properties it changes (``displayName``, ``issuerUri``, and the settings)."""
    body = _object(body)
    _check_type(body, SAML_TYPE, required=False)
    _only(body, _SAML_FIELDS, "samlOrWsFedExternalDomainFederation")
    out: dict[str, Any] = {}
    if "displayName" in body:
        out["displayName"] = _text(body, "displayName", required=True)
    if "issuerUri" in body:
        out["issuerUri"] = _text(body, "issuerUri", required=True, limit=1024)
    out["settings"] = _saml_settings(body, required=False)
    return out


_OIDC_FIELDS = (
    "displayName",
    "clientId",
    "issuer",
    "wellKnownEndpoint",
    "responseType",
    "scope",
    "clientAuthentication",
    "inboundClaimMapping",
    "domains",
)


def _client_secret(body: dict[str, Any]) -> str | None:
    auth = body.get("clientAuthentication")
    if auth is None:
        return None
    if not isinstance(auth, dict):
        raise InvalidInputError("'clientAuthentication' must be an object.", target="clientAuthentication")
    kind = auth.get("@odata.type")
    if kind in (PRIVATE_JWT_AUTH, PRIVATE_JWT_AUTH[1:]):
        raise InvalidInputError(
            "Private key JWT client authentication is not supported; use a client secret.",
            target="clientAuthentication",
        )
    if kind not in (SECRET_AUTH, SECRET_AUTH[1:]) or set(auth) - {"@odata.type", "clientSecret"}:
        raise InvalidInputError(
            f"'clientAuthentication' must be a '{SECRET_AUTH}' with a 'clientSecret'.", target="clientAuthentication"
        )
    return _text(auth, "clientSecret", required=True, limit=1024)


def _claim_mapping(body: dict[str, Any]) -> dict[str, str] | None:
    raw = body.get("inboundClaimMapping")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInputError("'inboundClaimMapping' must be an object.", target="inboundClaimMapping")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if key == "@odata.type":
            continue
        if key not in CLAIM_KEYS:
            raise InvalidInputError(
                f"'inboundClaimMapping' maps only {', '.join(CLAIM_KEYS)}.", target="inboundClaimMapping"
            )
        if value is not None:
            out[key] = str(_text(raw, key, required=True, limit=128))
    return out


def _oidc_settings(body: dict[str, Any], *, required: bool) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    client_id = _text(body, "clientId", required=required)
    if client_id is not None:
        settings["clientId"] = client_id
    known = _url(body, "wellKnownEndpoint", required=required, loopback_http=True)
    if known is not None:
        settings["wellKnownEndpoint"] = known
    response_type = body.get("responseType", "code" if required else None)
    if response_type is not None:
        if response_type != "code":
            raise InvalidInputError("'responseType' must be 'code' (authorization code flow).", target="responseType")
        settings["responseType"] = "code"
    scope = _text(body, "scope", required=False, limit=512)
    if scope is None and required:
        scope = "openid profile email"
    if scope is not None:
        if "openid" not in scope.split():
            raise InvalidInputError("'scope' must include 'openid'.", target="scope")
        settings["scope"] = " ".join(scope.split())
    mapping = _claim_mapping(body)
    if mapping is not None:
        settings["inboundClaimMapping"] = mapping
    return settings


def parse_oidc(body: Any) -> OidcForm:
    """A ``POST /identity/identityProviders`` body for an ``oidcIdentityProvider``."""
    body = _object(body)
    _check_type(body, OIDC_TYPE, required=True)
    _only(body, _OIDC_FIELDS, "oidcIdentityProvider")
    name = _text(body, "displayName", required=True)
    issuer = _url(body, "issuer", required=True, loopback_http=True)
    secret = _client_secret(body)
    if secret is None:
        raise InvalidInputError(
            "'clientAuthentication' with a 'clientSecret' is required.", target="clientAuthentication"
        )
    assert name is not None and issuer is not None
    return OidcForm(name, issuer, _oidc_settings(body, required=True), secret, _domains(body, required=False) or ())


def parse_oidc_update(body: Any) -> OidcForm:
    body = _object(body)
    _check_type(body, OIDC_TYPE, required=False)
    _only(body, _OIDC_FIELDS, "oidcIdentityProvider")
    name = _text(body, "displayName", required=True) if "displayName" in body else ""
    issuer = _url(body, "issuer", required=True, loopback_http=True) if "issuer" in body else ""
    return OidcForm(
        name or "", issuer or "", _oidc_settings(body, required=False), _client_secret(body), _domains_update(body)
    )


def _domains_update(body: dict[str, Any]) -> tuple[str, ...] | None:
    if "domains" not in body:
        return None
    raw = body["domains"]
    if raw == []:
        return ()
    return _domains(body, required=True)


def email_domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


def tenant_of_issuer(issuer: str) -> str | None:
    """The tenant id in a Hospes (or Entra v2) tenant issuer, ``…/{tenant id}/v2.0``; None for other issuers."""
    found = _TENANT_ISSUER.search(issuer.lower())
    return found.group(1) if found else None
