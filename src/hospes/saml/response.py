"""Building the SAML Response in Entra's layout: ``samlp:Response`` (Issuer, Status) around an ``Assertion``
(Issuer, Signature, Subject, Conditions, AttributeStatement, AuthnStatement) in the assertion namespace as the
default one, signed per the app's signing option. Error responses carry nested status codes and the AADSTS text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from lxml import etree

from hospes.auth.certificates import SigningKey
from hospes.saml.common import (
    AC_PASSWORD,
    SAML,
    SAMLP,
    STATUS_REQUESTER,
    STATUS_SUCCESS,
    SamlError,
    instant,
    new_message_id,
    q,
    xml_text,
)
from hospes.saml.nameid import NameId
from hospes.saml.signing import Algorithm, placeholder, sign

SigningOption = Literal["assertion", "response", "both"]
SIGNING_OPTIONS: tuple[SigningOption, ...] = ("assertion", "response", "both")

CONFIRMATION_LIFETIME = timedelta(minutes=5)
ASSERTION_LIFETIME = timedelta(minutes=70)
_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


@dataclass(frozen=True)
class Signing:
    key: SigningKey
    option: SigningOption = "assertion"
    algorithm: Algorithm = "rsa-sha256"


@dataclass(frozen=True)
class Authentication:
    """The sign-in the assertion states."""

    name_id: NameId
    attributes: Sequence[tuple[str, Sequence[str]]]  # in order, as the claims were resolved
    authn_instant: datetime
    session_index: str
    authn_context: str = AC_PASSWORD


@dataclass(frozen=True)
class Addressing:
    """Who the response is from and for. ``in_response_to`` is None for an unsolicited (IdP-initiated) response."""

    issuer: str  # {base}/{tenant id}/
    destination: str  # the ACS
    audience: str  # the SP's entity id as configured
    in_response_to: str | None
    now: datetime


def audience_value(entity_id: str) -> str:
    """Entra's Audience: the identifier itself when it is a URI, else ``spn:`` + identifier."""
    return entity_id if _URI.match(entity_id) else f"spn:{entity_id}"


def _response(addressing: Addressing) -> tuple[etree._Element, str]:
    response_id = new_message_id()
    response = etree.Element(q(SAMLP, "Response"), nsmap={"samlp": SAMLP})
    response.set("ID", response_id)
    response.set("Version", "2.0")
    response.set("IssueInstant", instant(addressing.now))
    response.set("Destination", addressing.destination)
    if addressing.in_response_to:
        response.set("InResponseTo", addressing.in_response_to)
    issuer = etree.SubElement(response, q(SAML, "Issuer"), nsmap={None: SAML})
    issuer.text = addressing.issuer
    return response, response_id


def _status(parent: etree._Element, top: str, second: str | None = None, message: str | None = None) -> None:
    status = etree.SubElement(parent, q(SAMLP, "Status"))
    code = etree.SubElement(status, q(SAMLP, "StatusCode"))
    code.set("Value", top)
    if second:
        etree.SubElement(code, q(SAMLP, "StatusCode")).set("Value", second)
    if message:
        etree.SubElement(status, q(SAMLP, "StatusMessage")).text = xml_text(message)


def _assertion(parent: etree._Element, addressing: Addressing, auth: Authentication) -> str:
    now = addressing.now
    assertion_id = new_message_id()
    assertion = etree.SubElement(parent, q(SAML, "Assertion"), nsmap={None: SAML})
    assertion.set("ID", assertion_id)
    assertion.set("IssueInstant", instant(now))
    assertion.set("Version", "2.0")
    etree.SubElement(assertion, q(SAML, "Issuer")).text = addressing.issuer
    subject = etree.SubElement(assertion, q(SAML, "Subject"))
    name_id = etree.SubElement(subject, q(SAML, "NameID"))
    name_id.set("Format", auth.name_id.format)
    if auth.name_id.sp_name_qualifier:
        name_id.set("SPNameQualifier", auth.name_id.sp_name_qualifier)
    name_id.text = xml_text(auth.name_id.value)
    confirmation = etree.SubElement(subject, q(SAML, "SubjectConfirmation"))
    confirmation.set("Method", _BEARER)
    data = etree.SubElement(confirmation, q(SAML, "SubjectConfirmationData"))
    if addressing.in_response_to:
        data.set("InResponseTo", addressing.in_response_to)
    data.set("NotOnOrAfter", instant(now + CONFIRMATION_LIFETIME))
    data.set("Recipient", addressing.destination)
    conditions = etree.SubElement(assertion, q(SAML, "Conditions"))
    conditions.set("NotBefore", instant(now))
    conditions.set("NotOnOrAfter", instant(now + ASSERTION_LIFETIME))
    restriction = etree.SubElement(conditions, q(SAML, "AudienceRestriction"))
    etree.SubElement(restriction, q(SAML, "Audience")).text = audience_value(addressing.audience)
    if auth.attributes:
        statement = etree.SubElement(assertion, q(SAML, "AttributeStatement"))
        for name, values in auth.attributes:
            attribute = etree.SubElement(statement, q(SAML, "Attribute"))
            attribute.set("Name", xml_text(name))
            for value in values:
                etree.SubElement(attribute, q(SAML, "AttributeValue")).text = xml_text(value)
    authn = etree.SubElement(assertion, q(SAML, "AuthnStatement"))
    authn.set("AuthnInstant", instant(auth.authn_instant))
    authn.set("SessionIndex", auth.session_index)
    context = etree.SubElement(authn, q(SAML, "AuthnContext"))
    etree.SubElement(context, q(SAML, "AuthnContextClassRef")).text = auth.authn_context
    return assertion_id


def build_response(addressing: Addressing, auth: Authentication, signing: Signing) -> bytes:
    """The signed Response, serialized (UTF-8, no XML declaration, as Entra sends it)."""
    root, response_id = _response(addressing)
    _status(root, STATUS_SUCCESS)
    assertion_id = _assertion(root, addressing, auth)
    if signing.option in ("assertion", "both"):
        assertion = root[2]
        assertion.insert(1, placeholder())
        root = sign(root, reference_id=assertion_id, key=signing.key, algorithm=signing.algorithm)
    if signing.option in ("response", "both"):
        root.insert(1, placeholder())
        root = sign(root, reference_id=response_id, key=signing.key, algorithm=signing.algorithm)
    data: bytes = etree.tostring(root, encoding="utf-8")
    return data


def build_error_response(
    addressing: Addressing, error: SamlError, signing: Signing, *, trace_id: str, top: str = STATUS_REQUESTER
) -> bytes:
    """A Response without an assertion: ``top`` › ``error.status`` and Entra's StatusMessage (AADSTS text, trace id,
    timestamp). Signed at the response level whatever the app's option, since there is no assertion to sign."""
    root, response_id = _response(addressing)
    stamp = addressing.now.strftime("%Y-%m-%d %H:%M:%SZ")
    _status(root, top, error.status, f"{error.text}\r\nTrace ID: {trace_id}\r\nTimestamp: {stamp}")
    root.insert(1, placeholder())
    root = sign(root, reference_id=response_id, key=signing.key, algorithm=signing.algorithm)
    data: bytes = etree.tostring(root, encoding="utf-8")
    return data
