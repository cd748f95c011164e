"""Attacks on the OpenID Connect provider and the SAML identity provider, each named for what it tries."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient

from tests.helpers.oidc import RelyingParty, admin_consent, answer_of, register_rp
from tests.helpers.portal import sign_in
from tests.helpers.tenants import TenantHandle

WEB = "https://rp.example/callback"
SPA = "https://rp.example/spa"


def _code(web: TestClient, rp: RelyingParty, redirect_uri: str, **extra: str) -> str:
    query = {
        "client_id": rp.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "openid profile offline_access",
        **extra,
    }
    response = web.get(f"/{rp.tenant.id}/oauth2/v2.0/authorize?{urlencode(query)}")
    assert response.status_code == 302, response.text[:500]
    return answer_of(response.headers["location"])["code"]


def _token(client: TestClient, rp: RelyingParty, **fields: str) -> Any:
    return client.post(f"/{rp.tenant.id}/oauth2/v2.0/token", data={"client_id": rp.client_id, **fields})


def test_stolen_confidential_refresh_token_needs_the_client_secret(tenant: TenantHandle, web: TestClient) -> None:
    """An app with a web (confidential) and a single-page (public) redirect URI: a refresh token its server got
    with the client secret must not be redeemable without that secret, as if it came from the SPA."""
    rp = register_rp(tenant, web=(WEB,), spa=(SPA,))
    admin_consent(rp)
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    code = _code(web, rp, WEB)
    issued = _token(
        tenant.client, rp, grant_type="authorization_code", code=code, redirect_uri=WEB, client_secret=rp.secret
    )
    assert issued.status_code == 200, issued.text
    stolen = issued.json()["refresh_token"]
    refused = _token(tenant.client, rp, grant_type="refresh_token", refresh_token=stolen)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"
    # the rightful server still refreshes with its secret
    good = _token(tenant.client, rp, grant_type="refresh_token", refresh_token=stolen, client_secret=rp.secret)
    assert good.status_code == 200, good.text


def test_spa_refresh_token_still_refreshes_without_a_secret(tenant: TenantHandle, web: TestClient) -> None:
    rp = register_rp(tenant, web=(WEB,), spa=(SPA,))
    admin_consent(rp)
    user = tenant.new_user()
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = _code(web, rp, SPA, code_challenge=challenge, code_challenge_method="S256")
    issued = _token(
        tenant.client, rp, grant_type="authorization_code", code=code, redirect_uri=SPA, code_verifier=verifier
    )
    assert issued.status_code == 200, issued.text
    renewed = _token(tenant.client, rp, grant_type="refresh_token", refresh_token=issued.json()["refresh_token"])
    assert renewed.status_code == 200, renewed.text
