"""Single logout messages: reading an SP's LogoutRequest (and the LogoutResponses of the other participants), and
building the LogoutRequest Hospes sends to each other participant and the LogoutResponse to the initiator. They
travel by HTTP-Redirect, signed over the query string (``bindings.redirect_url``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from lxml import etree

from hospes.saml.authn_request import check_id, verified_root
from hospes.saml.bindings import InboundMessage
from hospes.saml.common import (
    SAML,
    SAMLP,
    STATUS_SUCCESS,
    SamlError,
    instant,
    invalid_message,
    new_message_id,
    q,
    xml_text,
)
from hospes.saml.nameid import NameId


@dataclass(frozen=True)
class LogoutRequest:
    id: str
    issuer: str
    name_id: str | None
    name_id_format: str | None
    session_indexes: tuple[str, ...]
    relay_state: str | None
    signed: bool


@dataclass(frozen=True)
class LogoutResponse:
    in_response_to: str | None
    issuer: str | None
    status: str | None
    signed: bool


def _issuer(root: etree._Element) -> str:
    element = root.find(q(SAML, "Issuer"))
    return (element.text or "").strip() if element is not None else ""


def _parse_instant(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid_message("A SAML timestamp is not a valid xs:dateTime.") from exc


def read_logout_request(
    message: InboundMessage,
    certificates: Sequence[x509.Certificate],
    *,
    now: datetime,
    require_signed: bool = False,
) -> LogoutRequest:
    root, signed = verified_root(message, certificates, require_signed=require_signed)
    if root.tag != q(SAMLP, "LogoutRequest"):
        raise invalid_message("The SAML message is not a LogoutRequest.")
    request_id = check_id(root.get("ID"))
    if root.get("Version") != "2.0":
        raise invalid_message("The LogoutRequest's Version must be 2.0.")
    issuer = _issuer(root)
    if not issuer:
        raise invalid_message("The LogoutRequest has no Issuer.")
    expires = root.get("NotOnOrAfter")
    if expires is not None:
        moment = _parse_instant(expires)
        if moment.tzinfo is None or moment <= now:
            raise SamlError("50071", "SignoutMessageExpired - The logout request has expired.")
    name_id = root.find(q(SAML, "NameID"))
    indexes = tuple((el.text or "").strip() for el in root.findall(q(SAMLP, "SessionIndex")))
    return LogoutRequest(
        id=request_id,
        issuer=issuer,
        name_id=(name_id.text or "").strip() or None if name_id is not None else None,
        name_id_format=name_id.get("Format") if name_id is not None else None,
        session_indexes=tuple(i for i in indexes if i),
        relay_state=message.relay_state,
        signed=signed,
    )


def read_logout_response(message: InboundMessage, certificates: Sequence[x509.Certificate]) -> LogoutResponse:
    root, signed = verified_root(message, certificates, require_signed=False)
    if root.tag != q(SAMLP, "LogoutResponse"):
        raise invalid_message("The SAML message is not a LogoutResponse.")
    code = root.find(f"{q(SAMLP, 'Status')}/{q(SAMLP, 'StatusCode')}")
    return LogoutResponse(
        in_response_to=root.get("InResponseTo"),
        issuer=_issuer(root) or None,
        status=code.get("Value") if code is not None else None,
        signed=signed,
    )


def _message(tag: str, *, issuer: str, destination: str, now: datetime) -> tuple[etree._Element, str]:
    message_id = new_message_id()
    root = etree.Element(q(SAMLP, tag), nsmap={"samlp": SAMLP})
    root.set("ID", message_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", instant(now))
    root.set("Destination", destination)
    etree.SubElement(root, q(SAML, "Issuer"), nsmap={None: SAML}).text = issuer
    return root, message_id


def build_logout_response(
    *,
    issuer: str,
    destination: str,
    in_response_to: str,
    now: datetime,
    status: str = STATUS_SUCCESS,
    message: str | None = None,
) -> bytes:
    root, _ = _message("LogoutResponse", issuer=issuer, destination=destination, now=now)
    root.set("InResponseTo", in_response_to)
    status_el = etree.SubElement(root, q(SAMLP, "Status"))
    etree.SubElement(status_el, q(SAMLP, "StatusCode")).set("Value", status)
    if message:
        etree.SubElement(status_el, q(SAMLP, "StatusMessage")).text = xml_text(message)
    data: bytes = etree.tostring(root, encoding="utf-8")
    return data


def build_logout_request(
    *, issuer: str, destination: str, name_id: NameId, session_index: str | None, now: datetime
) -> tuple[str, bytes]:
    """(its ID, the XML) of a LogoutRequest to one participant of the ending session."""
    root, message_id = _message("LogoutRequest", issuer=issuer, destination=destination, now=now)
    element = etree.SubElement(root, q(SAML, "NameID"))
    element.set("Format", name_id.format)
    if name_id.sp_name_qualifier:
        element.set("SPNameQualifier", name_id.sp_name_qualifier)
    element.text = xml_text(name_id.value)
    if session_index:
        etree.SubElement(root, q(SAMLP, "SessionIndex")).text = session_index
    return message_id, etree.tostring(root, encoding="utf-8")
