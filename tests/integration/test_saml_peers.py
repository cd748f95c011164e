"""What Hospes' SAML messages look like to independent service providers: pysaml2 (xmlsec1) and python3-saml
(python-xmlsec) accept its Responses under each signing option and NameID format and refuse tampered ones or ones
signed by another key; Hospes reads the AuthnRequests and LogoutRequests they produce, signed and unsigned, over
both bindings, and they accept Hospes' logout messages."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hospes.saml.authn_request import peek, read_authn_request
from hospes.saml.bindings import read_post, read_redirect, redirect_url
from hospes.saml.claims import WS, SamlUser, default_claims
from hospes.saml.common import SamlError
from hospes.saml.logout import build_logout_request, build_logout_response, read_logout_request
from hospes.saml.nameid import EMAIL, FORMATS, PERSISTENT, TRANSIENT, UNSPECIFIED, build_name_id, resolve_format
from hospes.saml.response import SIGNING_OPTIONS, Addressing, Authentication, Signing, build_response
from tests.helpers.saml import (
    POST,
    Idp,
    Sp,
    b64,
    form_fields,
    new_party,
    onelogin_request_data,
    onelogin_settings,
    pysaml2_client,
    query_of,
)

TENANT = "6f0e2b7c-1111-4222-8333-944455556666"
IDP = Idp("http://127.0.0.1:8000", TENANT, new_party("hospes-test-app"))
SP = Sp(
    "https://sp.example.com/saml/metadata",
    "https://sp.example.com/saml/acs",
    "https://sp.example.com/saml/sls",
    new_party("sp.example.com"),
)
OTHER_KEY = new_party("someone-else")
USER = SamlUser(
    object_id="0b0b0b0b-aaaa-4bbb-8ccc-dddddddddddd",
    tenant_id=TENANT,
    user_principal_name="adele@contoso.example",
    user_type="Member",
    identity_provider=IDP.entity_id,
    mail="adele.vance@contoso.example",
    given_name="Adele",
    surname="Vance",
    display_name="Adele Vance",
    roles=("User",),
)
PAIRWISE_KEY = b"k" * 32


def _response(
    *,
    option: str = "assertion",
    name_format: str | None = None,
    in_response_to: str | None = "id-req-1",
    requested: str | None = None,
    key: Any = None,
    algorithm: str = "rsa-sha256",
) -> bytes:
    claims = default_claims(USER)
    fmt = resolve_format(requested, name_format, claims.name_id_format)
    name_id = build_name_id(
        fmt,
        source_value=claims.name_id_source,
        tenant_key=PAIRWISE_KEY,
        sp_entity_id=SP.entity_id,
        object_id=USER.object_id,
    )
    now = datetime.now(UTC)
    return build_response(
        Addressing(IDP.entity_id, SP.acs, SP.entity_id, in_response_to, now),
        Authentication(name_id, claims.attributes, now - timedelta(seconds=5), "_session-1"),
        Signing(key or IDP.party.key, option, algorithm),  # type: ignore[arg-type]
    )


def _pysaml2_accepts(tmp_path: Path, xml: bytes, *, option: str, outstanding: dict[str, str] | None) -> Any:
    client = pysaml2_client(
        tmp_path, IDP, SP, want_assertions_signed=option != "response", want_response_signed=option != "assertion"
    )
    return client.parse_authn_request_response(
        b64(xml), "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", outstanding=outstanding
    )


def _raw_attributes(response: Any) -> dict[str, list[str]]:
    statement = response.assertion.attribute_statement[0]
    return {a.name: [v.text for v in a.attribute_value] for a in statement.attribute}


def _onelogin(xml: bytes, *, option: str, request_id: str | None = "id-req-1", idp_cert: str | None = None) -> Any:
    from onelogin.saml2.response import OneLogin_Saml2_Response

    settings = onelogin_settings(
        IDP,
        SP,
        want_assertions_signed=option != "response",
        want_messages_signed=option != "assertion",
        idp_cert=idp_cert,
    )
    response = OneLogin_Saml2_Response(settings, b64(xml))
    valid = response.is_valid(
        onelogin_request_data(SP.acs, {"SAMLResponse": b64(xml)}), request_id, raise_exceptions=False
    )
    return response, valid


# --- Responses, as SPs see them ---------------------------------------------------------------------------------


@pytest.mark.parametrize("option", SIGNING_OPTIONS)
@pytest.mark.parametrize("name_format", FORMATS)
def test_pysaml2_accepts_each_signing_option_and_name_id_format(tmp_path: Path, option: str, name_format: str) -> None:
    xml = _response(option=option, name_format=name_format)
    response = _pysaml2_accepts(tmp_path, xml, option=option, outstanding={"id-req-1": "/"})
    assert response is not None
    assert response.name_id.format == name_format
    if name_format == EMAIL:
        assert response.name_id.text == "adele@contoso.example"
    else:
        assert "@" not in response.name_id.text
    assert response.ava["givenName"] == ["Adele"]  # through pysaml2's own ADFS attribute map
    raw = _raw_attributes(response)
    assert raw[WS + "name"] == ["adele@contoso.example"]
    assert raw["http://schemas.microsoft.com/identity/claims/objectidentifier"] == [USER.object_id]
    assert raw["http://schemas.microsoft.com/ws/2008/06/identity/claims/role"] == ["User"]
    assert response.session_info()["session_index"] == "_session-1"


def test_pysaml2_accepts_an_unsolicited_response(tmp_path: Path) -> None:
    xml = _response(in_response_to=None)
    response = _pysaml2_accepts(tmp_path, xml, option="assertion", outstanding=None)
    assert response is not None and response.name_id.text == "adele@contoso.example"


@pytest.mark.parametrize("option", SIGNING_OPTIONS)
@pytest.mark.parametrize("name_format", FORMATS)
def test_python3_saml_validates_each_signing_option_and_name_id_format(option: str, name_format: str) -> None:
    response, valid = _onelogin(_response(option=option, name_format=name_format), option=option)
    assert valid, response.get_error()
    assert response.get_nameid_format() == name_format
    attributes = response.get_attributes()
    assert attributes[WS + "surname"] == ["Vance"]
    assert attributes["http://schemas.microsoft.com/identity/claims/tenantid"] == [TENANT]


def test_persistent_name_id_is_stable_and_transient_is_not() -> None:
    first, _ = _onelogin(_response(name_format=PERSISTENT), option="assertion")
    again, _ = _onelogin(_response(name_format=PERSISTENT), option="assertion")
    assert first.get_nameid() == again.get_nameid() and len(first.get_nameid()) == 44
    one, _ = _onelogin(_response(name_format=TRANSIENT), option="assertion")
    two, _ = _onelogin(_response(name_format=TRANSIENT), option="assertion")
    assert one.get_nameid() != two.get_nameid()


def test_the_requests_name_id_policy_wins_over_the_configured_format() -> None:
    response, valid = _onelogin(_response(name_format=EMAIL, requested=UNSPECIFIED), option="assertion")
    assert valid and response.get_nameid_format() == UNSPECIFIED


def test_rsa_sha1_is_selectable_and_strict_peers_refuse_it(tmp_path: Path) -> None:
    xml = _response(algorithm="rsa-sha1")
    assert b"xmldsig#rsa-sha1" in xml
    response, valid = _onelogin(xml, option="assertion")
    assert not valid and "deprecated" in response.get_error().lower()
    assert _pysaml2_accepts(tmp_path, xml, option="assertion", outstanding={"id-req-1": "/"}) is not None


@pytest.mark.parametrize("option", SIGNING_OPTIONS)
def test_a_tampered_response_is_refused(tmp_path: Path, option: str) -> None:
    xml = _response(option=option).replace(b"adele@contoso.example", b"admin@contoso.example")
    _, valid = _onelogin(xml, option=option)
    assert not valid
    with pytest.raises(Exception, match="(?i)signature"):
        _pysaml2_accepts(tmp_path, xml, option=option, outstanding={"id-req-1": "/"})


def test_a_response_signed_with_another_key_is_refused(tmp_path: Path) -> None:
    xml = _response(key=OTHER_KEY.key)
    _, valid = _onelogin(xml, option="assertion")
    assert not valid
    with pytest.raises(Exception, match="(?i)signature"):
        _pysaml2_accepts(tmp_path, xml, option="assertion", outstanding={"id-req-1": "/"})


def test_python3_saml_refuses_a_response_to_another_request() -> None:
    response, valid = _onelogin(_response(), option="assertion", request_id="id-other")
    assert not valid and "InResponseTo" in response.get_error()


# --- AuthnRequests, as Hospes reads them ------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [False, True])
def test_pysaml2_redirect_authn_request_is_read(tmp_path: Path, signed: bool) -> None:
    client = pysaml2_client(tmp_path, IDP, SP, sign_requests=signed, name_id_format=PERSISTENT)
    request_id, info = client.prepare_for_authenticate(
        entityid=IDP.entity_id, relay_state="/dashboard?x=1&y=2", nameid_format=PERSISTENT
    )
    location = dict(info["headers"])["Location"]
    assert location.startswith(IDP.endpoint + "?")
    message = read_redirect(query_of(location))
    assert peek(message.xml).issuer == SP.entity_id
    request = read_authn_request(message, [SP.party.key.certificate], require_signed=signed)
    assert (request.id, request.issuer, request.acs_url) == (request_id, SP.entity_id, SP.acs)
    assert request.relay_state == "/dashboard?x=1&y=2"
    assert request.name_id_format == PERSISTENT
    assert request.signed is signed
    if signed:
        with pytest.raises(SamlError, match="not valid") as refused:
            read_authn_request(message, [OTHER_KEY.key.certificate])
        assert refused.value.code == "75005"
    else:
        with pytest.raises(SamlError) as refused:
            read_authn_request(message, [SP.party.key.certificate], require_signed=True)
        assert refused.value.code == "76021"


def test_a_request_signed_with_rsa_sha1_is_refused_with_the_fix_in_the_message(tmp_path: Path) -> None:
    client = pysaml2_client(tmp_path, IDP, SP, sign_requests=True, sha1=True)
    _, info = client.prepare_for_authenticate(entityid=IDP.entity_id)
    with pytest.raises(SamlError, match="use RSA-SHA256"):
        read_authn_request(read_redirect(query_of(dict(info["headers"])["Location"])), [SP.party.key.certificate])
    _, info = client.prepare_for_authenticate(entityid=IDP.entity_id, binding=POST)
    with pytest.raises(SamlError, match="use RSA-SHA256"):
        read_authn_request(read_post(form_fields(info["data"])[1]), [SP.party.key.certificate])


@pytest.mark.parametrize("signed", [False, True])
def test_pysaml2_post_authn_request_is_read(tmp_path: Path, signed: bool) -> None:
    client = pysaml2_client(tmp_path, IDP, SP, sign_requests=signed)
    request_id, info = client.prepare_for_authenticate(
        entityid=IDP.entity_id, relay_state="rs", binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    )
    action, fields = form_fields(info["data"])
    assert action == IDP.endpoint
    request = read_authn_request(read_post(fields), [SP.party.key.certificate], require_signed=signed)
    assert (request.id, request.relay_state, request.signed, request.binding) == (request_id, "rs", signed, "post")
    if signed:
        with pytest.raises(SamlError, match="not valid"):
            read_authn_request(read_post(fields), [OTHER_KEY.key.certificate])
        tampered = base64.b64decode(fields["SAMLRequest"]).replace(SP.acs.encode(), b"https://evil.example/acs")
        with pytest.raises(SamlError, match="not valid"):
            read_authn_request(read_post({"SAMLRequest": b64(tampered)}), [SP.party.key.certificate])


def test_a_tampered_redirect_query_is_refused(tmp_path: Path) -> None:
    client = pysaml2_client(tmp_path, IDP, SP, sign_requests=True)
    _, info = client.prepare_for_authenticate(entityid=IDP.entity_id, relay_state="original")
    query = query_of(dict(info["headers"])["Location"]).replace("RelayState=original", "RelayState=changed")
    with pytest.raises(SamlError, match="not valid"):
        read_authn_request(read_redirect(query), [SP.party.key.certificate])


@pytest.mark.parametrize("signed", [False, True])
def test_python3_saml_redirect_authn_request_is_read(signed: bool) -> None:
    from onelogin.saml2.auth import OneLogin_Saml2_Auth

    settings = onelogin_settings(IDP, SP, sign_requests=signed, name_id_format=EMAIL)
    auth = OneLogin_Saml2_Auth(onelogin_request_data(SP.acs), old_settings=settings)
    location = auth.login(return_to="https://sp.example.com/after login/ü")
    request = read_authn_request(read_redirect(query_of(location)), [SP.party.key.certificate], require_signed=signed)
    assert request.id == auth.get_last_request_id()
    assert request.relay_state == "https://sp.example.com/after login/ü"
    assert request.name_id_format == EMAIL and request.signed is signed


@pytest.mark.parametrize("signed", [False, True])
def test_python3_saml_post_authn_request_is_read(signed: bool) -> None:
    from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    settings = onelogin_settings(IDP, SP, sign_requests=signed)
    xml = OneLogin_Saml2_Authn_Request(settings).get_xml()
    if signed:
        xml = OneLogin_Saml2_Utils.add_sign(
            xml,
            SP.party.key_pem.decode(),
            SP.party.cert_pem,
            sign_algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            digest_algorithm="http://www.w3.org/2001/04/xmlenc#sha256",
        )
    raw = xml if isinstance(xml, bytes) else xml.encode()
    request = read_authn_request(
        read_post({"SAMLRequest": b64(raw)}), [SP.party.key.certificate], require_signed=signed
    )
    assert request.issuer == SP.entity_id and request.signed is signed


# --- Single logout ----------------------------------------------------------------------------------------------


def _signed_in_client(tmp_path: Path) -> tuple[Any, Any]:
    client = pysaml2_client(tmp_path, IDP, SP, name_id_format=PERSISTENT)
    request_id, _ = client.prepare_for_authenticate(entityid=IDP.entity_id)
    response = client.parse_authn_request_response(
        b64(_response(name_format=PERSISTENT, in_response_to=request_id)),
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        outstanding={request_id: "/"},
    )
    return client, response


def test_pysaml2_logout_request_is_read_and_our_logout_response_accepted(tmp_path: Path) -> None:
    client, response = _signed_in_client(tmp_path)
    result = client.global_logout(response.name_id, reason="", expire=None, sign=True)
    binding, info = result[IDP.entity_id]
    location = dict(info["headers"])["Location"]
    request = read_logout_request(
        read_redirect(query_of(location)), [SP.party.key.certificate], now=datetime.now(UTC), require_signed=True
    )
    assert request.issuer == SP.entity_id and request.signed
    assert request.name_id == response.name_id.text and request.session_indexes == ("_session-1",)

    xml = build_logout_response(
        issuer=IDP.entity_id, destination=SP.slo, in_response_to=request.id, now=datetime.now(UTC)
    )
    url = redirect_url(SP.slo, "SAMLResponse", xml, relay_state=request.relay_state, key=IDP.party.key)
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    answer = client.parse_logout_request_response(params["SAMLResponse"], binding)
    assert answer is not None and answer.response.in_response_to == request.id
    assert answer.status_ok()
    from saml2.sigver import verify_redirect_signature

    assert verify_redirect_signature(params, client.sec.sec_backend, cert=IDP.party.cert_b64)


def test_our_logout_request_is_accepted_by_pysaml2_with_its_query_signature(tmp_path: Path) -> None:
    client, response = _signed_in_client(tmp_path)
    name_id = build_name_id(
        PERSISTENT, source_value=None, tenant_key=PAIRWISE_KEY, sp_entity_id=SP.entity_id, object_id=USER.object_id
    )
    assert name_id.value == response.name_id.text
    _, xml = build_logout_request(
        issuer=IDP.entity_id, destination=SP.slo, name_id=name_id, session_index="_session-1", now=datetime.now(UTC)
    )
    url = redirect_url(SP.slo, "SAMLRequest", xml, relay_state="bye", key=IDP.party.key)
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    request = client.parse_logout_request(
        params["SAMLRequest"],
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        relay_state=params["RelayState"],
        sigalg=params["SigAlg"],
        signature=params["Signature"],
    )
    assert request is not None and request.message.name_id.text == name_id.value
    # pysaml2's SP checks a Redirect signature only where its IdP role asks for it: call its checker directly.
    from saml2.sigver import verify_redirect_signature

    assert verify_redirect_signature(params, client.sec.sec_backend, cert=IDP.party.cert_b64)
    forged = redirect_url(SP.slo, "SAMLRequest", xml, relay_state="bye", key=OTHER_KEY.key)
    params = {k: v[0] for k, v in parse_qs(urlsplit(forged).query).items()}
    assert not verify_redirect_signature(params, client.sec.sec_backend, cert=IDP.party.cert_b64)
