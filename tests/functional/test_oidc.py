"""OpenID Connect with authlib as the independent relying party: the authorization code flow with PKCE and nonce,
ID token validation against the JWKS, refresh rotation, UserInfo. Test names follow the OpenID conformance suite's
OP basic-plan modules (``oidcc-…``) where one applies."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError as AuthlibError
from fastapi.testclient import TestClient
from joserfc.errors import BadSignatureError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables_sso import SignIn
from tests.helpers.oidc import (
    DEFAULT_SCOPE,
    RelyingParty,
    admin_consent,
    answer_of,
    follow,
    id_token_claims,
    new_nonce,
    register_rp,
)
from tests.helpers.portal import sign_in
from tests.helpers.tenants import TenantHandle


def _member(tenant: TenantHandle, web: TestClient) -> dict[str, Any]:
    user = tenant.new_user(mail=None)
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    return user


def _flow(web: TestClient, rp: RelyingParty, scope: str = DEFAULT_SCOPE, **params: str) -> tuple[str, str, str | None]:
    """authorize with authlib's URL (PKCE S256, state, nonce): (the URL the client got back, verifier, nonce)."""
    client = rp.authlib(scope=scope)
    verifier = generate_token(48)
    nonce = params.pop("nonce", new_nonce())
    url, _state = client.create_authorization_url(rp.authorize_url, code_verifier=verifier, nonce=nonce, **params)
    back = follow(web, web.get(url))
    assert isinstance(back, str), getattr(back, "text", back)[:800]
    return back, verifier, nonce


def _tokens(rp: RelyingParty, back: str, verifier: str) -> dict[str, Any]:
    client = rp.authlib()
    token: dict[str, Any] = client.fetch_token(rp.token_url, authorization_response=back, code_verifier=verifier)
    return token


@pytest.fixture
def rp(tenant: TenantHandle) -> RelyingParty:
    party = register_rp(tenant)
    admin_consent(party)
    return party


def test_oidcc_server(tenant: TenantHandle, web: TestClient, rp: RelyingParty) -> None:
    user = _member(tenant, web)
    back, verifier, nonce = _flow(web, rp)
    assert back.startswith(rp.redirect_uri + "?")
    token = _tokens(rp, back, verifier)
    assert token["token_type"] == "Bearer" and token["refresh_token"] and token["id_token"]
    claims = id_token_claims(rp, token["id_token"], nonce)
    assert claims["iss"] == f"http://testserver/{tenant.id}/v2.0" and claims["tid"] == tenant.id
    assert claims["aud"] == rp.client_id and claims["oid"] == user["id"] and claims["nonce"] == nonce
    assert len(claims["sub"]) == 43 and claims["sub"] != user["id"]
    assert claims["preferred_username"] == user["userPrincipalName"] and claims["name"] == user["displayName"]
    assert claims["acct"] == 0 and claims["amr"] == ["pwd"] and claims["ver"] == "2.0"
    assert isinstance(claims["auth_time"], int) and claims["sid"] and claims["uti"]
    assert "idp" not in claims
    # The access token is a Graph token of this user that the Graph surface accepts.
    me = tenant.client.get("/v1.0/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["id"] == user["id"]


def test_oidcc_response_type_missing(tenant: TenantHandle, web: TestClient, rp: RelyingParty) -> None:
    _member(tenant, web)
    response = web.get(
        f"/{tenant.id}/oauth2/v2.0/authorize",
        params={"client_id": rp.client_id, "redirect_uri": rp.redirect_uri, "scope": "openid", "state": "s1"},
    )
    assert response.status_code == 302
    answer = answer_of(response.headers["location"])
    assert answer["error"] == "invalid_request" and answer["state"] == "s1"
    assert answer["error_description"].startswith("AADSTS900144")


def test_oidcc_ensure_registered_redirect_uri(
    tenant: TenantHandle, web: TestClient, rp: RelyingParty, sessions: sessionmaker[Session]
) -> None:
    """AADSTS50011: a redirect URI not registered is shown on our page, never redirected to."""
    _member(tenant, web)
    response = web.get(
        f"/{tenant.id}/oauth2/v2.0/authorize",
        params={
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri + "/evil",
            "response_type": "code",
            "scope": "openid",
        },
    )
    assert response.status_code == 400 and "location" not in response.headers
    assert "AADSTS50011" in response.text
    with sessions() as session:
        logged = session.scalars(select(SignIn.error_code).where(SignIn.app_id == rp.client_id)).all()
    assert list(logged) == [50011]
    unknown = web.get(
        f"/{tenant.id}/oauth2/v2.0/authorize",
        params={"client_id": "00000000-0000-0000-0000-000000000001", "response_type": "code", "scope": "openid"},
    )
    assert unknown.status_code == 400 and "AADSTS700016" in unknown.text


def test_oidcc_codereuse(tenant: TenantHandle, web: TestClient, rp: RelyingParty) -> None:
    """A code works once; presenting it again is AADSTS54005 and revokes the refresh token it bought."""
    _member(tenant, web)
    back, verifier, _ = _flow(web, rp)
    first = _tokens(rp, back, verifier)
    again = tenant.client.post(
        rp.token_url.removeprefix("http://testserver"),
        data={
            "grant_type": "authorization_code",
            "client_id": rp.client_id,
            "client_secret": rp.secret,
            "code": answer_of(back)["code"],
            "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier,
        },
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant" and again.json()["error_codes"] == [54005]
    with pytest.raises(AuthlibError) as refused:
        rp.authlib().refresh_token(rp.token_url, refresh_token=first["refresh_token"])
    assert refused.value.error == "invalid_grant"


def test_oidcc_refresh_token(tenant: TenantHandle, web: TestClient, rp: RelyingParty) -> None:
    """Rotation: each refresh returns a new refresh token; a spent one presented again revokes the family."""
    _member(tenant, web)
    back, verifier, _ = _flow(web, rp)
    first = _tokens(rp, back, verifier)
    second = rp.authlib().refresh_token(rp.token_url, refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"]
    third = rp.authlib().refresh_token(rp.token_url, refresh_token=second["refresh_token"])
    assert third["refresh_token"]
    with pytest.raises(AuthlibError):  # the thief replays the first one
        rp.authlib().refresh_token(rp.token_url, refresh_token=first["refresh_token"])
    with pytest.raises(AuthlibError) as revoked:  # and the rightful holder's newest one is dead too
        rp.authlib().refresh_token(rp.token_url, refresh_token=third["refresh_token"])
    assert revoked.value.error == "invalid_grant"


def test_oidcc_ensure_request_with_valid_pkce_succeeds_and_a_wrong_verifier_fails(
    tenant: TenantHandle, web: TestClient, rp: RelyingParty
) -> None:
    _member(tenant, web)
    back, verifier, _ = _flow(web, rp)
    wrong = tenant.client.post(
        rp.token_url.removeprefix("http://testserver"),
        data={
            "grant_type": "authorization_code",
            "client_id": rp.client_id,
            "client_secret": rp.secret,
            "code": answer_of(back)["code"],
            "redirect_uri": rp.redirect_uri,
            "code_verifier": secrets.token_urlsafe(48),
        },
    )
    assert wrong.status_code == 400 and wrong.json()["error_codes"] == [501481]
    assert _tokens(rp, back, verifier)["access_token"]  # the right verifier still works (the code was not spent)


def test_pkce_plain_is_refused(tenant: TenantHandle, web: TestClient, rp: RelyingParty) -> None:
    _member(tenant, web)
    response = web.get(
        f"/{tenant.id}/oauth2/v2.0/authorize",
        params={
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri,
            "response_type": "code",
            "scope": "openid",
            "code_challenge": "a" * 43,
            "code_challenge_method": "plain",
        },
    )
    assert answer_of(response.headers["location"])["error"] == "invalid_request"


@pytest.mark.parametrize("how", ["get", "post-header", "post-body"])
def test_oidcc_userinfo(tenant: TenantHandle, web: TestClient, rp: RelyingParty, how: str) -> None:
    user = _member(tenant, web)
    back, verifier, nonce = _flow(web, rp)
    token = _tokens(rp, back, verifier)
    client = tenant.client
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    if how == "get":
        response = client.get("/oidc/userinfo", headers=bearer)
    elif how == "post-header":
        response = client.post("/oidc/userinfo", headers=bearer)
    else:
        response = client.post("/oidc/userinfo", data={"access_token": token["access_token"]})
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["sub"] == id_token_claims(rp, token["id_token"], nonce)["sub"]
    assert info["name"] == user["displayName"]
    assert set(info) == {"sub", "name", "family_name", "given_name", "picture", "email"}
    missing = client.get("/oidc/userinfo")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    bad = client.get("/oidc/userinfo", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_s256_challenge_matches_rfc7636() -> None:
    """The verifier check is RFC 7636's, checked here against the RFC's own example."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_oidcc_idtoken_signature(tenant: TenantHandle, web: TestClient, rp: RelyingParty) -> None:
    """RS256 with a kid the JWKS publishes; a token whose signature was altered is refused by a relying party."""
    _member(tenant, web)
    back, verifier, nonce = _flow(web, rp)
    id_token = _tokens(rp, back, verifier)["id_token"]
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    keys = tenant.client.get(f"/{tenant.id}/discovery/v2.0/keys").json()["keys"]
    assert header["alg"] == "RS256" and header["kid"] in {k["kid"] for k in keys}
    head, body, signature = id_token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(BadSignatureError):
        id_token_claims(rp, f"{head}.{body}.{flipped}", nonce)
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "oid": "someone-else"}).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        id_token_claims(rp, f"{head}.{forged}.{signature}", nonce)


@pytest.mark.parametrize("scope", ["openid", "openid profile", "openid email"])
def test_oidcc_scope_profile_and_email(tenant: TenantHandle, web: TestClient, scope: str) -> None:
    party = register_rp(tenant)
    admin_consent(party, scope="openid profile email")
    user = tenant.new_user(mail=f"m{secrets.token_hex(3)}@{tenant.domain}")
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    back, verifier, nonce = _flow(web, party, scope=scope)
    token = party.authlib(scope=scope).fetch_token(party.token_url, authorization_response=back, code_verifier=verifier)
    claims = id_token_claims(party, token["id_token"], nonce)
    assert ("preferred_username" in claims, "name" in claims) == ("profile" in scope,) * 2
    assert ("email" in claims) == ("email" in scope)
    if "email" in scope:
        assert claims["email"] == user["mail"]
    assert "refresh_token" not in token  # no offline_access asked
    info = tenant.client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert ("name" in info) == ("profile" in scope) and ("email" in info) == ("email" in scope)


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_oidcc_server_client_secret_post(tenant: TenantHandle, web: TestClient, rp: RelyingParty, method: str) -> None:
    _member(tenant, web)
    back, verifier, _ = _flow(web, rp)
    token = rp.authlib(auth_method=method).fetch_token(
        rp.token_url, authorization_response=back, code_verifier=verifier
    )
    assert token["id_token"]
    back, verifier, _ = _flow(web, rp)
    wrong = RelyingParty(rp.tenant, rp.client_id, "not-the-secret", rp.app_object_id, rp.sp_id, rp.redirect_uri)
    with pytest.raises(AuthlibError) as refused:
        wrong.authlib(auth_method=method).fetch_token(rp.token_url, authorization_response=back, code_verifier=verifier)
    assert refused.value.error == "invalid_client"


def test_bad_authorization_requests_get_pages_not_errors(
    tenant: TenantHandle, web: TestClient, rp: RelyingParty
) -> None:
    base = f"/{tenant.id}/oauth2/v2.0/authorize"
    assert web.get(f"/common/oauth2/v2.0/authorize?client_id={rp.client_id}").status_code == 404
    assert web.get(base).status_code == 400
    for ctx in ("", "garbage", "a.b", "x" * 5000):
        for step in ("continue", "signin", "consent"):
            assert web.get(f"{base}/{step}", params={"ctx": ctx}).status_code == 400
    posted = web.post(base, content=b"\xff\xfe=\x00", headers={"content-type": "application/x-www-form-urlencoded"})
    assert posted.status_code == 400
    long_scope = web.get(
        base,
        params={
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri,
            "response_type": "code",
            "scope": "x " * 3000,
        },
    )
    assert answer_of(long_scope.headers["location"])["error"] == "invalid_scope"
