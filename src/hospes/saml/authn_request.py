"""Reading a service provider's AuthnRequest (HTTP-Redirect or HTTP-POST) under Entra's rules.

Two steps, because the SP's certificate is known only once the SP is: ``peek`` reads the unverified ``Issuer`` to
find the app; ``read_authn_request`` then checks the signature (when the SP signs, or must) and reads the request
from what the signature covers. Unsupported features are refused with the AADSTS code Entra answers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from hospes.saml.bindings import InboundMessage
from hospes.saml.common import (
    BINDING_POST,
    SAML,
    SAMLP,
    STATUS_INVALID_NAMEID_POLICY,
    STATUS_NO_AUTHN_CONTEXT,
    SamlError,
    invalid_message,
    parse_xml,
    q,
)
from hospes.saml.nameid import FORMATS
from hospes.saml.signing import verify_enveloped, verify_query

_NCNAME = re.compile(r"^[A-Za-z_][\w.\-]{0,255}$")
_MAX_URL = 2048
COMPARISON_EXACT = "exact"


@dataclass(frozen=True)
class Peek:
    """What a message claims before any check: its kind (root element's local name), id and issuer."""

    kind: str
    id: str | None
    issuer: str | None


@dataclass(frozen=True)
class AuthnRequest:
    id: str
    issuer: str
    acs_url: str | None
    name_id_format: str | None
    sp_name_qualifier: str | None
    force_authn: bool
    is_passive: bool
    authn_contexts: tuple[str, ...]  # requested classes, compared exactly
    relay_state: str | None
    binding: str  # "redirect" | "post"
    signed: bool


def peek(xml: bytes) -> Peek:
    root = parse_xml(xml)
    if root.tag not in (q(SAMLP, "AuthnRequest"), q(SAMLP, "LogoutRequest"), q(SAMLP, "LogoutResponse")):
        raise invalid_message("The SAML message is not an AuthnRequest, LogoutRequest or LogoutResponse.")
    issuer = root.find(q(SAML, "Issuer"))
    text = (issuer.text or "").strip() if issuer is not None else None
    return Peek(etree.QName(root).localname, root.get("ID"), text or None)


def verified_root(
    message: InboundMessage, certificates: Sequence[x509.Certificate], *, require_signed: bool
) -> tuple[etree._Element, bool]:
    """The message's root element as far as it can be trusted, and whether it was signed. With certificates
    configured a present signature must verify; without them a signature cannot be checked and counts as absent."""
    if message.binding == "redirect":
        if message.query is not None and certificates:
            verify_query(message.query, certificates)
            return parse_xml(message.xml), True
        if require_signed:
            raise _unsigned()
        return parse_xml(message.xml), False
    root = parse_xml(message.xml)
    if root.find(q("http://www.w3.org/2000/09/xmldsig#", "Signature")) is not None and certificates:
        signed = verify_enveloped(message.xml, certificates)
        if signed.tag != root.tag or signed.get("ID") != root.get("ID"):
            raise invalid_message("The signature does not cover the SAML message.")
        return signed, True
    if require_signed:
        raise _unsigned()
    return root, False


def _unsigned() -> SamlError:
    return SamlError(
        "76021",
        "ApplicationRequiresSignedRequests - The request sent by client is not signed while the application "
        "requires signed requests.",
        status="urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
    )


def check_id(value: str | None) -> str:
    if not value:
        raise invalid_message("The SAML message has no ID.")
    if value[0].isdigit():
        raise SamlError(
            "7500529", f"The value '{value[:64]}' is not a valid SAML ID. The ID must not begin with a number."
        )
    if not _NCNAME.match(value):
        raise invalid_message("The SAML message's ID is not a valid xs:ID.")
    return value


def _flag(root: etree._Element, name: str) -> bool:
    value = root.get(name)
    if value in (None, "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise invalid_message(f"The attribute {name} must be a boolean.")


def read_authn_request(
    message: InboundMessage, certificates: Sequence[x509.Certificate], *, require_signed: bool = False
) -> AuthnRequest:
    root, signed = verified_root(message, certificates, require_signed=require_signed)
    if root.tag != q(SAMLP, "AuthnRequest"):
        raise invalid_message("The SAML message is not an AuthnRequest.")
    request_id = check_id(root.get("ID"))
    if root.get("Version") != "2.0":
        raise invalid_message("The AuthnRequest's Version must be 2.0.")
    issuer_el = root.find(q(SAML, "Issuer"))
    issuer = (issuer_el.text or "").strip() if issuer_el is not None else ""
    if not issuer:
        raise invalid_message("The AuthnRequest has no Issuer.")
    if root.find(q(SAML, "Subject")) is not None:
        raise invalid_message(
            "The AuthnRequest must not contain a Subject; pass the user's name as the login_hint query parameter."
        )
    binding = root.get("ProtocolBinding")
    if binding is not None and binding != BINDING_POST:
        raise SamlError(
            "75003",
            "UnsupportedBindingError - The app returned an error related to unsupported binding (SAML protocol "
            "response can't be sent via bindings other than HTTP POST).",
        )
    acs = root.get("AssertionConsumerServiceURL")
    if acs is not None and (not acs or len(acs) > _MAX_URL):
        raise invalid_message("The AssertionConsumerServiceURL is not a valid URL.")
    name_id_format = sp_name_qualifier = None
    policy = root.find(q(SAMLP, "NameIDPolicy"))
    if policy is not None:
        name_id_format = policy.get("Format") or None
        if name_id_format is not None and name_id_format not in FORMATS:
            raise SamlError(
                "75016",
                f"SAML2 Authentication Request has an invalid NameIdPolicy: the format '{name_id_format[:200]}' "
                "is not supported.",
                status=STATUS_INVALID_NAMEID_POLICY,
            )
        sp_name_qualifier = policy.get("SPNameQualifier") or None
    return AuthnRequest(
        id=request_id,
        issuer=issuer,
        acs_url=acs,
        name_id_format=name_id_format,
        sp_name_qualifier=sp_name_qualifier,
        force_authn=_flag(root, "ForceAuthn"),
        is_passive=_flag(root, "IsPassive"),
        authn_contexts=_authn_contexts(root),
        relay_state=message.relay_state,
        binding=message.binding,
        signed=signed,
    )


def _authn_contexts(root: etree._Element) -> tuple[str, ...]:
    requested = root.find(q(SAMLP, "RequestedAuthnContext"))
    if requested is None:
        return ()
    comparison = requested.get("Comparison", COMPARISON_EXACT)
    if comparison != COMPARISON_EXACT:
        raise SamlError(
            "75011",
            f"The requested authentication context comparison '{comparison[:32]}' is not supported; only 'exact' is.",
            status=STATUS_NO_AUTHN_CONTEXT,
        )
    classes = tuple((el.text or "").strip() for el in requested.findall(q(SAML, "AuthnContextClassRef")))
    return tuple(c for c in classes if c)


def check_authn_context(requested: Sequence[str], achieved: Sequence[str]) -> str:
    """The class to state in the AuthnStatement: the first requested one the sign-in satisfied, else (nothing
    requested) the first achieved. None satisfied: AADSTS75011."""
    if not requested:
        return achieved[0]
    for wanted in requested:
        if wanted in achieved:
            return wanted
    raise SamlError(
        "75011",
        f"Authentication method '{', '.join(_short(a) for a in achieved)}' by which the user authenticated with "
        f"the service doesn't match requested authentication method '{', '.join(_short(r) for r in requested)}'.",
        status=STATUS_NO_AUTHN_CONTEXT,
    )


def _short(uri: str) -> str:
    return uri.rsplit(":", 1)[-1][:64]
