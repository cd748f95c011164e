"""The SAML identity provider's message rules, without peers: what an AuthnRequest may contain (and the AADSTS code
for what it may not), the bindings' decoding limits and signed octets, NameIDs, the default claims and the guest
rule, the Response's layout and lifetimes, metadata, certificates and logout messages."""

from __future__ import annotations

import base64
import hashlib
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from signxml.verifier import SignatureConfiguration, XMLVerifier

from hospes.auth.certificates import create_signing_certificate, load_certificate, load_signing_key
from hospes.saml.authn_request import check_authn_context, peek, read_authn_request
from hospes.saml.bindings import read_post, read_redirect, redirect_url
from hospes.saml.claims import GROUPS, GROUPS_LINK, WS, SamlUser, default_claims, source_value
from hospes.saml.common import AC_PASSWORD, DS, MD, SAML, SAMLP, SamlError, parse_xml
from hospes.saml.logout import build_logout_request, read_logout_request
from hospes.saml.metadata import build_metadata
from hospes.saml.nameid import (
    EMAIL,
    FORMATS,
    PERSISTENT,
    TRANSIENT,
    UNSPECIFIED,
    build_name_id,
    pairwise_id,
    resolve_format,
)
from hospes.saml.response import (
    Addressing,
    Authentication,
    Signing,
    audience_value,
    build_error_response,
    build_response,
)
from tests.helpers.saml import new_party

SP_PARTY = new_party("sp")
IDP_PARTY = new_party("idp")
NOW = datetime(2026, 12, 3, 10, 0, 0, 123000, tzinfo=UTC)
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS, "md": MD}


def _request(body: str = "", **attributes: str) -> bytes:
    attrs = {"ID": "id-abc", "Version": "2.0", "IssueInstant": "2026-12-03T10:00:00Z"} | attributes
    rendered = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return (
        f'<samlp:AuthnRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" {rendered}>'
        f"<saml:Issuer>https://sp.example.com</saml:Issuer>{body}</samlp:AuthnRequest>"
    ).encode()


def _deflate(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


def _read(xml: bytes, **kwargs: object) -> object:
    return read_authn_request(read_redirect("SAMLRequest=" + quote_plus(_deflate(xml))), [], **kwargs)  # type: ignore[arg-type]


def _code(xml: bytes) -> str:
    with pytest.raises(SamlError) as caught:
        _read(xml)
    return caught.value.code


# --- AuthnRequest rules ---------------------------------------------------------------------------------------


def test_a_plain_request_is_read_with_its_flags_and_policy() -> None:
    xml = _request(
        f'<samlp:NameIDPolicy Format="{TRANSIENT}" SPNameQualifier="urn:sp" AllowCreate="true"/>'
        f'<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>{AC_PASSWORD}'
        "</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>",
        ForceAuthn="true",
        IsPassive="false",
        AssertionConsumerServiceURL="https://sp.example.com/acs",
        Consent="urn:oasis:names:tc:SAML:2.0:consent:unspecified",
    )
    request = _read(xml)
    assert request.force_authn and not request.is_passive  # type: ignore[attr-defined]
    assert request.name_id_format == TRANSIENT and request.sp_name_qualifier == "urn:sp"  # type: ignore[attr-defined]
    assert request.authn_contexts == (AC_PASSWORD,)  # type: ignore[attr-defined]
    assert request.acs_url == "https://sp.example.com/acs" and not request.signed  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        (_request(ID="1abc"), "7500529"),
        (_request('<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"/>'), "75016"),
        (_request("<saml:Subject><saml:NameID>a@b.c</saml:NameID></saml:Subject>"), "75005"),
        (_request('<samlp:RequestedAuthnContext Comparison="minimum"/>'), "75011"),
        (_request(ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"), "75003"),
        (_request(Version="1.1"), "75005"),
        (_request(ForceAuthn="maybe"), "75005"),
        (_request(ID=""), "75005"),
        (b'<samlp:AuthnRequest xmlns:samlp="' + SAMLP.encode() + b'" ID="a" Version="2.0"/>', "75005"),
        (b"<not-xml", "75005"),
    ],
    ids=[
        "id-digit",
        "nameid-format",
        "subject",
        "comparison",
        "binding",
        "version",
        "flag",
        "no-id",
        "no-issuer",
        "not-xml",
    ],
)
def test_refused_requests_carry_entras_codes(xml: bytes, code: str) -> None:
    assert _code(xml) == code


def test_a_document_type_declaration_is_refused_before_any_entity_is_read() -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _request().replace(
        b"https://sp.example.com</saml", b"&x;</saml"
    )
    with pytest.raises(SamlError, match="document type") as caught:
        parse_xml(xxe)
    assert caught.value.code == "75005"
    assert _code(xxe) == "75005"


def test_authn_context_is_compared_exactly() -> None:
    protected = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    assert check_authn_context([], [AC_PASSWORD]) == AC_PASSWORD
    assert check_authn_context(["urn:x509", protected], [AC_PASSWORD, protected]) == protected
    with pytest.raises(SamlError, match="doesn't match requested authentication method 'X509'") as caught:
        check_authn_context(["urn:oasis:names:tc:SAML:2.0:ac:classes:X509"], [AC_PASSWORD])
    assert caught.value.code == "75011"


# --- Bindings -------------------------------------------------------------------------------------------------


def test_redirect_without_a_message_is_750054() -> None:
    with pytest.raises(SamlError) as caught:
        read_redirect("RelayState=x")
    assert caught.value.code == "750054"
    assert "must be present as query string parameters" in caught.value.text


@pytest.mark.parametrize(
    "query",
    [
        "SAMLRequest=%%%",
        "SAMLRequest=" + quote_plus(base64.b64encode(b"not deflate at all").decode()),
        "SAMLRequest=a&SAMLRequest=b",
        "SAMLRequest=" + quote_plus(_deflate(b"<a/>")) + "&SigAlg=x",
        "SAMLRequest=" + quote_plus(_deflate(b" " * (300 * 1024))),
        "SAMLRequest=" + "A" * (70 * 1024),
        "SAMLRequest=" + quote_plus(_deflate(b"<a/>")) + "&RelayState=" + "x" * 1025,
    ],
    ids=["base64", "deflate", "repeated", "half-signed", "inflates-too-large", "too-long", "relay-state"],
)
def test_malformed_redirect_messages_are_binding_errors(query: str) -> None:
    with pytest.raises(SamlError) as caught:
        read_redirect(query)
    assert caught.value.code == "75001"


def test_the_query_signature_covers_the_octets_as_the_sp_encoded_them() -> None:
    # Lower-case percent escapes and %20 for spaces: a verifier that re-encodes would compute other octets.
    encoded = quote(_deflate(_request()), safe="").replace("%2B", "%2b")
    relay = quote("a b/ü", safe="").lower()
    sig_alg = quote("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", safe="").lower()
    octets = f"SAMLRequest={encoded}&RelayState={relay}&SigAlg={sig_alg}"
    signature = SP_PARTY.key.key.sign(octets.encode(), padding.PKCS1v15(), hashes.SHA256())
    query = f"{octets}&Signature={quote_plus(base64.b64encode(signature).decode())}&extra=1"
    request = read_authn_request(read_redirect(query), [SP_PARTY.key.certificate], require_signed=True)
    assert request.signed and request.relay_state == "a b/ü"
    with pytest.raises(SamlError, match="not valid"):
        read_authn_request(read_redirect(query.replace("RelayState=a", "RelayState=b")), [SP_PARTY.key.certificate])


def test_a_post_signature_must_cover_the_root_message() -> None:
    from signxml.signer import XMLSigner

    inner = parse_xml(_request(ID="id-signed"))
    signed = XMLSigner(c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
        inner, key=SP_PARTY.key.key, cert=[SP_PARTY.key.certificate], id_attribute="ID"
    )
    # Signature wrapping: an unsigned request around the signed one, its signature moved up as a child of the root.
    outer = parse_xml(_request(ID="id-evil", AssertionConsumerServiceURL="https://evil.example/acs"))
    signature = signed.find(f"{{{DS}}}Signature")
    outer.append(signature)
    outer.append(signed)
    with pytest.raises(SamlError, match="does not cover") as caught:
        read_authn_request(
            read_post({"SAMLRequest": base64.b64encode(etree.tostring(outer)).decode()}), [SP_PARTY.key.certificate]
        )
    assert caught.value.code == "75005"


def test_peek_names_the_message_and_its_issuer_unverified() -> None:
    seen = peek(_request())
    assert (seen.kind, seen.id, seen.issuer) == ("AuthnRequest", "id-abc", "https://sp.example.com")
    with pytest.raises(SamlError):
        peek(b'<samlp:Response xmlns:samlp="' + SAMLP.encode() + b'"/>')


# --- NameID and claims ----------------------------------------------------------------------------------------


def test_pairwise_ids_are_stable_per_app_and_differ_between_apps_and_users() -> None:
    key = b"k" * 32
    one = pairwise_id(key, "https://a.example", "oid-1")
    assert one == pairwise_id(key, "https://a.example", "oid-1") and len(one) == 44
    expected = base64.b64encode(
        __import__("hmac").new(key, b"https://a.example\x00oid-1", hashlib.sha256).digest()
    ).decode()
    assert one == expected
    assert one != pairwise_id(key, "https://b.example", "oid-1")
    assert one != pairwise_id(key, "https://a.example", "oid-2")
    assert one != pairwise_id(b"j" * 32, "https://a.example", "oid-1")


def test_name_id_format_resolution() -> None:
    assert resolve_format(TRANSIENT, EMAIL, EMAIL) == TRANSIENT
    assert resolve_format(None, UNSPECIFIED, EMAIL) == UNSPECIFIED
    assert resolve_format(None, None, EMAIL) == EMAIL
    assert resolve_format(None, "urn:custom", EMAIL) == PERSISTENT
    base = {"tenant_key": b"k", "sp_entity_id": "sp", "object_id": "o"}
    assert build_name_id(EMAIL, source_value="a@b.example", **base).value == "a@b.example"  # type: ignore[arg-type]
    fallback = build_name_id(EMAIL, source_value=None, **base)  # type: ignore[arg-type]
    assert (fallback.format, fallback.value) == (PERSISTENT, pairwise_id(b"k", "sp", "o"))
    assert build_name_id(UNSPECIFIED, source_value="a@b.example", **base).format == UNSPECIFIED  # type: ignore[arg-type]
    transient = build_name_id(TRANSIENT, source_value=None, **base)  # type: ignore[arg-type]
    assert len(base64.b64decode(transient.value)) == 16


def test_an_apps_own_source_is_sent_as_is_when_it_configures_unspecified() -> None:
    user = SamlUser("oid-7", "t", "u@x.example", "Member", "http://x/t/", mail="m@x.example")
    claims = default_claims(user, name_id_source="objectid")
    assert (claims.name_id_source, claims.name_id_format) == ("oid-7", UNSPECIFIED)
    base = {"tenant_key": b"k", "sp_entity_id": "sp", "object_id": "oid-7"}
    configured = build_name_id(UNSPECIFIED, source_value=claims.name_id_source, configured=True, **base)  # type: ignore[arg-type]
    assert (configured.value, configured.format) == ("oid-7", UNSPECIFIED)
    requested = build_name_id(UNSPECIFIED, source_value=claims.name_id_source, **base)  # type: ignore[arg-type]
    assert requested.value == pairwise_id(b"k", "sp", "oid-7")
    assert default_claims(user, name_id_source="mail").name_id_source == "m@x.example"
    assert default_claims(user, name_id_source="bogus").name_id_source == "u@x.example"


def _guest(signed_in_with: str) -> SamlUser:
    return SamlUser(
        object_id="g1",
        tenant_id="t-fabrikam",
        user_principal_name="james_contoso.com#EXT#@fabrikam.example",
        user_type="Guest",
        identity_provider="http://127.0.0.1/t-contoso/",
        mail="james@contoso.com",
        signed_in_with=signed_in_with,
    )


def test_guest_upn_rule_mail_for_home_tenant_guests_ext_upn_for_passcode_guests() -> None:
    home = default_claims(_guest("ExternalAzureAD"))
    assert home.name_id_source == "james@contoso.com"
    assert dict(home.attributes)[WS + "name"] == ("james@contoso.com",)
    otp = default_claims(_guest("mail"))
    assert otp.name_id_source == "james_contoso.com#EXT#@fabrikam.example"
    assert dict(otp.attributes)[WS + "name"] == ("james_contoso.com#EXT#@fabrikam.example",)
    assert (
        source_value(_guest("ExternalAzureAD"), "localuserprincipalname") == "james_contoso.com#EXT#@fabrikam.example"
    )
    member = SamlUser(
        "m1",
        "t",
        "ann@fabrikam.example",
        "Member",
        "http://x/t/",
        mail="other@fabrikam.example",
        signed_in_with="ExternalAzureAD",
    )
    assert default_claims(member).name_id_source == "ann@fabrikam.example"


def test_default_claims_leave_out_empty_values_and_apply_the_groups_overage() -> None:
    user = SamlUser("o", "t", "u@x.example", "Member", "http://x/t/", groups=("g1", "g2"))
    names = [name for name, _ in default_claims(user).attributes]
    assert WS + "givenname" not in names and GROUPS not in names
    assert dict(default_claims(user, include_groups=True).attributes)[GROUPS] == ("g1", "g2")
    many = SamlUser("o", "t", "u@x.example", "Member", "http://x/t/", groups=tuple(f"g{i}" for i in range(151)))
    claims = dict(default_claims(many, include_groups=True, groups_url="https://graph/x").attributes)
    assert GROUPS not in claims and claims[GROUPS_LINK] == ("https://graph/x",)


# --- Response ---------------------------------------------------------------------------------------------------


def _built(option: str = "assertion", audience: str = "https://sp.example.com") -> etree._Element:
    from hospes.saml.nameid import NameId

    xml = build_response(
        Addressing("http://idp/t/", "https://sp.example.com/acs", audience, "id-req", NOW),
        Authentication(NameId("v", PERSISTENT, "urn:sp"), [("n", ["1", "2"])], NOW - timedelta(minutes=3), "_s1"),
        Signing(IDP_PARTY.key, option),  # type: ignore[arg-type]
    )
    return etree.fromstring(xml)


def _local(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element]


def test_response_layout_and_lifetimes() -> None:
    root = _built()
    assert _local(root) == ["Issuer", "Status", "Assertion"]
    assert root.get("InResponseTo") == "id-req" and root.get("Destination") == "https://sp.example.com/acs"
    assert root.get("IssueInstant") == "2026-12-03T10:00:00.123Z"
    assertion = root.find("saml:Assertion", NS)
    assert _local(assertion) == ["Issuer", "Signature", "Subject", "Conditions", "AttributeStatement", "AuthnStatement"]
    assert assertion.findtext("saml:Issuer", namespaces=NS) == "http://idp/t/"
    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    assert (name_id.get("Format"), name_id.get("SPNameQualifier"), name_id.text) == (PERSISTENT, "urn:sp", "v")
    data = assertion.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    assert data.get("NotOnOrAfter") == "2026-12-03T10:05:00.123Z" and data.get("InResponseTo") == "id-req"
    conditions = assertion.find("saml:Conditions", NS)
    assert (conditions.get("NotBefore"), conditions.get("NotOnOrAfter")) == (
        "2026-12-03T10:00:00.123Z",
        "2026-12-03T11:10:00.123Z",
    )
    values = assertion.findall("saml:AttributeStatement/saml:Attribute/saml:AttributeValue", NS)
    assert [v.text for v in values] == ["1", "2"]
    authn = assertion.find("saml:AuthnStatement", NS)
    assert (authn.get("AuthnInstant"), authn.get("SessionIndex")) == ("2026-12-03T09:57:00.123Z", "_s1")
    assert assertion.findtext("saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef", namespaces=NS) == (
        AC_PASSWORD
    )
    certificate = assertion.findtext("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    assert certificate == IDP_PARTY.cert_b64


@pytest.mark.parametrize(
    ("option", "response_signed", "assertion_signed"),
    [("assertion", False, True), ("response", True, False), ("both", True, True)],
)
def test_signing_options_put_signatures_right_after_the_issuer(
    option: str, response_signed: bool, assertion_signed: bool
) -> None:
    root = _built(option)
    assert (_local(root)[1] == "Signature") is response_signed
    assert (_local(root.find("saml:Assertion", NS))[1] == "Signature") is assertion_signed
    config = SignatureConfiguration(location="./", expect_references=1)
    xml = etree.tostring(root)
    if response_signed:
        verified = XMLVerifier().verify(
            xml, x509_cert=IDP_PARTY.key.certificate, expect_config=config, id_attribute="ID"
        )
        assert verified.signed_xml.get("ID") == root.get("ID")  # type: ignore[union-attr]


def test_audience_gets_the_spn_prefix_only_when_the_identifier_is_not_a_uri() -> None:
    assert audience_value("8x8") == "spn:8x8"
    assert audience_value("00000000-0000-0000-0000-000000000001") == "spn:00000000-0000-0000-0000-000000000001"
    assert audience_value("urn:amazon:webservices") == "urn:amazon:webservices"
    assert audience_value("https://sso.8x8.com/saml2") == "https://sso.8x8.com/saml2"
    assert (
        _built(audience="8x8").findtext(
            "saml:Assertion/saml:Conditions/saml:AudienceRestriction/saml:Audience", namespaces=NS
        )
        == "spn:8x8"
    )


def test_error_response_has_nested_status_and_the_aadsts_text() -> None:
    error = SamlError(
        "50105",
        "The signed in user isn't assigned to a role for the signed in app.",
        status="urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
    )
    xml = build_error_response(
        Addressing("http://idp/t/", "https://sp.example.com/acs", "https://sp.example.com", "id-req", NOW),
        error,
        Signing(IDP_PARTY.key),
        trace_id="trace-1",
    )
    root = etree.fromstring(xml)
    assert _local(root) == ["Issuer", "Signature", "Status"]
    codes = root.findall("samlp:Status/samlp:StatusCode", NS)
    assert codes[0].get("Value") == "urn:oasis:names:tc:SAML:2.0:status:Requester"
    assert codes[0][0].get("Value") == "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
    message = root.findtext("samlp:Status/samlp:StatusMessage", namespaces=NS)
    assert message.startswith("AADSTS50105: The signed in user isn't assigned") and "Trace ID: trace-1" in message
    assert root.find("saml:Assertion", NS) is None


# --- Metadata, certificates, logout -----------------------------------------------------------------------------


def test_metadata_lists_every_certificate_format_and_endpoint_and_is_signed() -> None:
    newer = new_party("idp-next")
    xml = build_metadata(
        entity_id="http://idp/t/",
        endpoint="http://idp/t/saml2",
        certificates_b64=[IDP_PARTY.cert_b64, newer.cert_b64],
        signing_key=IDP_PARTY.key,
    )
    root = etree.fromstring(xml)
    assert root.get("entityID") == "http://idp/t/"
    idp = root.find("md:IDPSSODescriptor", NS)
    keys = idp.findall("md:KeyDescriptor", NS)
    assert [k.get("use") for k in keys] == ["signing", "signing"]
    assert [k.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS) for k in keys] == [
        IDP_PARTY.cert_b64,
        newer.cert_b64,
    ]
    assert [e.text for e in idp.findall("md:NameIDFormat", NS)] == list(FORMATS)
    sso = {(e.get("Binding").rsplit(":", 1)[1], e.get("Location")) for e in idp.findall("md:SingleSignOnService", NS)}
    assert sso == {("HTTP-Redirect", "http://idp/t/saml2"), ("HTTP-POST", "http://idp/t/saml2")}
    slo = idp.find("md:SingleLogoutService", NS)
    assert slo.get("Binding").endswith("HTTP-Redirect") and slo.get("Location") == "http://idp/t/saml2"
    XMLVerifier().verify(
        xml, x509_cert=IDP_PARTY.key.certificate, id_attribute="ID", expect_config=SignatureConfiguration(location="./")
    )


def test_signing_certificate_is_graph_shaped_and_loads_once() -> None:
    made = create_signing_certificate("CN=8x8 SAML", start=NOW, end=NOW + timedelta(days=365))
    der = base64.b64decode(made.info.der_b64)
    assert made.info.thumbprint == hashlib.sha1(der).hexdigest().upper()
    assert made.info.display_name == "CN=8x8 SAML" and made.info.start == NOW.replace(microsecond=0)
    key = load_signing_key(made.private_key_pem, made.info.der_b64)
    assert key.certificate.subject.rfc4514_string() == "CN=8x8 SAML"
    with pytest.raises(ValueError, match="does not belong"):
        load_signing_key(SP_PARTY.key_pem, made.info.der_b64)
    with pytest.raises(ValueError):
        create_signing_certificate("CN=", start=NOW)
    pem = key.certificate.public_bytes(serialization.Encoding.PEM).decode()
    assert load_certificate(pem) == load_certificate(made.info.der_b64) == key.certificate
    with pytest.raises(ValueError):
        load_certificate("not a certificate")


def test_logout_request_expired_is_50071_and_ours_round_trips() -> None:
    from hospes.saml.nameid import NameId

    _, xml = build_logout_request(
        issuer="https://sp.example.com",
        destination="http://idp/t/saml2",
        name_id=NameId("n", PERSISTENT),
        session_index="_s1",
        now=NOW,
    )
    query = redirect_url("http://idp/t/saml2", "SAMLRequest", xml, relay_state="r", key=SP_PARTY.key).split("?", 1)[1]
    request = read_logout_request(read_redirect(query), [SP_PARTY.key.certificate], now=NOW, require_signed=True)
    assert (request.issuer, request.name_id, request.session_indexes, request.signed) == (
        "https://sp.example.com",
        "n",
        ("_s1",),
        True,
    )
    expired = xml.replace(b'Version="2.0"', b'Version="2.0" NotOnOrAfter="2026-12-03T09:00:00Z"')
    with pytest.raises(SamlError) as caught:
        read_logout_request(read_redirect("SAMLRequest=" + quote_plus(_deflate(expired))), [], now=NOW)
    assert caught.value.code == "50071"
