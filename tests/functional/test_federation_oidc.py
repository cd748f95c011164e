"""OpenID Connect federation against a second ``hospes serve`` (on loopback) standing for the partner's own Hospes
deployment: a guest of a federated domain redeems through it and signs in again; the ID token's ``amr`` with
``mfa`` satisfies "MFA for guests" only when the cross-tenant access settings trust that partner tenant; sign-in
log rows name the home tenant and the claim; a code replayed, a wrong ``state`` and an answer without a flow are
refused with a page."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import Principal
from hospes.services.guest_policy import GuestPolicyService
from hospes.storage.tables import Application
from hospes.storage.tables_sso import SignIn
from hospes.web import guarded_relying_party
from tests.helpers.live import LiveServer, run_server
from tests.helpers.oidc import admin_consent, register_rp
from tests.helpers.portal import PASSWORD, csrf_of, enrol_totp, sign_in, sign_in_as_admin
from tests.helpers.redemption import accept, invite, open_link
from tests.helpers.tenants import TenantHandle

DOMAIN = "northwind-remote.example"
_META = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]+)">')


@pytest.fixture(scope="module")
def partner_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(database_url, str(tmp_path_factory.mktemp("partner-op"))) as server:
        yield server


@pytest.fixture(autouse=True)
def loopback_admitted(app: FastAPI) -> Iterator[None]:
    """The partner runs on loopback, which an operator admits with HOSPES_OUTBOUND_ALLOW."""
    federation = app.state.web.redemption.federation
    default = federation.rp
    federation.rp = guarded_relying_party("127.0.0.1")
    yield
    federation.rp = default


def _federate(
    resource: TenantHandle, home: TenantHandle, server: LiveServer, sessions: sessionmaker[Session]
) -> dict[str, Any]:
    """The home tenant (served by the partner server) registers the resource tenant's federation as an app; the
    resource tenant configures it as an OpenID provider for the partner's domain."""
    redirect = f"https://testserver/te/{resource.id}/oauth2/authresp"
    rp = register_rp(home, "Hospes federation", web=(redirect,))
    # The in-process app is http://testserver, which Graph would refuse as a redirect URI (https or loopback only).
    with sessions.begin() as session:
        app = session.get(Application, rp.app_object_id)
        assert app is not None
        app.web_redirect_uris = [redirect.replace("https://", "http://")]
    admin_consent(rp, "openid profile email")
    issuer = f"{server.base_url}/{home.id}/v2.0"
    body = {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": "Northwind",
        "issuer": issuer,
        "clientId": rp.client_id,
        "wellKnownEndpoint": f"{issuer}/.well-known/openid-configuration",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": rp.secret,
        },
        "domains": [{"id": DOMAIN}],
    }
    created = resource.post("/identity/identityProviders", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def _home_user(
    home: TenantHandle, web: TestClient, nick: str, *, mfa: bool
) -> tuple[dict[str, Any], pyotp.TOTP | None]:
    user = home.new_user(nick, mail=f"{nick}@{DOMAIN}")
    totp = None
    if mfa:
        assert sign_in(web, home.domain, user["userPrincipalName"]).status_code == 303
        totp, _ = enrol_totp(web, home.domain)
        web.cookies.clear()
    return user, totp


def _partner_sign_in(server: LiveServer, home: TenantHandle, upn: str, totp: pyotp.TOTP | None) -> httpx.Client:
    """A browser signed in at the partner's server (password, then the authenticator code)."""
    browser = httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30)
    page = browser.get(f"/{home.id}/login?prompt=login")
    signed = browser.post(f"/{home.id}/login", data={"csrf": csrf_of(page.text), "username": upn, "password": PASSWORD})
    assert signed.status_code == 303, signed.text
    if totp is not None:
        challenge = browser.get(signed.headers["location"])
        code = totp.at(time.time() + 30)
        done = browser.post(signed.headers["location"], data={"csrf": csrf_of(challenge.text), "code": code})
        assert done.status_code == 303, done.text
    return browser


def _at_partner(browser: httpx.Client, url: str) -> str:
    """Follow the partner's pages until they send the browser back to the resource tenant: that URL."""
    response = browser.get(url)
    for _ in range(10):
        if response.status_code in (302, 303):
            location = response.headers["location"]
        elif response.status_code == 200 and _META.search(response.text):
            location = html.unescape(_META.search(response.text).group(1))  # type: ignore[union-attr]
        else:
            raise AssertionError(f"stuck at the partner: {response.status_code} {response.text[:400]}")
        if location.startswith("http://testserver"):
            return location
        response = browser.get(location)
    raise AssertionError("too many hops at the partner")


def _policy(tenant: TenantHandle, **values: Any) -> None:
    app: Any = tenant.client.app
    GuestPolicyService(app.state.runtime.sessions, Principal(tenant.id, "system", "", "test")).update(**values)


def _redeem_to_partner(web: TestClient, resource: TenantHandle, address: str) -> str:
    started = open_link(web, invite(resource, address)["inviteRedeemUrl"])
    assert started.status_code == 303
    page = web.get(f"/{resource.id}/redeem/signin")
    assert 'id="federated-signin"' in page.text, page.text
    went = web.get(f"/{resource.id}/redeem/federation")
    assert went.status_code == 303, went.text
    return str(went.headers["location"])


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + "?" + parts.query


def _guest_rows(sessions: sessionmaker[Session], tenant_id: str) -> list[SignIn]:
    with sessions() as session:
        query = select(SignIn).where(SignIn.tenant_id == tenant_id, SignIn.protocol == "web")
        return list(session.scalars(query.order_by(SignIn.created_at)))


def test_guest_redeems_through_the_partners_hospes_and_signs_in_again(
    partner_server: LiveServer,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    web: TestClient,
    sessions: sessionmaker[Session],
) -> None:
    provider = _federate(tenant, other_tenant, partner_server, sessions)
    ana, _ = _home_user(other_tenant, web, "ana", mfa=False)
    location = _redeem_to_partner(web, tenant, ana["mail"])
    query = dict(httpx.URL(location).params)
    assert location.startswith(f"{partner_server.base_url}/{other_tenant.id}/oauth2/v2.0/authorize?")
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert query["login_hint"] == ana["mail"]
    browser = _partner_sign_in(partner_server, other_tenant, ana["userPrincipalName"], None)
    back = _at_partner(browser, location)
    returned = web.get(_path(back))
    assert returned.status_code == 303, returned.text
    assert web.get(returned.headers["location"]).headers["location"].endswith("/redeem/consent")
    assert accept(web, tenant.id).status_code == 303
    guest = tenant.get(f"/users?$filter=mail eq '{ana['mail']}'&$select=externalUserState,identities").json()
    identities = guest["value"][0]["identities"]
    assert guest["value"][0]["externalUserState"] == "Accepted"
    assert any(i["issuer"] == provider["issuer"] and i["issuerAssignedId"] for i in identities), identities

    # Replaying the same answer (code and state) is refused: the flow is spent.
    again = web.get(_path(back))
    assert again.status_code == 400 and "AADSTS50027" in again.text

    # Later, just in time: the same provider, no consent, and the guest lands on My Apps.
    web.cookies.clear()
    page = web.get(f"/{tenant.id}/guest")
    web.post(f"/{tenant.id}/guest", data={"csrf": csrf_of(page.text), "email": ana["mail"]})
    assert "federated-signin" in web.get(f"/{tenant.id}/redeem/signin").text
    went = web.get(f"/{tenant.id}/redeem/federation")
    finished = web.get(web.get(_path(_at_partner(browser, went.headers["location"]))).headers["location"])
    assert finished.status_code == 303 and finished.headers["location"] == f"/{tenant.id}/myapps"


@pytest.mark.parametrize("trusted", [True, False])
def test_mfa_at_the_partner_counts_only_when_trusted(
    partner_server: LiveServer,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    web: TestClient,
    sessions: sessionmaker[Session],
    trusted: bool,
) -> None:
    _federate(tenant, other_tenant, partner_server, sessions)
    partner = {"tenantId": other_tenant.id, "inboundTrust": {"isMfaAccepted": trusted}}
    assert tenant.post("/policies/crossTenantAccessPolicy/partners", json=partner).status_code == 201
    _policy(tenant, require_guest_mfa=True)
    bo, totp = _home_user(other_tenant, web, "bo", mfa=True)
    location = _redeem_to_partner(web, tenant, bo["mail"])
    browser = _partner_sign_in(partner_server, other_tenant, bo["userPrincipalName"], totp)
    returned = web.get(_path(_at_partner(browser, location)))
    step = web.get(returned.headers["location"]).headers["location"]
    if trusted:
        assert step.endswith("/redeem/consent")  # the partner's MFA satisfied the policy
        assert accept(web, tenant.id).status_code == 303
        row = _guest_rows(sessions, tenant.id)[-1]
        assert row.error_code == 0 and row.home_tenant_id == other_tenant.id
        assert row.details["additionalDetails"] == "MFA requirement satisfied by claim in the token"
        listed = tenant.get(f"/auditLogs/signIns?$filter=userId eq '{row.user_id}'").json()["value"][0]
        assert listed["homeTenantId"] == other_tenant.id
        assert listed["status"]["additionalDetails"] == "MFA requirement satisfied by claim in the token"
        with TestClient(
            web.app, raise_server_exceptions=False, follow_redirects=False
        ) as admin_web:  # the portal's sign-in log entry
            sign_in_as_admin(admin_web, tenant)
            entry = admin_web.get(f"/{tenant.domain}/admin/sign-ins/{row.id}?lang=fr")
            assert entry.status_code == 200 and other_tenant.id in entry.text
            assert 'id="sign-in-mfa-claim"' in entry.text and "revendication du jeton" in entry.text
    else:
        assert step.endswith("/redeem/mfa")  # asked here, with an authenticator set up in this tenant
        page = web.get(step)
        assert page.status_code == 200 and 'name="sealed"' in page.text


def test_an_answer_for_another_browser_or_state_is_refused(
    partner_server: LiveServer,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    web: TestClient,
    sessions: sessionmaker[Session],
) -> None:
    _federate(tenant, other_tenant, partner_server, sessions)
    cy, _ = _home_user(other_tenant, web, "cy", mfa=False)
    location = _redeem_to_partner(web, tenant, cy["mail"])
    browser = _partner_sign_in(partner_server, other_tenant, cy["userPrincipalName"], None)
    back = _at_partner(browser, location)
    forged = _path(back).replace("state=", "state=x")
    refused = web.get(forged)
    assert refused.status_code == 400 and "AADSTS50027" in refused.text
    with TestClient(web.app, raise_server_exceptions=False) as stranger:
        elsewhere = stranger.get(_path(back))  # no flow cookie: not this browser's sign-in
        assert elsewhere.status_code == 400 and "no sign-in in progress" in elsewhere.text
    assert web.get(_path(back)).status_code == 303  # the right browser still can


@pytest.mark.parametrize("targeted", [True, False])
def test_policies_see_the_partner_tenant_of_a_federated_guest(
    partner_server: LiveServer,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    web: TestClient,
    sessions: sessionmaker[Session],
    targeted: bool,
) -> None:
    """A policy for guests of one partner tenant applies to a guest who came over OpenID Connect from a Hospes
    tenant: its issuer names the home tenant, a fact of the evaluation."""
    _federate(tenant, other_tenant, partner_server, sessions)
    members = [other_tenant.id if targeted else "5f1e8a5e-0000-4000-8000-000000000001"]
    policy = {
        "displayName": "MFA for one partner's guests",
        "state": "enabled",
        "conditions": {
            "applications": {"includeApplications": ["All"]},
            "users": {
                "includeGuestsOrExternalUsers": {
                    "guestOrExternalUserTypes": "b2bCollaborationGuest",
                    "externalTenants": {
                        "@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
                        "membershipKind": "enumerated",
                        "members": members,
                    },
                }
            },
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }
    assert tenant.post("/identity/conditionalAccess/policies", json=policy).status_code == 201
    dee, _ = _home_user(other_tenant, web, "dee", mfa=False)
    location = _redeem_to_partner(web, tenant, dee["mail"])
    browser = _partner_sign_in(partner_server, other_tenant, dee["userPrincipalName"], None)
    returned = web.get(_path(_at_partner(browser, location)))
    step = web.get(returned.headers["location"]).headers["location"]
    assert step.endswith("/redeem/mfa" if targeted else "/redeem/consent")
