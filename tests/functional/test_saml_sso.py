"""SAML single sign-on through the pages, with pysaml2 and python3-saml as the service providers: SP-initiated over
both bindings, IdP-initiated from My Apps, NameID formats and signing options, a guest redeemed just in time,
single logout across two apps, and the refusals (not assigned, replay, unknown issuer, reply URL, signatures)."""

from __future__ import annotations

import base64
import html
import re
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.saml.nameid import EMAIL, PERSISTENT, TRANSIENT, UNSPECIFIED
from hospes.storage.tables import ServicePrincipal
from hospes.storage.tables_sso import SignIn, SsoParticipant
from tests.helpers.portal import PASSWORD, csrf_of, sign_in
from tests.helpers.redemption import (
    accept,
    follow,
    invite,
    latest_code,
    open_link,
    path_of,
    send_code,
    submit_code,
)
from tests.helpers.saml import (
    POST,
    REDIRECT,
    SamlAppHandle,
    Sp,
    b64,
    form_fields,
    new_party,
    onelogin_request_data,
    onelogin_settings,
    pysaml2_client,
    register_saml_app,
)
from tests.helpers.tenants import TenantHandle

SP_PARTY = new_party("expenses.example")


def _sp(name: str = "expenses") -> Sp:
    base = f"https://{name}.example"
    return Sp(f"{base}/saml/metadata", f"{base}/saml/acs", f"{base}/saml/sls", SP_PARTY)


def _register(app: FastAPI, tenant: TenantHandle, sessions: sessionmaker[Session], sp: Sp, **kw: Any) -> SamlAppHandle:
    return register_saml_app(tenant, sessions, app.state.runtime.box, sp, **kw)


def _metadata(web: TestClient, tenant: TenantHandle, handle: SamlAppHandle) -> str:
    response = web.get(f"/{tenant.id}/federationmetadata/2007-06/federationmetadata.xml?appid={handle.app_id}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/samlmetadata")
    return response.text


def _client(tmp_path: Path, web: TestClient, tenant: TenantHandle, handle: SamlAppHandle, sp: Sp, **kw: Any) -> Any:
    return pysaml2_client(tmp_path, handle.idp, sp, metadata=_metadata(web, tenant, handle), **kw)


def _member(web: TestClient, tenant: TenantHandle) -> dict[str, Any]:
    user = tenant.new_user(givenName="Adele", surname="Vance", mail=f"adele@{tenant.domain}")
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    return user


def _start(web: TestClient, client: Any, handle: SamlAppHandle, binding: str = REDIRECT, **kw: Any) -> tuple[str, Any]:
    """The SP sends the browser to Hospes; returns (request id, the page Hospes ends on)."""
    request_id, info = client.prepare_for_authenticate(entityid=handle.idp.entity_id, binding=binding, **kw)
    if binding == REDIRECT:
        response = web.get(path_of(dict(info["headers"])["Location"]))
    else:
        action, fields = form_fields(info["data"])
        response = web.post(path_of(action), data=fields)
    return request_id, follow(web, response)


def _saml_response(page: Any, acs: str) -> dict[str, str]:
    assert page.status_code == 200, page.text
    action, fields = form_fields(page.text)
    assert action == acs and "SAMLResponse" in fields
    policy = page.headers["content-security-policy"]
    assert f"form-action 'self' {urlsplit(acs).scheme}://{urlsplit(acs).netloc}" in policy
    assert "script-src 'self'" in policy
    return fields


def _sign_ins(sessions: sessionmaker[Session], tenant: TenantHandle) -> list[SignIn]:
    with sessions() as session:
        rows = session.scalars(select(SignIn).where(SignIn.tenant_id == tenant.id, SignIn.protocol == "saml"))
        return sorted(rows, key=lambda r: r.created_at)


@pytest.mark.parametrize("option", ["assertion", "response", "both"])
def test_member_signs_in_sp_initiated_by_redirect(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session], option: str
) -> None:
    sp = _sp()
    handle = _register(app, tenant, sessions, sp, signing=option)
    user = _member(web, tenant)
    client = _client(
        tmp_path,
        web,
        tenant,
        handle,
        sp,
        want_assertions_signed=option != "response",
        want_response_signed=option != "assertion",
    )
    request_id, page = _start(web, client, handle, relay_state="/reports?y=2026")
    fields = _saml_response(page, sp.acs)
    assert fields["RelayState"] == "/reports?y=2026"
    response = client.parse_authn_request_response(fields["SAMLResponse"], POST, outstanding={request_id: "/"})
    assert response.name_id.format == EMAIL and response.name_id.text == user["userPrincipalName"]
    assert response.ava["givenName"] == ["Adele"]
    assert response.assertion.issuer.text == f"http://testserver/{tenant.id}/"
    rows = _sign_ins(sessions, tenant)
    assert [(r.error_code, r.app_id, r.user_id) for r in rows] == [(0, handle.app_id, user["id"])]
    with sessions() as session:
        joined = session.scalars(select(SsoParticipant).where(SsoParticipant.tenant_id == tenant.id)).one()
    assert (joined.app_id, joined.protocol, joined.session_index) == (
        handle.app_id,
        "saml",
        response.session_info()["session_index"],
    )


@pytest.mark.parametrize("name_format", [PERSISTENT, EMAIL, UNSPECIFIED, TRANSIENT])
def test_python3_saml_validates_what_the_endpoint_sends_per_name_id_format(
    app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session], name_format: str
) -> None:
    from onelogin.saml2.auth import OneLogin_Saml2_Auth
    from onelogin.saml2.response import OneLogin_Saml2_Response

    sp = _sp()
    handle = _register(app, tenant, sessions, sp)
    _member(web, tenant)
    settings = onelogin_settings(handle.idp, sp, name_id_format=name_format)
    auth = OneLogin_Saml2_Auth(onelogin_request_data(sp.acs), old_settings=settings)
    page = follow(web, web.get(path_of(auth.login())))
    fields = _saml_response(page, sp.acs)
    response = OneLogin_Saml2_Response(settings, fields["SAMLResponse"])
    assert response.is_valid(onelogin_request_data(sp.acs, fields), auth.get_last_request_id()), response.get_error()
    assert response.get_nameid_format() == name_format


def test_an_apps_name_id_source_and_format_apply_when_the_request_names_none(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sp = _sp()
    handle = _register(app, tenant, sessions, sp, name_id_format=UNSPECIFIED)
    with sessions.begin() as session:
        row = session.get(ServicePrincipal, handle.sp_id)
        row.saml_options = {**row.saml_options, "nameIdSource": "objectid"}
    user = _member(web, tenant)
    client = _client(tmp_path, web, tenant, handle, sp)
    request_id, page = _start(web, client, handle)
    fields = _saml_response(page, sp.acs)
    response = client.parse_authn_request_response(fields["SAMLResponse"], POST, outstanding={request_id: "/"})
    assert (response.name_id.format, response.name_id.text) == (UNSPECIFIED, user["id"])


def test_signed_post_request_is_required_and_verified(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sp = _sp()
    handle = _register(app, tenant, sessions, sp, require_signed=True, verify_with=SP_PARTY)
    _member(web, tenant)
    unsigned = _client(tmp_path, web, tenant, handle, sp)
    _, page = _start(web, unsigned, handle, binding=POST)
    assert page.status_code == 400 and "AADSTS76021" in page.text
    signed = _client(tmp_path, web, tenant, handle, sp, sign_requests=True)
    request_id, page = _start(web, signed, handle, binding=POST)
    fields = _saml_response(page, sp.acs)
    assert signed.parse_authn_request_response(fields["SAMLResponse"], POST, outstanding={request_id: "/"})
    # Tampered in transit: the signature no longer matches.
    _, info = signed.prepare_for_authenticate(entityid=handle.idp.entity_id, binding=POST)
    action, form = form_fields(info["data"])
    xml = base64.b64decode(form["SAMLRequest"]).replace(sp.acs.encode(), b"https://evil.example/acs")
    assert b"evil.example" in xml
    tampered = follow(web, web.post(path_of(action), data={"SAMLRequest": b64(xml)}))
    assert tampered.status_code == 400 and "AADSTS75005" in tampered.text


def test_a_replayed_authn_request_is_answered_once(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sp = _sp()
    handle = _register(app, tenant, sessions, sp)
    _member(web, tenant)
    client = _client(tmp_path, web, tenant, handle, sp)
    _, info = client.prepare_for_authenticate(entityid=handle.idp.entity_id)
    location = path_of(dict(info["headers"])["Location"])
    _saml_response(follow(web, web.get(location)), sp.acs)
    again = follow(web, web.get(location))
    assert again.status_code == 400 and "already answered" in again.text
    assert [r.error_code for r in _sign_ins(sessions, tenant)] == [0, 75005]


def test_refusals_unknown_issuer_reply_url_not_assigned(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sp = _sp()
    handle = _register(app, tenant, sessions, sp, assignment_required=True)
    _member(web, tenant)
    stranger = _sp("stranger")
    _, page = _start(web, _client(tmp_path, web, tenant, handle, stranger), handle)
    assert page.status_code == 400 and "AADSTS700016" in page.text and stranger.entity_id in page.text
    moved = Sp(sp.entity_id, "https://expenses.example/other/acs", sp.slo, SP_PARTY)
    _, page = _start(web, _client(tmp_path, web, tenant, handle, moved), handle)
    assert page.status_code == 400 and "AADSTS50011" in page.text
    _, page = _start(web, _client(tmp_path, web, tenant, handle, sp), handle)
    assert page.status_code == 403 and "AADSTS50105" in page.text
    rows = _sign_ins(sessions, tenant)
    assert [r.error_code for r in rows] == [700016, 50011, 50105]
    assert len({r.ip_address for r in rows}) == 1 and rows[0].ip_address and rows[0].ip_address.startswith("10.")
    assert "AADSTS50105" in str(rows[2].failure_reason) and rows[2].user_id is not None


def test_the_response_for_another_app_is_not_accepted(
    app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    from onelogin.saml2.auth import OneLogin_Saml2_Auth
    from onelogin.saml2.response import OneLogin_Saml2_Response

    expenses, payroll = _sp(), _sp("payroll")
    _register(app, tenant, sessions, expenses)
    payroll_app = _register(app, tenant, sessions, payroll, display_name="Payroll")
    _member(web, tenant)
    settings = onelogin_settings(payroll_app.idp, payroll)
    auth = OneLogin_Saml2_Auth(onelogin_request_data(payroll.acs), old_settings=settings)
    fields = _saml_response(follow(web, web.get(path_of(auth.login()))), payroll.acs)
    # Handed to the expenses SP (trusting the same signing certificate, so only the addressing can refuse it).
    wrong = onelogin_settings(payroll_app.idp, expenses)
    response = OneLogin_Saml2_Response(wrong, fields["SAMLResponse"])
    assert not response.is_valid(onelogin_request_data(expenses.acs, fields), auth.get_last_request_id())
    assert "was received at https://expenses.example/saml/acs instead of" in response.get_error()
    wrong_but_same_acs = onelogin_settings(payroll_app.idp, Sp(expenses.entity_id, payroll.acs, payroll.slo, SP_PARTY))
    response = OneLogin_Saml2_Response(wrong_but_same_acs, fields["SAMLResponse"])
    assert not response.is_valid(onelogin_request_data(payroll.acs, fields), auth.get_last_request_id())
    assert "audience" in response.get_error().lower()


def test_not_signed_in_member_chooses_signs_in_and_comes_back(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sp = _sp()
    handle = _register(app, tenant, sessions, sp)
    user = tenant.new_user()
    client = _client(tmp_path, web, tenant, handle, sp)
    relay = "/reports/" + "ü" * 400 + "x" * 200  # 1,008 bytes: the longest kind Hospes keeps
    request_id, page = _start(web, client, handle, relay_state=relay)
    assert page.status_code == 200 and "Sign in to Contoso Expenses" in page.text
    member_url = re.search(r'id="member-signin" href="([^"]+)"', page.text)
    assert member_url
    login_url = member_url.group(1).replace("&amp;", "&")
    form = web.get(login_url)
    nxt = parse_qs(urlsplit(login_url).query)["next"][0]
    done = web.post(
        f"/{tenant.id}/login",
        data={
            "csrf": csrf_of(form.text),
            "username": user["userPrincipalName"],
            "password": "Correct-Horse-9",
            "next": nxt,
        },
    )
    fields = _saml_response(follow(web, done), sp.acs)
    assert fields["RelayState"] == relay
    assert client.parse_authn_request_response(fields["SAMLResponse"], POST, outstanding={request_id: "/"})


def test_passive_request_without_session_gets_a_no_passive_response(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sp = _sp()
    handle = _register(app, tenant, sessions, sp)
    client = _client(tmp_path, web, tenant, handle, sp)
    request_id, page = _start(web, client, handle, is_passive="true")
    fields = _saml_response(page, sp.acs)
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert "urn:oasis:names:tc:SAML:2.0:status:NoPassive" in xml and "AADSTS50058" in xml
    with pytest.raises(Exception, match="(?i)nopassive|status"):
        client.parse_authn_request_response(fields["SAMLResponse"], POST, outstanding={request_id: "/"})


def test_idp_initiated_from_my_apps_with_the_apps_relay_state(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sp = _sp()
    handle = _register(app, tenant, sessions, sp, relay_state="/home")
    user = _member(web, tenant)
    assigned = tenant.post(
        f"/servicePrincipals/{handle.sp_id}/appRoleAssignedTo",
        json={
            "principalId": user["id"],
            "resourceId": handle.sp_id,
            "appRoleId": "00000000-0000-0000-0000-000000000000",
        },
    )
    assert assigned.status_code == 201, assigned.text
    apps = web.get(f"/{tenant.domain}/myapps")
    assert f"/myapps/launch/{handle.sp_id}" in apps.text
    launched = web.get(f"/{tenant.domain}/myapps/launch/{handle.sp_id}")
    assert launched.headers["location"] == f"/{tenant.domain}/myapps/signin/{handle.app_id}"
    fields = _saml_response(follow(web, launched), sp.acs)
    assert fields["RelayState"] == "/home"
    assert b"InResponseTo" not in base64.b64decode(fields["SAMLResponse"])
    response = _client(tmp_path, web, tenant, handle, sp).parse_authn_request_response(
        fields["SAMLResponse"], POST, outstanding=None
    )
    assert response.name_id.text == user["userPrincipalName"]
    # A disabled app signs nobody in, from My Apps either.
    with sessions.begin() as session:
        session.get(ServicePrincipal, handle.sp_id).account_enabled = False  # type: ignore[union-attr]
    refused = web.get(f"/{tenant.domain}/myapps/signin/{handle.app_id}")
    assert refused.status_code == 400 and "AADSTS7000112" in refused.text


def test_guest_is_redeemed_just_in_time_and_gets_the_ext_upn(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sp = _sp()
    handle = _register(app, tenant, sessions, sp)
    address = "pat@partner.example"
    invitation = invite(tenant, address)
    client = _client(tmp_path, web, tenant, handle, sp)
    request_id, page = _start(web, client, handle)
    guest_url = re.search(r'id="guest-signin" href="([^"]+)"', page.text)
    assert guest_url
    form = web.get(guest_url.group(1).replace("&amp;", "&"))
    nxt = re.search(r'name="next" value="([^"]+)"', form.text)
    assert nxt
    web.post(
        f"/{tenant.id}/guest",
        data={"csrf": csrf_of(form.text), "email": address, "next": nxt.group(1).replace("&amp;", "&")},
    )
    assert send_code(web, tenant.id).status_code == 303
    assert submit_code(web, tenant.id, latest_code(sessions, address)).status_code == 303
    fields = _saml_response(follow(web, accept(web, tenant.id)), sp.acs)
    response = client.parse_authn_request_response(fields["SAMLResponse"], POST, outstanding={request_id: "/"})
    # A passcode guest: the stored #EXT# user principal name, as Entra sends it.
    assert response.name_id.format == EMAIL and "#EXT#" in response.name_id.text
    assert (
        tenant.get(f"/users/{invitation['invitedUser']['id']}?$select=externalUserState").json()["externalUserState"]
        == "Accepted"
    )


def test_home_tenant_guest_gets_their_mail_as_name_id(
    tmp_path: Path,
    app: FastAPI,
    web: TestClient,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    sessions: sessionmaker[Session],
) -> None:
    sp = _sp()
    handle = _register(app, tenant, sessions, sp)
    alice = other_tenant.new_user("alice")
    invitation = invite(tenant, alice["userPrincipalName"])
    assert open_link(web, invitation["inviteRedeemUrl"]).status_code == 303
    # Redeemed by signing in at the home tenant (another tenant of this deployment), then back with its assertion.
    signin = web.get(f"/{tenant.id}/redeem/signin")
    home_url = html.unescape(re.search(r'id="home-signin" href="([^"]+)"', signin.text).group(1))  # type: ignore[union-attr]
    login = web.get(home_url)
    next_path = parse_qs(urlsplit(home_url).query)["next"][0]
    web.post(
        home_url.split("?")[0],
        data={
            "csrf": csrf_of(login.text),
            "username": alice["userPrincipalName"],
            "password": PASSWORD,
            "next": next_path,
        },
    )
    back = web.get(next_path)
    web.get(path_of(back.headers["location"]))
    follow(web, accept(web, tenant.id))

    client = _client(tmp_path, web, tenant, handle, sp)
    request_id, page = _start(web, client, handle)
    fields = _saml_response(page, sp.acs)
    response = client.parse_authn_request_response(fields["SAMLResponse"], POST, outstanding={request_id: "/"})
    # An Entra-style home account: the guest's mail, not the stored #EXT# user principal name.
    assert response.name_id.text == alice["userPrincipalName"].lower()
    raw = {a.name: [v.text for v in a.attribute_value] for a in response.assertion.attribute_statement[0].attribute}
    assert raw["http://schemas.microsoft.com/identity/claims/identityprovider"] == [
        f"http://testserver/{other_tenant.id}/"
    ]
    assert raw["http://schemas.microsoft.com/identity/claims/tenantid"] == [tenant.id]
    assert [(r.user_type, r.home_tenant_id) for r in _sign_ins(sessions, tenant)] == [("Guest", other_tenant.id)]


def test_single_logout_reaches_the_other_app_and_answers_the_initiator(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    first_sp, second_sp = _sp(), _sp("payroll")
    first = _register(app, tenant, sessions, first_sp, name_id_format=PERSISTENT)
    second = _register(app, tenant, sessions, second_sp, display_name="Payroll")
    _member(web, tenant)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = _client(tmp_path / "a", web, tenant, first, first_sp)
    two = _client(tmp_path / "b", web, tenant, second, second_sp)
    signed_in = {}
    for client, handle, sp in ((one, first, first_sp), (two, second, second_sp)):
        request_id, page = _start(web, client, handle)
        fields = _saml_response(page, sp.acs)
        signed_in[sp.entity_id] = client.parse_authn_request_response(
            fields["SAMLResponse"], POST, outstanding={request_id: "/"}
        )

    result = one.global_logout(signed_in[first_sp.entity_id].name_id, reason="", expire=None, sign=True)
    _, info = result[first.idp.entity_id]
    to_second = web.get(path_of(dict(info["headers"])["Location"]))
    assert to_second.status_code == 303 and to_second.headers["location"].startswith(second_sp.slo + "?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(to_second.headers["location"]).query).items()}
    request = two.parse_logout_request(params["SAMLRequest"], REDIRECT, relay_state=params["RelayState"])
    assert request.message.name_id.text == signed_in[second_sp.entity_id].name_id.text
    answer = two.handle_logout_request(
        params["SAMLRequest"], request.message.name_id, REDIRECT, relay_state=params["RelayState"]
    )
    back = web.get(path_of(dict(answer["headers"])["Location"]))
    assert back.status_code == 303 and back.headers["location"].startswith(first_sp.slo + "?")
    final = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}
    done = one.parse_logout_request_response(final["SAMLResponse"], REDIRECT)
    assert done.status_ok()
    # The browser session is over: My Apps asks for a sign-in again, and no participant is left.
    assert web.get(f"/{tenant.domain}/myapps").status_code == 303
    with sessions() as session:
        assert session.scalars(select(SsoParticipant).where(SsoParticipant.tenant_id == tenant.id)).all() == []


def test_signing_out_here_signs_out_of_each_saml_app(
    tmp_path: Path, app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    first_sp, second_sp = _sp(), _sp("payroll")
    first = _register(app, tenant, sessions, first_sp)
    second = _register(app, tenant, sessions, second_sp, display_name="Payroll")
    _member(web, tenant)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    clients = {
        first_sp.slo: _client(tmp_path / "a", web, tenant, first, first_sp),
        second_sp.slo: _client(tmp_path / "b", web, tenant, second, second_sp),
    }
    for client, handle, sp in ((clients[first_sp.slo], first, first_sp), (clients[second_sp.slo], second, second_sp)):
        request_id, page = _start(web, client, handle)
        fields = _saml_response(page, sp.acs)
        client.parse_authn_request_response(fields["SAMLResponse"], POST, outstanding={request_id: "/"})

    form = web.get(f"/{tenant.domain}/logout")
    page = web.post(f"/{tenant.domain}/logout", data={"csrf": csrf_of(form.text)})
    # A page of its own starts the chain (a form POST's redirects stay within the form page's form-action).
    assert page.status_code == 200
    hop = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page.text)
    assert hop
    location = hop.group(1).replace("&amp;", "&")
    told = []
    while not location.startswith(f"/{tenant.domain}/"):
        slo = location.split("?", 1)[0]
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        client = clients[slo]
        request = client.parse_logout_request(params["SAMLRequest"], REDIRECT, relay_state=params["RelayState"])
        answer = client.handle_logout_request(
            params["SAMLRequest"], request.message.name_id, REDIRECT, relay_state=params["RelayState"]
        )
        told.append(slo)
        back = web.get(path_of(dict(answer["headers"])["Location"]))
        assert back.status_code == 303
        location = back.headers["location"]
    assert told == [first_sp.slo, second_sp.slo]
    assert location == f"/{tenant.domain}/login?signed_out=1"
    with sessions() as session:
        assert session.scalars(select(SsoParticipant).where(SsoParticipant.tenant_id == tenant.id)).all() == []


def test_metadata_per_app_and_per_tenant(
    web: TestClient, app: FastAPI, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    handle = _register(app, tenant, sessions, _sp())
    per_app = _metadata(web, tenant, handle)
    assert handle.signing.cert_b64 in per_app and f'entityID="http://testserver/{tenant.id}/"' in per_app
    per_tenant = web.get(f"/{tenant.domain}/federationmetadata/2007-06/federationmetadata.xml")
    assert per_tenant.status_code == 200 and "SingleSignOnService" in per_tenant.text
    unknown = web.get(f"/{tenant.id}/federationmetadata/2007-06/federationmetadata.xml?appid=nope")
    assert unknown.status_code == 404 and "AADSTS700016" in unknown.text


def test_a_redirect_without_a_message_is_750054(web: TestClient, tenant: TenantHandle) -> None:
    page = web.get(f"/{tenant.id}/saml2")
    assert page.status_code == 400 and "AADSTS750054" in page.text


def _deflated(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return quote_plus(base64.b64encode(compressor.compress(xml) + compressor.flush()).decode())


def test_bad_input_gets_a_page_never_a_500(
    app: FastAPI, web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sp = _sp()
    _register(app, tenant, sessions, sp, verify_with=SP_PARTY)
    ns = 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
    ds = 'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'

    def request(body: str = "", tag: str = "AuthnRequest", extra: str = "") -> bytes:
        return (
            f'<samlp:{tag} {ns} ID="a1" Version="2.0"{extra}><saml:Issuer>{sp.entity_id}</saml:Issuer>{body}'
            f"</samlp:{tag}>"
        ).encode()

    bad_signature = request(
        f'<ds:Signature {ds}><ds:SignedInfo><ds:Reference URI="#zz"/></ds:SignedInfo></ds:Signature>'
    )
    cases: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET", "saml2?SAMLRequest=" + _deflated(b"<foo/>"), None),
        ("POST", "saml2", {"SAMLRequest": b64(bad_signature)}),
        ("POST", "saml2", {"SAMLRequest": b64(request(f"<ds:Signature {ds}>garbage</ds:Signature>"))}),
        ("POST", "saml2", {"SAMLResponse": b64(b"<x/>")}),
        ("POST", "saml2", {"SAMLRequest": "%%%"}),
        ("POST", "saml2", {"SAMLRequest": b64(request(tag="LogoutRequest"))}),
        ("GET", "saml2?SAMLRequest=" + _deflated(request(tag="LogoutRequest", extra=' NotOnOrAfter="soon"')), None),
        ("GET", "saml2?SAMLRequest=" + _deflated(request()) + "&SigAlg=x&Signature=AAAA", None),
        ("GET", "saml2?SAMLRequest=" + _deflated(b'<?xml version="1.0" encoding="UTF-16"?><a/>'), None),
        ("GET", "saml2/continue?ctx=v1:abc", None),
        ("GET", "myapps/signin/nope", None),
        ("GET", "federationmetadata/2007-06/federationmetadata.xml?appid=%00", None),
    ]
    for method, path, data in cases:
        response = web.request(method, f"/{tenant.id}/{path}", data=data)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:500])
