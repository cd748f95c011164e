"""What every SAML module shares: namespaces, the one XML parser (no entities, no network, bounded), the error
carrying an AADSTS code, timestamps and message ids."""

from __future__ import annotations

import re
import secrets
import threading
from datetime import UTC, datetime

from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_REQUEST_UNSUPPORTED = "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported"
STATUS_REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
STATUS_INVALID_NAMEID_POLICY = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
STATUS_NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
STATUS_NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"

AC_PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"

# Bounds on what a peer may send: a real AuthnRequest or LogoutRequest is a few kilobytes.
MAX_ENCODED_BYTES = 64 * 1024
MAX_XML_BYTES = 256 * 1024


class SamlError(Exception):
    """A SAML message refused or a step that cannot go on: ``code`` is the AADSTS number (as text, e.g.
    ``"750054"``), ``message`` the sentence shown after ``AADSTS{code}: ``; ``status`` the SAML second-level status
    a response to the SP would carry."""

    def __init__(self, code: str, message: str, *, status: str = STATUS_REQUEST_UNSUPPORTED) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @property
    def text(self) -> str:
        return f"AADSTS{self.code}: {self.message}"


def invalid_message(detail: str) -> SamlError:
    return SamlError("75005", f"Saml2MessageInvalid - {detail}")


def binding_error(detail: str) -> SamlError:
    return SamlError("75001", f"BindingSerializationError - An error occurred during SAML message binding. {detail}")


_local = threading.local()


def parser() -> etree.XMLParser:
    """This thread's parser: no entities, no network, no huge trees; comments dropped, so text read from a message
    is never cut short by one. (An lxml parser serializes its users; one per thread avoids the wait.)"""
    made: etree.XMLParser | None = getattr(_local, "parser", None)
    if made is None:
        made = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            load_dtd=False,
            dtd_validation=False,
        )
        _local.parser = made
    return made


def parse_xml(data: bytes) -> etree._Element:
    """Parse a message a peer sent. DTDs are refused outright: SAML never needs one, and it is where entity tricks
    live."""
    if len(data) > MAX_XML_BYTES:
        raise invalid_message("The SAML message is too large.")
    try:
        root = etree.fromstring(data, parser=parser())
    except etree.XMLSyntaxError as exc:
        raise invalid_message("The SAML message is not well-formed XML.") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise invalid_message("The SAML message must not carry a document type declaration.")
    return root


# What XML 1.0 cannot carry (its Char production): C0 controls but tab, CR and LF, surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """``value`` without the characters XML cannot hold. Directory attributes are stored as typed (an inviter's
    or an administrator's control characters included); an assertion leaves those out rather than fail."""
    return _NOT_XML.sub("", value)


def new_message_id() -> str:
    """A SAML ID: an xs:ID (so never starting with a digit) with 128 random bits, Entra's ``_`` + UUID shape."""
    raw = secrets.token_hex(16)
    return f"_{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def instant(moment: datetime) -> str:
    """xs:dateTime in UTC with milliseconds and ``Z``, as Entra writes it (``2026-12-03T10:00:00.123Z``)."""
    m = moment.astimezone(UTC)
    # Formatted by hand: strftime cost a tenth of building a Response.
    date = f"{m.year:04d}-{m.month:02d}-{m.day:02d}"
    return f"{date}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond // 1000:03d}Z"


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"
