"""SAML 2.0 direct federation: the Graph resource and its domains, then a guest of a federated domain redeeming
through the partner's identity provider (Responses signed by a test partner with signxml), and every refusal a
wrong answer gets: tampered, unsigned, replayed, another audience, recipient, issuer or request, expired, an email
outside the federation's domains or not the invited address."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.tokens import GRAPH_AUDIENCE
from hospes.storage.tables_redemption import GuestFlow
from hospes.storage.tables_sso import SignIn
from tests.helpers.graph import assert_graph_error
from tests.helpers.portal import csrf_of, sign_in
from tests.helpers.redemption import accept, follow, invite, open_link, path_of
from tests.helpers.saml import Sp, form_fields, register_saml_app
from tests.helpers.saml_partner import (
    SIGN_IN,
    AssertionSpec,
    Party,
    authn_request_of,
    build_response,
    federation_body,
    form_of,
    new_party,
    pysaml2_answer,
    pysaml2_idp,
    tamper_email,
)
from tests.helpers.tenants import TenantHandle

CAST = "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation"
BASE = "http://testserver"


@pytest.fixture(scope="module")
def partner() -> Party:
    return new_party("Fabrikam partner IdP")


def _federate(tenant: TenantHandle, partner: Party, domains: list[str] | None = None) -> dict[str, Any]:
    created = tenant.post(CAST, json=federation_body(partner, domains or ["fabrikam.example"]))
    assert created.status_code == 201, created.text
    return dict(created.json())


def _to_partner(web: TestClient, tenant: TenantHandle, address: str) -> tuple[str, str]:
    """Invite ``address``, open the link and press "Sign in with ...": the AuthnRequest's ID and RelayState."""
    started = open_link(web, invite(tenant, address)["inviteRedeemUrl"])
    assert started.status_code == 303, started.text
    page = web.get(f"/{tenant.id}/redeem/signin")
    assert page.status_code == 200 and 'id="federated-signin"' in page.text, page.text
    went = web.get(f"/{tenant.id}/redeem/federation")
    assert went.status_code == 303, went.text
    assert went.headers["location"].startswith(SIGN_IN + "?SAMLRequest=")
    request, relay = authn_request_of(went.headers["location"])
    issuer = request.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer")
    assert issuer is not None and issuer.text == f"{BASE}/{tenant.id}/"
    assert request.get("AssertionConsumerServiceURL") == f"{BASE}/login.srf"
    return str(request.get("ID")), relay


def _spec(tenant: TenantHandle, request_id: str, email: str | None, **kw: Any) -> AssertionSpec:
    return AssertionSpec(
        request_id=request_id, audience=f"{BASE}/{tenant.id}/", acs=f"{BASE}/login.srf", email=email, **kw
    )


def test_graph_resource_round_trip_and_domains(tenant: TenantHandle, partner: Party) -> None:
    created = _federate(tenant, partner)
    assert created["@odata.type"] == "#microsoft.graph.samlOrWsFedExternalDomainFederation"
    assert created["issuerUri"] == "https://idp.fabrikam.example/issuer"
    assert created["signingCertificate"] == partner.cert_b64
    fid = created["id"]
    listed = tenant.get("/directory/federationConfigurations").json()["value"]
    assert [f["id"] for f in listed] == [fid]
    domains = f"/directory/federationConfigurations/{fid}/microsoft.graph.samlOrWsFedExternalDomainFederation/domains"
    added = tenant.post(domains, json={"@odata.type": "microsoft.graph.externalDomainName", "id": "Fabrikam.NET"})
    assert added.status_code == 201 and added.json()["id"] == "fabrikam.net"
    assert sorted(d["id"] for d in tenant.get(domains).json()["value"]) == ["fabrikam.example", "fabrikam.net"]
    assert (
        tenant.patch(f"/directory/federationConfigurations/{fid}", json={"displayName": "Fabrikam"}).status_code == 204
    )
    assert tenant.get(f"/directory/federationConfigurations/{fid}").json()["displayName"] == "Fabrikam"
    assert tenant.delete(f"{domains}/fabrikam.net").status_code == 204
    providers = tenant.get("/identity/identityProviders").json()["value"]
    assert [p["id"] for p in providers] == [fid]
    assert tenant.delete(f"/directory/federationConfigurations/{fid}").status_code == 204
    assert_graph_error(tenant.get(f"/directory/federationConfigurations/{fid}"), 404, "Request_ResourceNotFound")


@pytest.mark.parametrize(
    ("change", "target"),
    [
        ({"passiveSignInUri": "http://idp.fabrikam.example/sso"}, "passiveSignInUri"),
        ({"signingCertificate": "bm90IGEgY2VydA=="}, "signingCertificate"),
        ({"domains": []}, "domains"),
        ({"domains": [{"id": "not a domain"}]}, "domains"),
        ({"preferredAuthenticationProtocol": "wsFed"}, "preferredAuthenticationProtocol"),
        ({"unknownProperty": 1}, "unknownProperty"),
    ],
)
def test_bad_bodies_are_refused(tenant: TenantHandle, partner: Party, change: dict[str, Any], target: str) -> None:
    response = tenant.post(CAST, json={**federation_body(partner, ["x.example"]), **change})
    error = assert_graph_error(response, 400, "Request_BadRequest")
    assert error["target"] == target if "target" in error else error["message"]


def test_a_domain_binds_one_federation_and_never_the_tenants_own(tenant: TenantHandle, partner: Party) -> None:
    _federate(tenant, partner)
    other = federation_body(new_party("other"), ["fabrikam.example"], issuerUri="https://other.example/")
    assert_graph_error(tenant.post(CAST, json=other), 409, "Request_MultipleObjectsWithSameKeyValue")
    own = federation_body(partner, [tenant.domain], issuerUri="https://own.example/")
    assert (
        "domain of this organization"
        in assert_graph_error(tenant.post(CAST, json=own), 400, "Request_BadRequest")["message"]
    )


def test_writing_needs_the_permission(tenant: TenantHandle, partner: Party) -> None:
    issuer: Any = tenant.client.app.state.runtime.issuer  # type: ignore[attr-defined]
    app_id = tenant.boot.client_id
    sp_id = tenant.get(f"/servicePrincipals?$filter=appId eq '{app_id}'").json()["value"][0]["id"]
    token, _ = issuer.issue_app_token(tenant.id, app_id, sp_id, "limited", ["Policy.Read.All"], GRAPH_AUDIENCE)
    reader = TenantHandle(tenant.boot, tenant.client, token)
    refused = reader.post(CAST, json=federation_body(partner, ["a.example"]))
    assert_graph_error(refused, 403, "Authorization_RequestDenied")
    assert reader.get("/directory/federationConfigurations").status_code == 200


def test_federated_guest_redeems_and_signs_in_again(web: TestClient, tenant: TenantHandle, partner: Party) -> None:
    _federate(tenant, partner)
    request_id, relay = _to_partner(web, tenant, "ana@fabrikam.example")
    spec = _spec(tenant, request_id, "Ana@Fabrikam.example")
    back = web.post("/login.srf", data=form_of(build_response(spec, partner), relay))
    assert back.status_code == 303, back.text
    assert back.headers["location"] == f"/{tenant.id}/redeem/continue"
    assert web.get(back.headers["location"]).headers["location"].endswith("/redeem/consent")
    done = accept(web, tenant.id)
    assert done.status_code == 303, done.text
    guest = tenant.get("/users?$filter=mail eq 'ana@fabrikam.example'&$select=id,externalUserState,identities")
    user = guest.json()["value"][0]
    assert user["externalUserState"] == "Accepted"
    assert {"signInType": "federated", "issuer": spec.issuer, "issuerAssignedId": spec.name_id} in user["identities"]

    # Later: just-in-time sign-in goes to the same provider and needs no consent.
    web.cookies.clear()
    page = web.get(f"/{tenant.id}/guest")
    started = web.post(f"/{tenant.id}/guest", data={"csrf": csrf_of(page.text), "email": "ana@fabrikam.example"})
    assert started.status_code == 303
    assert "federated-signin" in web.get(f"/{tenant.id}/redeem/signin").text
    went = web.get(f"/{tenant.id}/redeem/federation")
    request, relay = authn_request_of(went.headers["location"])
    again = _spec(tenant, str(request.get("ID")), "ana@fabrikam.example", name_id=spec.name_id, sign="response")
    back = web.post("/login.srf", data=form_of(build_response(again, partner), relay))
    assert back.status_code == 303, back.text
    finished = web.get(back.headers["location"])
    assert finished.status_code == 303 and finished.headers["location"] == f"/{tenant.id}/myapps"
    assert web.get(f"/{tenant.id}/myapps").status_code == 200  # signed in


def _refusal(web: TestClient, form: dict[str, str]) -> str:
    refused = web.post("/login.srf", data=form)
    assert refused.status_code == 400, refused.text
    assert "refused" in refused.text
    return refused.text


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("tampered", "AADSTS50008"),
        ("unsigned", "AADSTS50008"),
        ("other_signer", "AADSTS50008"),
        ("wrong_audience", "another audience"),
        ("also_restricted_to_another", "another audience"),  # restrictions intersect: meant for neither
        ("wrong_recipient", "addressed to another"),
        ("wrong_issuer", "another identity provider"),
        ("wrong_request", "does not answer the sign-in request"),
        ("expired", "has expired"),
        ("wrong_domain", "AADSTS5000819"),
        ("no_email", "AADSTS5000819"),
        ("other_account", "this sign-in is for"),
        ("failed_status", "did not sign you in"),
    ],
)
def test_wrong_answers_are_refused_with_a_readable_page(
    web: TestClient, tenant: TenantHandle, partner: Party, sessions: sessionmaker[Session], case: str, expected: str
) -> None:
    _federate(tenant, partner, ["fabrikam.example", "contoso-partner.example"])
    request_id, relay = _to_partner(web, tenant, "ana@fabrikam.example")
    signer = partner
    spec = _spec(tenant, request_id, "ana@fabrikam.example")
    if case == "unsigned":
        spec.sign = "none"
    elif case == "other_signer":
        signer = new_party("attacker")
    elif case == "wrong_audience":
        spec.audience = f"{BASE}/{tenant.id}-other/"
    elif case == "also_restricted_to_another":
        spec.other_restriction = "https://another-sp.example/"
    elif case == "wrong_recipient":
        spec.acs = "https://elsewhere.example/login.srf"
    elif case == "wrong_issuer":
        spec.issuer = "https://idp.evil.example/"
    elif case == "wrong_request":
        spec.request_id = "_not-the-request"
    elif case == "expired":
        spec.now -= timedelta(hours=2)
    elif case == "wrong_domain":
        spec.email = "ana@evil.example"
    elif case == "no_email":
        spec.email = None
    elif case == "other_account":
        spec.email = "bob@contoso-partner.example"
    elif case == "failed_status":
        spec.status = "urn:oasis:names:tc:SAML:2.0:status:Responder"
    xml = build_response(spec, signer)
    if case == "tampered":
        xml = tamper_email(xml, "mallory@fabrikam.example")
    assert expected in _refusal(web, form_of(xml, relay))
    # Nothing was proven: the flow is still at its sign-in step.
    assert web.get(f"/{tenant.id}/redeem/continue").headers["location"].endswith("/redeem/signin")
    # The administrator sees the refusal, and why, in the sign-in log.
    with sessions() as session:
        rows = list(session.scalars(select(SignIn).where(SignIn.tenant_id == tenant.id, SignIn.error_code != 0)))
    assert len(rows) == 1 and rows[0].error_code in (50008, 5000819)
    assert rows[0].user_principal_name and rows[0].failure_reason.startswith(f"AADSTS{rows[0].error_code}")


def test_an_assertion_is_used_once(
    web: TestClient, tenant: TenantHandle, partner: Party, sessions: sessionmaker[Session]
) -> None:
    _federate(tenant, partner)
    request_id, relay = _to_partner(web, tenant, "ana@fabrikam.example")
    form = form_of(build_response(_spec(tenant, request_id, "ana@fabrikam.example"), partner), relay)
    with sessions() as session:  # the flow as it was while waiting for the answer
        waiting = dict(session.query(GuestFlow).filter_by(flow_id=relay).one().data)
    assert web.post("/login.srf", data=form).status_code == 303
    with sessions.begin() as session:  # put the flow back to waiting: only the replay record can refuse now
        row = session.query(GuestFlow).filter_by(flow_id=relay).one()
        row.data, row.verified_method = waiting, None
    assert "already used" in _refusal(web, form)


def test_an_answer_without_a_flow_is_refused(web: TestClient, tenant: TenantHandle, partner: Party) -> None:
    _federate(tenant, partner)
    xml = build_response(_spec(tenant, "_x", "ana@fabrikam.example"), partner)
    assert "no sign-in in progress" in _refusal(web, form_of(xml, "no-such-flow"))
    garbage = web.post("/login.srf", data={"SAMLResponse": "%%%", "RelayState": "x"})
    assert garbage.status_code == 400


@pytest.mark.parametrize("sign_response", [False, True])
def test_pysaml2_as_the_partner_idp(
    web: TestClient, tenant: TenantHandle, partner: Party, tmp_path: Path, sign_response: bool
) -> None:
    """An independent identity provider (pysaml2's Server, xmlsec1 signatures) answers the AuthnRequest Hospes
    sent; its Response signs the assertion, or the whole Response."""
    _federate(tenant, partner)
    published = web.get(f"/{tenant.id}/federation/sp-metadata.xml").text  # the partner imports Hospes' metadata
    idp = pysaml2_idp(tmp_path, partner, f"{BASE}/{tenant.id}/", f"{BASE}/login.srf", published)
    started = open_link(web, invite(tenant, "ana@fabrikam.example")["inviteRedeemUrl"])
    assert started.status_code == 303
    went = web.get(f"/{tenant.id}/redeem/federation")
    _request, relay = authn_request_of(went.headers["location"])
    xml = pysaml2_answer(
        idp, went.headers["location"], "ana@fabrikam.example", "ana-at-fabrikam", sign_response=sign_response
    )
    back = web.post("/login.srf", data=form_of(xml, relay))
    assert back.status_code == 303, back.text
    assert web.get(back.headers["location"]).headers["location"].endswith("/redeem/consent")
    assert accept(web, tenant.id).status_code == 303
    guest = tenant.get("/users?$filter=mail eq 'ana@fabrikam.example'&$select=identities").json()["value"][0]
    assert {
        "signInType": "federated",
        "issuer": "https://idp.fabrikam.example/issuer",
        "issuerAssignedId": "ana-at-fabrikam",
    } in guest["identities"]
    # The same Response again: the flow is spent, and the assertion id too.
    assert web.post("/login.srf", data=form_of(xml, relay)).status_code == 400


def test_hospes_idp_of_another_tenant_as_the_saml_partner(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    """Hospes on both sides: the partner's tenant runs Hospes' SAML identity provider with an enterprise app for
    the resource tenant (identifier {base}/{tenant}/, reply URL {base}/login.srf); its user, whose address is on a
    domain of no tenant here, redeems the resource tenant's invitation through it."""
    runtime: Any = web.app.state.runtime  # type: ignore[attr-defined]
    sp = Sp(f"{BASE}/{tenant.id}/", f"{BASE}/login.srf", f"{BASE}/{tenant.id}/signout", new_party("unused"))
    handle = register_saml_app(other_tenant, sessions, runtime.box, sp, display_name="Contoso guests")
    body = federation_body(handle.signing, ["hh-partner.example"])
    body.update(issuerUri=handle.idp.entity_id, passiveSignInUri=f"https://testserver/{other_tenant.id}/saml2")
    assert tenant.post(CAST, json=body).status_code == 201
    ana = other_tenant.new_user("ana", mail="ana@hh-partner.example")
    assert sign_in(web, other_tenant.domain, ana["userPrincipalName"]).status_code == 303  # signed in at home

    started = open_link(web, invite(tenant, "ana@hh-partner.example")["inviteRedeemUrl"])
    assert started.status_code == 303
    went = web.get(f"/{tenant.id}/redeem/federation")
    assert went.headers["location"].startswith(f"https://testserver/{other_tenant.id}/saml2?SAMLRequest=")
    page = follow(web, web.get(path_of(went.headers["location"])))
    action, fields = form_fields(page.text)
    assert action == f"{BASE}/login.srf" and "SAMLResponse" in fields
    back = web.post("/login.srf", data=fields)
    assert back.status_code == 303, back.text
    assert web.get(back.headers["location"]).headers["location"].endswith("/redeem/consent")
    assert accept(web, tenant.id).status_code == 303
    guest = tenant.get("/users?$filter=mail eq 'ana@hh-partner.example'&$select=identities").json()["value"][0]
    federated = [i for i in guest["identities"] if i["issuer"] == handle.idp.entity_id]
    assert federated and federated[0]["issuerAssignedId"]  # Hospes' pairwise persistent NameID


def test_the_redemption_order_is_the_tenants(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, partner: Party
) -> None:
    """A domain both owned by a tenant of this deployment and federated: that tenant first by default; the
    federation first when the cross-tenant default's redemption order says so."""
    _federate(tenant, partner, [other_tenant.domain])
    address = other_tenant.new_user("dee")["userPrincipalName"]
    assert open_link(web, invite(tenant, address)["inviteRedeemUrl"]).status_code == 303
    page = web.get(f"/{tenant.id}/redeem/signin")
    assert 'id="home-signin"' in page.text and "federated-signin" not in page.text
    order = ["externalFederation", "azureActiveDirectory", "socialIdentityProviders"]
    config = {"primaryIdentityProviderPrecedenceOrder": order, "fallbackIdentityProvider": "defaultConfiguredIdp"}
    changed = tenant.patch(
        "/policies/crossTenantAccessPolicy/default", json={"invitationRedemptionIdentityProviderConfiguration": config}
    )
    assert changed.status_code == 204, changed.text
    page = web.get(f"/{tenant.id}/redeem/signin")
    assert 'id="federated-signin"' in page.text and "home-signin" not in page.text
