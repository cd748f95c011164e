"""Independent SAML service providers for tests: pysaml2's ``Saml2Client`` (signatures checked by the xmlsec1
binary) and python3-saml (OneLogin, python-xmlsec in process), configured against a Hospes identity provider's
metadata. Nothing here is Hospes code except the metadata and key builders used to describe the IdP."""

from __future__ import annotations

import base64
import html
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization

from hospes.auth.certificates import SigningKey, create_signing_certificate, load_signing_key
from hospes.saml.metadata import build_metadata
from tests.helpers.env import REQUIRE_ALL

XMLSEC1 = shutil.which("xmlsec1")

POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


def need_xmlsec1() -> str:
    if XMLSEC1 is None:
        if REQUIRE_ALL:
            pytest.fail("the xmlsec1 binary is required (apt-get install xmlsec1)")
        pytest.skip("pysaml2 needs the xmlsec1 binary, which is not installed")
    return XMLSEC1


@dataclass(frozen=True)
class Party:
    """A key pair and self-signed certificate: the IdP's signing key or an SP's."""

    key: SigningKey
    key_pem: bytes

    @property
    def cert_b64(self) -> str:
        return self.key.der_b64

    @property
    def cert_pem(self) -> str:
        return self.key.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def write(self, directory: Path, name: str) -> tuple[str, str]:
        key_file, cert_file = directory / f"{name}.key", directory / f"{name}.crt"
        key_file.write_bytes(self.key_pem)
        cert_file.write_text(self.cert_pem)
        return str(key_file), str(cert_file)


def new_party(name: str) -> Party:
    made = create_signing_certificate(f"CN={name}")
    return Party(load_signing_key(made.private_key_pem, made.info.der_b64), made.private_key_pem)


@dataclass(frozen=True)
class Idp:
    base: str
    tenant_id: str
    party: Party

    @property
    def entity_id(self) -> str:
        return f"{self.base}/{self.tenant_id}/"

    @property
    def endpoint(self) -> str:
        return f"{self.base}/{self.tenant_id}/saml2"

    def metadata(self, *, published: Party | None = None) -> str:
        cert = (published or self.party).cert_b64
        xml = build_metadata(
            entity_id=self.entity_id, endpoint=self.endpoint, certificates_b64=[cert], signing_key=self.party.key
        )
        return xml.decode()


@dataclass(frozen=True)
class Sp:
    entity_id: str
    acs: str
    slo: str
    party: Party


def pysaml2_client(
    tmp_path: Path,
    idp: Idp,
    sp: Sp,
    *,
    want_assertions_signed: bool = True,
    want_response_signed: bool = False,
    sign_requests: bool = False,
    name_id_format: str | None = None,
    published: Party | None = None,
    sha1: bool = False,
    metadata: str | None = None,
) -> Any:
    """A pysaml2 SP trusting ``idp`` (or, with ``published``, a different certificate in its metadata). It signs
    with RSA-SHA256 unless ``sha1`` (pysaml2's own default)."""
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    binary = need_xmlsec1()
    key_file, cert_file = sp.party.write(tmp_path, "sp")
    sp_conf: dict[str, Any] = {
        "endpoints": {
            "assertion_consumer_service": [(sp.acs, POST)],
            "single_logout_service": [(sp.slo, REDIRECT)],
        },
        "allow_unsolicited": True,
        "allow_unknown_attributes": True,
        "authn_requests_signed": sign_requests,
        "logout_requests_signed": True,
        "want_assertions_signed": want_assertions_signed,
        "want_response_signed": want_response_signed,
    }
    if name_id_format:
        sp_conf["name_id_format"] = [name_id_format]
    if not sha1:
        sp_conf["signing_algorithm"] = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        sp_conf["digest_algorithm"] = "http://www.w3.org/2001/04/xmlenc#sha256"
    config = SPConfig()
    config.load(
        {
            "entityid": sp.entity_id,
            "xmlsec_binary": binary,
            "key_file": key_file,
            "cert_file": cert_file,
            "metadata": {"inline": [metadata or idp.metadata(published=published)]},
            "service": {"sp": sp_conf},
        }
    )
    return Saml2Client(config)


def onelogin_settings(
    idp: Idp,
    sp: Sp,
    *,
    want_assertions_signed: bool = True,
    want_messages_signed: bool = False,
    sign_requests: bool = False,
    name_id_format: str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    idp_cert: str | None = None,
) -> Any:
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": sp.entity_id,
                "assertionConsumerService": {"url": sp.acs, "binding": POST},
                "singleLogoutService": {"url": sp.slo, "binding": REDIRECT},
                "NameIDFormat": name_id_format,
                "x509cert": sp.party.cert_b64,
                "privateKey": sp.party.key_pem.decode(),
            },
            "idp": {
                "entityId": idp.entity_id,
                "singleSignOnService": {"url": idp.endpoint, "binding": REDIRECT},
                "singleLogoutService": {"url": idp.endpoint, "binding": REDIRECT},
                "x509cert": idp_cert or idp.party.cert_b64,
            },
            "security": {
                "authnRequestsSigned": sign_requests,
                "logoutRequestSigned": sign_requests,
                "wantAssertionsSigned": want_assertions_signed,
                "wantMessagesSigned": want_messages_signed,
                "rejectDeprecatedAlgorithm": True,
                "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
                "requestedAuthnContext": False,
                "wantNameId": True,
            },
        },
        sp_validation_only=True,
    )


def onelogin_request_data(url: str, post: dict[str, str] | None = None) -> dict[str, Any]:
    """python3-saml's view of the request that reached ``url`` (it compares Destination with it)."""
    parts = urlsplit(url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": {k: v[0] for k, v in parse_qs(parts.query).items()},
        "post_data": post or {},
    }


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """(action, fields) of the first form of an HTML page that posts a SAML message."""
    action = re.search(r'<form[^>]*action="([^"]*)"', page)
    assert action, page
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)
    }
    return html.unescape(action.group(1)), fields


def query_of(url: str) -> str:
    return urlsplit(url).query


def b64(xml: bytes) -> str:
    return base64.b64encode(xml).decode()


@dataclass(frozen=True)
class SamlAppHandle:
    app_id: str
    sp_id: str
    signing: Party
    idp: Idp


def register_saml_app(
    tenant: Any,
    sessions: Any,
    box: Any,
    sp: Sp,
    *,
    display_name: str = "Contoso Expenses",
    signing: str = "assertion",
    algorithm: str = "sha256",
    require_signed: bool = False,
    verify_with: Party | None = None,
    assignment_required: bool = False,
    relay_state: str | None = None,
    name_id_format: str | None = None,
    base: str = "http://testserver",
) -> SamlAppHandle:
    """An enterprise app set to SAML, as the portal or Graph would leave it: identifier and reply URL, logout URL,
    options, an active token-signing certificate (private key sealed as the Graph writer seals it) and, with
    ``verify_with``, the SP's certificate for signed requests."""
    from datetime import UTC, datetime, timedelta

    from hospes.auth.certificates import seal_private_key
    from hospes.storage.tables import Application, ServicePrincipal
    from hospes.storage.tables_sso import KeyCredential

    created = tenant.post("/applications", json={"displayName": display_name})
    assert created.status_code == 201, created.text
    app_id, object_id = created.json()["appId"], created.json()["id"]
    principal = tenant.post("/servicePrincipals", json={"appId": app_id})
    assert principal.status_code == 201, principal.text
    sp_id = principal.json()["id"]
    party = new_party(f"{display_name} SAML")
    now = datetime.now(UTC)
    with sessions.begin() as session:
        application = session.get(Application, object_id)
        application.identifier_uris = [sp.entity_id]
        application.web_redirect_uris = [sp.acs]
        row = session.get(ServicePrincipal, sp_id)
        row.preferred_single_sign_on_mode = "saml"
        row.logout_url = sp.slo
        row.app_role_assignment_required = assignment_required
        row.saml_single_sign_on_settings = {"relayState": relay_state} if relay_state else {}
        row.saml_options = {
            "signing": signing,
            "algorithm": algorithm,
            "requireSignedRequests": require_signed,
            **({"nameIdFormat": name_id_format} if name_id_format else {}),
        }
        row.preferred_token_signing_key_thumbprint = party.key.thumbprint
        key_id = str(uuid.uuid4())
        session.add(
            KeyCredential(
                key_id=key_id,
                tenant_id=tenant.id,
                service_principal_id=sp_id,
                purpose="token_signing",
                usage="Verify",
                display_name=f"CN={display_name} SAML",
                certificate=party.cert_b64,
                thumbprint=party.key.thumbprint,
                private_key=seal_private_key(box, key_id, party.key_pem),
                start_at=now - timedelta(minutes=1),
                end_at=now + timedelta(days=365),
            )
        )
        if verify_with is not None:
            session.add(
                KeyCredential(
                    key_id=str(uuid.uuid4()),
                    tenant_id=tenant.id,
                    service_principal_id=sp_id,
                    purpose="request_verification",
                    certificate=verify_with.cert_b64,
                    thumbprint=verify_with.key.thumbprint,
                    start_at=now - timedelta(minutes=1),
                    end_at=now + timedelta(days=365),
                )
            )
    return SamlAppHandle(app_id, sp_id, party, Idp(base, tenant.id, party))
