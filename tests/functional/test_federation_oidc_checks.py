"""The relying party's checks of an external OpenID provider's answer, against a minimal provider whose ID tokens
the test writes (``tests/helpers/oidc_partner.py``): PKCE S256 and the client secret reach the token endpoint; a
wrong audience, issuer, nonce, signature or lifetime, an email outside the provider's domains, or an error from the
provider is refused with a page (AADSTS50027 / 5000819). A provider bound to no domain is a button on the guest
sign-in pages, where only a verified email names the guest."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey

from hospes.web import guarded_relying_party
from tests.helpers.oidc_partner import FakeOp, fake_op
from tests.helpers.portal import csrf_of
from tests.helpers.redemption import accept, invite, open_link
from tests.helpers.tenants import TenantHandle

DOMAIN = "partner-op.example"


@pytest.fixture(autouse=True)
def loopback_admitted(app: FastAPI) -> Iterator[None]:
    """The test provider runs on loopback, which an operator admits with HOSPES_OUTBOUND_ALLOW."""
    federation = app.state.web.redemption.federation
    default = federation.rp
    federation.rp = guarded_relying_party("127.0.0.1")
    yield
    federation.rp = default


@pytest.fixture(scope="module")
def op() -> Iterator[FakeOp]:
    with fake_op() as provider:
        yield provider


def _configure(tenant: TenantHandle, op: FakeOp, domains: list[str]) -> None:
    body = {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": "Partner OP",
        "issuer": op.issuer,
        "clientId": op.client_id,
        "wellKnownEndpoint": f"{op.base}/.well-known/openid-configuration",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": op.client_secret,
        },
        "domains": [{"id": d} for d in domains],
    }
    assert tenant.post("/identity/identityProviders", json=body).status_code == 201


def _to_provider(web: TestClient, tenant: TenantHandle, address: str) -> dict[str, str]:
    assert open_link(web, invite(tenant, address)["inviteRedeemUrl"]).status_code == 303
    went = web.get(f"/{tenant.id}/redeem/federation")
    assert went.status_code == 303, went.text
    return {k: v[0] for k, v in parse_qs(urlsplit(went.headers["location"]).query).items()}


def _back(web: TestClient, tenant: TenantHandle, **params: str) -> Any:
    return web.get(f"/te/{tenant.id}/oauth2/authresp?{urlencode(params)}")


def test_a_good_answer_and_what_the_token_endpoint_received(web: TestClient, tenant: TenantHandle, op: FakeOp) -> None:
    _configure(tenant, op, [DOMAIN])
    query = _to_provider(web, tenant, f"ana@{DOMAIN}")
    assert query["client_id"] == op.client_id and query["code_challenge_method"] == "S256"
    code = op.issue_code(op.claims(query["nonce"], f"ana@{DOMAIN}"))
    back = _back(web, tenant, code=code, state=query["state"])
    assert back.status_code == 303, back.text
    sent = op.token_requests[-1]
    digest = hashlib.sha256(sent["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]
    assert sent["redirect_uri"] == f"http://testserver/te/{tenant.id}/oauth2/authresp"
    assert web.get(back.headers["location"]).headers["location"].endswith("/redeem/consent")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong_audience", "another audience"),
        ("wrong_issuer", "another issuer"),
        ("wrong_nonce", "nonce does not match"),
        ("expired", "has expired"),
        ("forged_signature", "signature does not verify"),
        ("outside_domain", "AADSTS5000819"),
        ("no_email", "sent no email address"),
        ("provider_error", "did not sign you in"),
        ("bad_code", "refused the code"),
    ],
)
def test_wrong_answers_are_refused(web: TestClient, tenant: TenantHandle, op: FakeOp, case: str, expected: str) -> None:
    _configure(tenant, op, [DOMAIN])
    query = _to_provider(web, tenant, f"ana@{DOMAIN}")
    claims = op.claims(query["nonce"], f"ana@{DOMAIN}")
    changes: dict[str, dict[str, Any]] = {
        "wrong_audience": {"aud": "someone-else"},
        "wrong_issuer": {"iss": "https://evil.example"},
        "wrong_nonce": {"nonce": "another"},
        "expired": {"exp": claims["iat"] - 600},
        "outside_domain": {"email": "ana@elsewhere.example"},
    }
    claims.update(changes.get(case, {}))
    if case == "no_email":
        claims.pop("email")
    if case == "forged_signature":
        op.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    try:
        if case == "provider_error":
            back = _back(web, tenant, error="access_denied", error_description="user cancelled", state=query["state"])
        else:
            code = "not-issued" if case == "bad_code" else op.issue_code(claims)
            back = _back(web, tenant, code=code, state=query["state"])
    finally:
        op.signing_key = None
    assert back.status_code == 400, back.text
    assert expected in back.text.replace("&#39;", "'")
    assert web.get(f"/{tenant.id}/redeem/continue").headers["location"].endswith("/redeem/signin")


def test_a_provider_without_domains_is_a_button(web: TestClient, tenant: TenantHandle, op: FakeOp) -> None:
    _configure(tenant, op, [])
    invite(tenant, "bo@anywhere.example")
    page = web.get(f"/{tenant.id}/guest")
    assert "Sign in with Partner OP" in page.text
    link = page.text.split(f'href="/{tenant.id}/guest/idp/', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    went = web.get(f"/{tenant.id}/guest/idp/{link}")
    assert went.status_code == 303, went.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(went.headers["location"]).query).items()}
    assert "login_hint" not in query  # nobody named yet: the provider says who signs in
    unverified = op.issue_code(op.claims(query["nonce"], "bo@anywhere.example", email_verified=False))
    refused = _back(web, tenant, code=unverified, state=query["state"])
    assert refused.status_code == 400 and "verified" in refused.text

    went = web.get(f"/{tenant.id}/guest/idp/{link}")
    query = {k: v[0] for k, v in parse_qs(urlsplit(went.headers["location"]).query).items()}
    code = op.issue_code(op.claims(query["nonce"], "Bo@Anywhere.example"))
    back = _back(web, tenant, code=code, state=query["state"])
    assert back.status_code == 303, back.text
    assert web.get(back.headers["location"]).headers["location"].endswith("/redeem/consent")
    assert accept(web, tenant.id).status_code == 303
    guest = tenant.get("/users?$filter=mail eq 'bo@anywhere.example'&$select=externalUserState,identities").json()
    assert guest["value"][0]["externalUserState"] == "Accepted"
    assert any(i["issuer"] == op.issuer for i in guest["value"][0]["identities"])


def test_the_button_on_a_redemption_keeps_the_invited_address(
    web: TestClient, tenant: TenantHandle, op: FakeOp
) -> None:
    _configure(tenant, op, [])
    assert open_link(web, invite(tenant, "cy@anywhere.example")["inviteRedeemUrl"]).status_code == 303
    signin = web.get(f"/{tenant.id}/redeem/signin")
    assert "Send code" in signin.text and "Sign in with Partner OP" in signin.text
    link = signin.text.split(f'href="/{tenant.id}/guest/idp/', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    went = web.get(f"/{tenant.id}/guest/idp/{link}")
    query = {k: v[0] for k, v in parse_qs(urlsplit(went.headers["location"]).query).items()}
    assert query["login_hint"] == "cy@anywhere.example"
    code = op.issue_code(op.claims(query["nonce"], "someone-else@anywhere.example"))
    refused = _back(web, tenant, code=code, state=query["state"])
    assert refused.status_code == 400 and "this sign-in is for" in refused.text
    assert csrf_of(web.get(f"/{tenant.id}/redeem/signin").text)  # the flow goes on at its sign-in step


def test_a_provider_configured_with_another_issuer_is_refused(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, op: FakeOp
) -> None:
    """The discovery document is kept per process, but its issuer is compared with each tenant's configuration."""
    _configure(other_tenant, op, [DOMAIN])  # a good configuration fills the cache
    body = {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": "Misconfigured",
        "issuer": "https://not-the-issuer.example",
        "clientId": op.client_id,
        "wellKnownEndpoint": f"{op.base}/.well-known/openid-configuration",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": op.client_secret,
        },
        "domains": [{"id": DOMAIN}],
    }
    assert tenant.post("/identity/identityProviders", json=body).status_code == 201
    assert open_link(web, invite(tenant, f"ana@{DOMAIN}")["inviteRedeemUrl"]).status_code == 303
    refused = web.get(f"/{tenant.id}/redeem/federation")
    assert refused.status_code == 400 and "another issuer" in refused.text


def test_a_button_does_not_vouch_for_a_domain_federated_to_another_provider(
    web: TestClient, tenant: TenantHandle, op: FakeOp
) -> None:
    """A domain bound to its organization's own provider signs in there only: a provider bound to no domain (whose
    users say their addresses are verified) must not redeem that domain's invitations around it."""
    from tests.helpers.saml import new_party
    from tests.helpers.saml_partner import federation_body

    saml = federation_body(new_party("Bound IdP"), ["bound-elsewhere.example"])
    cast = "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation"
    assert tenant.post(cast, json=saml).status_code == 201
    _configure(tenant, op, [])
    assert open_link(web, invite(tenant, "dee@bound-elsewhere.example")["inviteRedeemUrl"]).status_code == 303
    signin = web.get(f"/{tenant.id}/guest")
    link = signin.text.split(f'href="/{tenant.id}/guest/idp/', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    web.cookies.clear()
    went = web.get(f"/{tenant.id}/guest/idp/{link}")
    query = {k: v[0] for k, v in parse_qs(urlsplit(went.headers["location"]).query).items()}
    code = op.issue_code(op.claims(query["nonce"], "dee@bound-elsewhere.example"))
    refused = _back(web, tenant, code=code, state=query["state"])
    assert refused.status_code == 400 and "AADSTS5000819" in refused.text, refused.text
