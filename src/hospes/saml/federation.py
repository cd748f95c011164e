"""Hospes as a SAML service provider, for guests whose organization signs them in (direct federation): the
AuthnRequest sent to the partner's sign-in URL, and the checks of the Response it posts back.

The Response is read only through what its signature covers (signxml's ``signed_xml``), so content wrapped around
or beside a signed element is never believed. Checked: the status, the signature against the partner's configured
certificate (RSA with SHA-2), the issuer, ``Destination`` and ``Recipient`` (this tenant's consumer URL),
``InResponseTo`` (the request this browser's flow sent), the audience (this tenant's entity id), the validity window
(five minutes of clock skew) and a persistent or email subject. Replay (one use per assertion id) and the domain
binding of the email are the caller's: they need the database and the federation's domains.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidInput
from signxml.exceptions import InvalidSignature as XmlInvalidSignature
from signxml.verifier import SignatureConfiguration, XMLVerifier

from hospes.saml.bindings import redirect_url
from hospes.saml.common import (
    DS,
    MD,
    SAML,
    SAMLP,
    STATUS_SUCCESS,
    SamlError,
    instant,
    parse_xml,
    parser,
    q,
)

SKEW = timedelta(minutes=5)
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
EMAIL_CLAIMS = (
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "email",
    "mail",
)
TOKEN_INVALID = "50008"  # the partner's token could not be verified
EMAIL_REFUSED = "5000819"  # no email, or one outside the federation's domains

_SIGNED = dict(
    require_x509=False,
    expect_references=1,
    signature_methods=frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}),
)
_RESPONSE_SIGNED = SignatureConfiguration(location="./", **_SIGNED)  # type: ignore[arg-type]
_ASSERTION_SIGNED = SignatureConfiguration(location=f"./{q(SAML, 'Assertion')}/", **_SIGNED)  # type: ignore[arg-type]


def refused(detail: str) -> SamlError:
    return SamlError(
        TOKEN_INVALID, f"The sign-in answer of your organization's identity provider was refused: {detail}"
    )


@dataclass(frozen=True)
class Expectation:
    """What this Response must say: who signs it, for whom, in answer to which request."""

    certificate: x509.Certificate
    issuer: str  # the partner's issuerUri
    audience: str  # this tenant's entity id, {base}/{tenant id}/
    acs_url: str  # {base}/login.srf
    request_id: str


@dataclass(frozen=True)
class FederatedAssertion:
    assertion_id: str
    issuer: str
    name_id: str
    email: str | None
    expires: datetime  # the end of its validity: the replay record lasts as long
    authn_context: str | None


def authn_request_url(
    *, request_id: str, sign_in_url: str, sp_entity_id: str, acs_url: str, relay_state: str, now: datetime
) -> str:
    """The partner's sign-in URL carrying an AuthnRequest by the HTTP-Redirect binding (unsigned, as Entra's)."""
    root = etree.Element(q(SAMLP, "AuthnRequest"), nsmap={"samlp": SAMLP, "saml": SAML})
    root.set("ID", request_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", instant(now))
    root.set("Destination", sign_in_url)
    root.set("AssertionConsumerServiceURL", acs_url)
    root.set("ProtocolBinding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    etree.SubElement(root, q(SAML, "Issuer")).text = sp_entity_id
    policy = etree.SubElement(root, q(SAMLP, "NameIDPolicy"))
    policy.set("Format", PERSISTENT)
    policy.set("AllowCreate", "true")
    xml = etree.tostring(root)
    return redirect_url(sign_in_url, "SAMLRequest", xml, relay_state=relay_state)


def sp_metadata(*, entity_id: str, acs_url: str) -> bytes:
    """The service provider's metadata a partner imports: its entity id, the consumer URL (HTTP-POST), persistent
    NameIDs, signed assertions wanted, requests unsigned."""
    root = etree.Element(q(MD, "EntityDescriptor"), nsmap={"md": MD})
    root.set("entityID", entity_id)
    sp = etree.SubElement(root, q(MD, "SPSSODescriptor"))
    sp.set("protocolSupportEnumeration", SAMLP)
    sp.set("AuthnRequestsSigned", "false")
    sp.set("WantAssertionsSigned", "true")
    etree.SubElement(sp, q(MD, "NameIDFormat")).text = PERSISTENT
    acs = etree.SubElement(sp, q(MD, "AssertionConsumerService"))
    acs.set("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    acs.set("Location", acs_url)
    acs.set("index", "0")
    acs.set("isDefault", "true")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _time(value: str | None, what: str) -> datetime:
    if not value:
        raise refused(f"the assertion has no {what}.")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise refused(f"the assertion's {what} is not a valid time.") from None


def _verify(xml: bytes, root: etree._Element, certificate: x509.Certificate) -> etree._Element:
    """The signed Assertion: from a signed Response, or the Assertion's own signature."""
    assertions = root.findall(q(SAML, "Assertion"))
    if len(assertions) != 1 or root.find(q(SAML, "EncryptedAssertion")) is not None:
        raise refused("the response must carry exactly one (unencrypted) assertion.")
    whole = root.find(q(DS, "Signature")) is not None
    config = _RESPONSE_SIGNED if whole else _ASSERTION_SIGNED
    try:
        result = XMLVerifier().verify(
            xml, x509_cert=certificate, parser=parser(), id_attribute="ID", expect_config=config
        )
    except (XmlInvalidSignature, InvalidInput, etree.LxmlError, ValueError, LookupError, TypeError):
        raise refused("its signature is missing or not valid for the configured signing certificate.") from None
    signed = result.signed_xml  # type: ignore[union-attr]
    if signed is None:
        raise refused("its signature covers nothing.")
    if whole:
        inner = signed.findall(q(SAML, "Assertion"))
        if len(inner) != 1:
            raise refused("the response must carry exactly one assertion.")
        return inner[0]
    if signed.tag != q(SAML, "Assertion"):
        raise refused("the signature does not cover the assertion.")
    return signed


def _check_window(assertion: etree._Element, expect: Expectation, now: datetime) -> datetime:
    conditions = assertion.find(q(SAML, "Conditions"))
    if conditions is None:
        raise refused("the assertion has no conditions.")
    not_before = conditions.get("NotBefore")
    if not_before and _time(not_before, "NotBefore") > now + SKEW:
        raise refused("the assertion is not valid yet (check the clocks).")
    expires = _time(conditions.get("NotOnOrAfter"), "NotOnOrAfter")
    if expires <= now - SKEW:
        raise refused("the assertion has expired.")
    # Each AudienceRestriction must name this tenant: several restrict the assertion to their intersection.
    restrictions = conditions.findall(q(SAML, "AudienceRestriction"))
    if not restrictions or any(
        expect.audience not in [(a.text or "").strip() for a in r.findall(q(SAML, "Audience"))] for r in restrictions
    ):
        raise refused(f"it is meant for another audience (expected '{expect.audience}').")
    return expires


def _check_subject(assertion: etree._Element, expect: Expectation, now: datetime) -> tuple[str, datetime | None]:
    subject = assertion.find(q(SAML, "Subject"))
    name_id = subject.find(q(SAML, "NameID")) if subject is not None else None
    if subject is None or name_id is None or not (name_id.text or "").strip():
        raise refused("the assertion names no subject.")
    bearer = [c for c in subject.findall(q(SAML, "SubjectConfirmation")) if c.get("Method") == BEARER]
    data = bearer[0].find(q(SAML, "SubjectConfirmationData")) if bearer else None
    if data is None:
        raise refused("the assertion has no bearer subject confirmation.")
    if data.get("Recipient") != expect.acs_url:
        raise refused(f"it is addressed to another recipient (expected '{expect.acs_url}').")
    if data.get("InResponseTo") != expect.request_id:
        raise refused("it does not answer the sign-in request of this browser.")
    until = data.get("NotOnOrAfter")
    limit = _time(until, "subject NotOnOrAfter") if until else None
    if limit is not None and limit <= now - SKEW:
        raise refused("the assertion has expired.")
    return (name_id.text or "").strip(), limit


def _email(assertion: etree._Element, name_id: str) -> str | None:
    statement = assertion.find(q(SAML, "AttributeStatement"))
    if statement is not None:
        for attribute in statement.findall(q(SAML, "Attribute")):
            if attribute.get("Name") in EMAIL_CLAIMS:
                value = attribute.find(q(SAML, "AttributeValue"))
                if value is not None and (value.text or "").strip():
                    return (value.text or "").strip()
    subject_id = assertion.find(f"{q(SAML, 'Subject')}/{q(SAML, 'NameID')}")
    if subject_id is not None and (subject_id.get("Format") or "").endswith(":emailAddress") and "@" in name_id:
        return name_id
    return None


def read_response(xml: bytes, expect: Expectation, now: datetime) -> FederatedAssertion:
    """The assertion of a partner's Response, every check above passed; else ``SamlError`` (AADSTS50008)."""
    root = parse_xml(xml)
    if root.tag != q(SAMLP, "Response"):
        raise refused("it is not a SAML Response.")
    code = root.find(f"{q(SAMLP, 'Status')}/{q(SAMLP, 'StatusCode')}")
    if code is None or code.get("Value") != STATUS_SUCCESS:
        status = code.get("Value", "") if code is not None else "none"
        raise SamlError(TOKEN_INVALID, f"Your organization's identity provider did not sign you in ({status[-40:]}).")
    destination = root.get("Destination")
    if destination is not None and destination != expect.acs_url:
        raise refused(f"it is addressed to another destination (expected '{expect.acs_url}').")
    if root.get("InResponseTo") not in (None, expect.request_id):
        raise refused("it does not answer the sign-in request of this browser.")
    assertion = _verify(xml, root, expect.certificate)
    issuer = assertion.find(q(SAML, "Issuer"))
    if issuer is None or (issuer.text or "").strip() != expect.issuer:
        raise refused(f"it was issued by another identity provider (expected '{expect.issuer}').")
    assertion_id = assertion.get("ID") or ""
    if not assertion_id:
        raise refused("the assertion has no ID.")
    expires = _check_window(assertion, expect, now)
    name_id, confirmation_limit = _check_subject(assertion, expect, now)
    context = assertion.find(f"{q(SAML, 'AuthnStatement')}/{q(SAML, 'AuthnContext')}/{q(SAML, 'AuthnContextClassRef')}")
    return FederatedAssertion(
        assertion_id=assertion_id,
        issuer=expect.issuer,
        name_id=name_id,
        email=_email(assertion, name_id),
        expires=max(expires, confirmation_limit or expires),
        authn_context=(context.text or "").strip() if context is not None else None,
    )
