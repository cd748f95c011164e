"""MSAL Python's authorization code flow against ``hospes serve`` over HTTPS (a test CA), changing nothing but the
authority: ``ConfidentialClientApplication.acquire_token_by_auth_code_flow`` with a secret, and
``PublicClientApplication`` with PKCE alone; the browser step is an httpx client holding the session cookie."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msal
import pytest

from hospes.services.tenants import TenantBootstrap
from tests.helpers.live import LiveServer
from tests.helpers.tenants import PASSWORD

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
SCOPES = ["User.Read"]


@pytest.fixture
def trust_test_ca(tls_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_server.ca_file or "")


def _graph(server: LiveServer, boot: TenantBootstrap) -> httpx.Client:
    token = httpx.post(
        f"{server.base_url}/{boot.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": boot.client_id,
            "client_secret": boot.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        },
        verify=server.verify,
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.graph_url, headers={"Authorization": f"Bearer {token}"}, verify=server.verify, timeout=30
    )


def _app(graph: httpx.Client, **platforms: Any) -> tuple[str, str]:
    """A registered app (client id, secret) with its service principal, consented for every user."""
    app = graph.post("/applications", json={"displayName": "MSAL app", **platforms}).json()
    sp = graph.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    graph_sp = graph.get("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'").json()
    grant = graph.post(
        "/oauth2PermissionGrants",
        json={
            "clientId": sp["id"],
            "consentType": "AllPrincipals",
            "resourceId": graph_sp["value"][0]["id"],
            "scope": "openid profile offline_access User.Read",
        },
    )
    assert grant.status_code == 201, grant.text
    return app["appId"], secret


def _signed_in_browser(server: LiveServer, boot: TenantBootstrap, graph: httpx.Client) -> tuple[httpx.Client, str]:
    nick = f"msal{id(graph) % 100000}"
    upn = f"{nick}@{boot.domain}"
    created = graph.post(
        "/users",
        json={
            "accountEnabled": True,
            "displayName": "Msal User",
            "mailNickname": nick,
            "userPrincipalName": upn,
            "passwordProfile": {"password": PASSWORD},
        },
    )
    assert created.status_code == 201, created.text
    browser = httpx.Client(base_url=server.base_url, verify=server.verify, follow_redirects=False, timeout=30)
    form = browser.get(f"/{boot.tenant_id}/login?prompt=login")
    csrf = html.unescape(_CSRF.search(form.text).group(1))  # type: ignore[union-attr]
    signed = browser.post(f"/{boot.tenant_id}/login", data={"csrf": csrf, "username": upn, "password": PASSWORD})
    assert signed.status_code == 303, signed.text
    return browser, upn


def _authorize(browser: httpx.Client, auth_uri: str, redirect: str) -> dict[str, str]:
    """The browser step: with a session and consent, /authorize answers at once, with the page that posts the code
    to the app (``response_mode=form_post``, what MSAL asks for)."""
    answer = browser.get(auth_uri)
    assert answer.status_code == 200, answer.text[:500]
    assert f'action="{redirect}"' in answer.text
    return {name: html.unescape(value) for name, value in _FIELD.findall(answer.text)}


@pytest.mark.usefixtures("trust_test_ca")
def test_msal_confidential_client_auth_code_flow(tls_server: LiveServer, boot: TenantBootstrap) -> None:
    graph = _graph(tls_server, boot)
    redirect = "https://app.example/signin-oidc"
    client_id, secret = _app(graph, web={"redirectUris": [redirect]})
    browser, upn = _signed_in_browser(tls_server, boot, graph)
    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=f"{tls_server.base_url}/{boot.tenant_id}",
        instance_discovery=False,
    )
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=redirect, response_mode="form_post")
    assert flow["auth_uri"].startswith(f"{tls_server.base_url}/{boot.tenant_id}/oauth2/v2.0/authorize?")
    result = app.acquire_token_by_auth_code_flow(flow, _authorize(browser, flow["auth_uri"], redirect))
    assert "access_token" in result, result
    claims = result["id_token_claims"]
    assert claims["preferred_username"] == upn and claims["tid"] == boot.tenant_id and claims["aud"] == client_id
    me = httpx.get(
        f"{tls_server.graph_url}/me",
        headers={"Authorization": f"Bearer {result['access_token']}"},
        verify=tls_server.verify,
    )
    assert me.status_code == 200 and me.json()["userPrincipalName"] == upn
    # MSAL keeps the account and refreshes silently with the rotated refresh token.
    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == [upn]
    silent = app.acquire_token_silent(SCOPES, account=accounts[0], force_refresh=True)
    assert silent is not None and "access_token" in silent, silent


@pytest.mark.usefixtures("trust_test_ca")
def test_msal_public_client_auth_code_with_pkce(tls_server: LiveServer, boot: TenantBootstrap) -> None:
    graph = _graph(tls_server, boot)
    redirect = "http://localhost:8765"
    client_id, _secret = _app(graph, publicClient={"redirectUris": [redirect]})
    browser, upn = _signed_in_browser(tls_server, boot, graph)
    app = msal.PublicClientApplication(
        client_id, authority=f"{tls_server.base_url}/{boot.tenant_id}", instance_discovery=False
    )
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=redirect, response_mode="form_post")
    query = parse_qs(urlsplit(flow["auth_uri"]).query)
    assert query["code_challenge_method"] == ["S256"]
    result = app.acquire_token_by_auth_code_flow(flow, _authorize(browser, flow["auth_uri"], redirect))
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == upn
    assert "refresh_token" in result
