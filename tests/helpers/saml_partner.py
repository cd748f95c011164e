"""A partner organization's SAML identity provider for direct-federation tests: Responses built with lxml and
signed with signxml (each field settable, to build wrong ones), and the AuthnRequest Hospes sends, read back from
the redirect URL."""

from __future__ import annotations

import base64
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from tests.helpers.saml import Party, new_party

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
ISSUER = "https://idp.fabrikam.example/issuer"
SIGN_IN = "https://idp.fabrikam.example/sso"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class AssertionSpec:
    """Everything a Response says; defaults are a valid answer to ``request_id``."""

    request_id: str
    audience: str
    acs: str
    email: str | None
    issuer: str = ISSUER
    name_id: str = field(default_factory=lambda: "persistent-" + uuid.uuid4().hex)
    assertion_id: str = field(default_factory=lambda: "_" + uuid.uuid4().hex)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    lifetime: timedelta = timedelta(minutes=10)
    status: str = "urn:oasis:names:tc:SAML:2.0:status:Success"
    sign: str = "assertion"  # assertion | response | none
    other_restriction: str | None = None  # an AudienceRestriction naming only this audience, before ours


def authn_request_of(location: str) -> tuple[etree._Element, str]:
    """The AuthnRequest in a Redirect-binding URL, and its RelayState."""
    query = parse_qs(urlsplit(location).query)
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -zlib.MAX_WBITS)
    return etree.fromstring(xml), query["RelayState"][0]


def _signer() -> XMLSigner:
    return XMLSigner(
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )


def _placeholder() -> etree._Element:
    element = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
    element.set("Id", "placeholder")
    return element


def build_response(spec: AssertionSpec, party: Party) -> bytes:
    now, until = spec.now, spec.now + spec.lifetime
    response = etree.Element(f"{{{SAMLP}}}Response", nsmap={"samlp": SAMLP, "saml": SAML})
    response.set("ID", "_" + uuid.uuid4().hex)
    response.set("Version", "2.0")
    response.set("IssueInstant", _stamp(now))
    response.set("Destination", spec.acs)
    response.set("InResponseTo", spec.request_id)
    etree.SubElement(response, f"{{{SAML}}}Issuer").text = spec.issuer
    if spec.sign == "response":
        response.append(_placeholder())
    status = etree.SubElement(response, f"{{{SAMLP}}}Status")
    etree.SubElement(status, f"{{{SAMLP}}}StatusCode").set("Value", spec.status)
    assertion = etree.SubElement(response, f"{{{SAML}}}Assertion")
    assertion.set("ID", spec.assertion_id)
    assertion.set("Version", "2.0")
    assertion.set("IssueInstant", _stamp(now))
    etree.SubElement(assertion, f"{{{SAML}}}Issuer").text = spec.issuer
    if spec.sign == "assertion":
        assertion.append(_placeholder())
    subject = etree.SubElement(assertion, f"{{{SAML}}}Subject")
    name_id = etree.SubElement(subject, f"{{{SAML}}}NameID")
    name_id.set("Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
    name_id.text = spec.name_id
    confirmation = etree.SubElement(subject, f"{{{SAML}}}SubjectConfirmation")
    confirmation.set("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
    data = etree.SubElement(confirmation, f"{{{SAML}}}SubjectConfirmationData")
    data.set("InResponseTo", spec.request_id)
    data.set("NotOnOrAfter", _stamp(until))
    data.set("Recipient", spec.acs)
    conditions = etree.SubElement(assertion, f"{{{SAML}}}Conditions")
    conditions.set("NotBefore", _stamp(now - timedelta(seconds=30)))
    conditions.set("NotOnOrAfter", _stamp(until))
    if spec.other_restriction is not None:
        other = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
        etree.SubElement(other, f"{{{SAML}}}Audience").text = spec.other_restriction
    restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
    etree.SubElement(restriction, f"{{{SAML}}}Audience").text = spec.audience
    if spec.email is not None:
        statement = etree.SubElement(assertion, f"{{{SAML}}}AttributeStatement")
        attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute")
        attribute.set("Name", EMAIL)
        etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = spec.email
    authn = etree.SubElement(assertion, f"{{{SAML}}}AuthnStatement")
    authn.set("AuthnInstant", _stamp(now))
    context = etree.SubElement(authn, f"{{{SAML}}}AuthnContext")
    ref = etree.SubElement(context, f"{{{SAML}}}AuthnContextClassRef")
    ref.text = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
    if spec.sign == "none":
        return etree.tostring(response)
    target = spec.assertion_id if spec.sign == "assertion" else response.get("ID")
    signed = _signer().sign(response, key=party.key.key, cert=party.cert_pem, reference_uri="#" + str(target))
    return etree.tostring(signed)


def tamper_email(xml: bytes, new_email: str) -> bytes:
    """The same signed Response with the email attribute changed afterwards (the signature no longer matches)."""
    root = etree.fromstring(xml)
    for value in root.iter(f"{{{SAML}}}AttributeValue"):
        value.text = new_email
    return etree.tostring(root)


def federation_body(party: Party, domains: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "@odata.type": "microsoft.graph.samlOrWsFedExternalDomainFederation",
        "displayName": "Fabrikam IdP",
        "issuerUri": ISSUER,
        "passiveSignInUri": SIGN_IN,
        "preferredAuthenticationProtocol": "saml",
        "signingCertificate": party.cert_b64,
        "domains": [{"@odata.type": "microsoft.graph.externalDomainName", "id": d} for d in domains],
        **extra,
    }


def form_of(xml: bytes, relay_state: str) -> dict[str, str]:
    return {"SAMLResponse": base64.b64encode(xml).decode(), "RelayState": relay_state}


def pysaml2_idp(tmp_path: Any, party: Party, sp_entity_id: str, acs: str, sp_metadata: str | None = None) -> Any:
    """pysaml2's identity provider (``saml2.server.Server``, signing through the xmlsec1 binary) as the partner,
    knowing Hospes' service provider of one tenant by inline metadata (``sp_metadata``: what Hospes publishes)."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT
    from saml2.server import Server

    from tests.helpers.saml import need_xmlsec1

    binary = need_xmlsec1()
    key_file, cert_file = party.write(tmp_path, "partner-idp")
    metadata = (
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{sp_entity_id}">'
        '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"<md:NameIDFormat>{NAMEID_FORMAT_PERSISTENT}</md:NameIDFormat>"
        f'<md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{acs}" index="0"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    )
    policy = {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None, "name_form": NAME_FORMAT_URI}}
    config = IdPConfig()
    config.load(
        {
            "entityid": ISSUER,
            "xmlsec_binary": binary,
            "key_file": key_file,
            "cert_file": cert_file,
            "metadata": {"inline": [sp_metadata or metadata]},
            "service": {
                "idp": {
                    "endpoints": {"single_sign_on_service": [(SIGN_IN, BINDING_HTTP_REDIRECT)]},
                    "policy": policy,
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                }
            },
        }
    )
    return Server(config=config)


def pysaml2_answer(server: Any, location: str, email: str, name_id: str, *, sign_response: bool = False) -> bytes:
    """pysaml2's Response to the AuthnRequest in ``location`` (Hospes' redirect to the partner)."""
    from saml2 import BINDING_HTTP_REDIRECT
    from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID

    query = parse_qs(urlsplit(location).query)
    request = server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
    response = server.create_authn_response(
        identity={EMAIL: [email]},
        userid=name_id,
        name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=name_id),
        sign_assertion=not sign_response,
        sign_response=sign_response,
        sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
        **server.response_args(request.message),
    )
    return str(response).encode()


__all__ = [
    "AssertionSpec",
    "Party",
    "authn_request_of",
    "build_response",
    "federation_body",
    "form_of",
    "new_party",
    "pysaml2_answer",
    "pysaml2_idp",
    "tamper_email",
]
