"""The token endpoint, discovery documents, and permission enforcement."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.asgi import create_app
from hospes.services.oauth import OAuthError, TokenGrants, TokenRequest
from hospes.settings import Settings
from hospes.storage.tables import AuditLog
from tests.helpers.clock import FakeClock
from tests.helpers.graph import assert_graph_error
from tests.helpers.portal import sign_in
from tests.helpers.tenants import PASSWORD, TenantHandle, fetch_token
from tests.helpers.tls import ClientCertificate, client_certificate


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    result: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return result


def test_client_credentials_token(tenant: TenantHandle) -> None:
    claims = claims_of(tenant.token)
    assert claims["tid"] == tenant.id
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["iss"] == f"http://testserver/{tenant.id}/v2.0"
    assert "User.ReadWrite.All" in claims["roles"]  # type: ignore[operator]
    # The token verifies against the published JWKS.
    config = tenant.client.get(f"/{tenant.domain}/v2.0/.well-known/openid-configuration").json()
    assert config["issuer"] == claims["iss"]
    keys = tenant.client.get(config["jwks_uri"].replace("http://testserver", "")).json()
    assert "d" not in keys["keys"][0]  # never the private part
    decoded = jwt.decode(tenant.token, KeySet.import_key_set(keys))
    assert decoded.claims["exp"] > time.time()
    # Our own URL as scope works too, with our URL as audience; so does HTTP Basic client authentication.
    own = fetch_token(
        tenant.client, tenant.id, tenant.boot.client_id, tenant.boot.client_secret, scope="http://testserver/.default"
    )
    assert claims_of(own)["aud"] == "http://testserver"
    basic = base64.b64encode(f"{tenant.boot.client_id}:{tenant.boot.client_secret}".encode()).decode()
    response = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        headers={"Authorization": f"Basic {basic}"},
        data={"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"},
    )
    assert response.status_code == 200


def test_token_errors(tenant: TenantHandle) -> None:
    def token(**data: str) -> tuple[int, str, list[int]]:
        base = {
            "grant_type": "client_credentials",
            "client_id": tenant.boot.client_id,
            "client_secret": tenant.boot.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        }
        response = tenant.client.post(f"/{tenant.domain}/oauth2/v2.0/token", data={**base, **data})
        body = response.json()
        return response.status_code, body["error"], body["error_codes"]

    assert token(client_secret="wrong") == (401, "invalid_client", [7000215])
    assert token(client_secret="") == (401, "invalid_client", [7000218])
    assert token(client_id="") == (400, "invalid_request", [900144])
    assert token(grant_type="") == (400, "invalid_request", [900144])
    assert token(grant_type="urn:ietf:params:oauth:grant-type:device_code") == (400, "unsupported_grant_type", [70003])
    assert token(scope="https://evil.example/.default") == (400, "invalid_resource", [500011])
    assert token(scope="openid") == (400, "invalid_scope", [1002012])
    assert token(client_id="00000000-0000-0000-0000-000000000000") == (400, "unauthorized_client", [700016])
    response = tenant.client.post(
        "/nope.example/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y", "scope": "a/.default"},
    )
    assert (response.status_code, response.json()["error_codes"]) == (400, [90002])
    not_a_form = tenant.client.post(f"/{tenant.domain}/oauth2/v2.0/token", json={})
    assert (not_a_form.status_code, not_a_form.json()["error_codes"]) == (400, [90023])


def test_token_error_body_is_entras(tenant: TenantHandle) -> None:
    """Every field of Entra's error body; the correlation id echoes the caller's client-request-id, the trace id
    is the response's request-id."""
    sent = str(uuid.uuid4())
    response = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        headers={"client-request-id": sent.upper()},
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.boot.client_id,
            "client_secret": "wrong",
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    body = response.json()
    assert set(body) == {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
    }
    assert body["correlation_id"] == sent
    assert body["trace_id"] == response.headers["request-id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", body["timestamp"])
    message, trace, correlation, stamp = body["error_description"].split("\r\n")
    assert message.startswith("AADSTS7000215: Invalid client secret provided.")
    assert (trace, correlation, stamp) == (
        f"Trace ID: {body['trace_id']}",
        f"Correlation ID: {sent}",
        f"Timestamp: {body['timestamp']}",
    )
    assert body["error_uri"] == "http://testserver/error?code=7000215"
    assert response.headers["cache-control"] == "no-store"
    page = tenant.client.get("/error?code=7000215")
    assert page.status_code == 200 and page.text.startswith("AADSTS7000215: The client secret is wrong.")
    assert tenant.client.get("/error?code=1").status_code == 404
    assert tenant.client.get("/error?code=x").status_code == 400
    # No client-request-id (or one that is not a GUID): a fresh correlation id, never the raw header.
    for headers in ({}, {"client-request-id": "<script>"}):
        other = tenant.client.post(f"/{tenant.id}/oauth2/v2.0/token", headers=headers, data={"grant_type": "x"})
        assert str(uuid.UUID(other.json()["correlation_id"])) == other.json()["correlation_id"]
        assert other.json()["correlation_id"] != sent


def test_discovery_document(tenant: TenantHandle) -> None:
    response = tenant.client.get(f"/{tenant.domain}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "max-age=86400, private"
    assert response.headers["access-control-allow-origin"] == "*"
    config = response.json()
    base, endpoints = "http://testserver", f"http://testserver/{tenant.id}/oauth2/v2.0"
    assert config["issuer"] == f"{base}/{tenant.id}/v2.0"  # by id, also when asked by domain
    assert config["authorization_endpoint"] == f"{endpoints}/authorize"
    assert config["token_endpoint"] == f"{endpoints}/token"
    assert config["end_session_endpoint"] == f"{endpoints}/logout"
    assert config["jwks_uri"] == f"{base}/{tenant.id}/discovery/v2.0/keys"
    assert config["userinfo_endpoint"] == f"{base}/oidc/userinfo"
    assert config["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert config["response_types_supported"] == ["code"]
    assert config["subject_types_supported"] == ["pairwise"]
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert config["scopes_supported"] == ["openid", "profile", "email", "offline_access"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert {"client_secret_post", "client_secret_basic", "private_key_jwt"} <= set(
        config["token_endpoint_auth_methods_supported"]
    )
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(config["grant_types_supported"])
    assert config["http_logout_supported"] is True and config["frontchannel_logout_supported"] is True
    assert config["request_uri_parameter_supported"] is False
    assert {"sub", "iss", "aud", "nonce", "auth_time", "preferred_username", "tid", "email"} <= set(
        config["claims_supported"]
    )
    assert not [c for c in config["claims_supported"] if c.startswith("cloud_")]
    assert config["tenant_region_scope"]
    # A forged Host changes nothing: the URLs come from the configured public URL.
    forged = tenant.client.get(
        f"/{tenant.id}/v2.0/.well-known/openid-configuration", headers={"Host": "evil.example"}
    ).json()
    assert forged == config
    keys = tenant.client.get(f"/{tenant.id}/discovery/v2.0/keys")
    assert keys.status_code == 200 and keys.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("alias", ["common", "organizations", "consumers", "Common", "nope.example"])
def test_discovery_of_tenants_hospes_does_not_serve(client: TestClient, alias: str) -> None:
    for path in (f"/{alias}/v2.0/.well-known/openid-configuration", f"/{alias}/discovery/v2.0/keys"):
        response = client.get(path)
        assert response.status_code == 400, path
        body = response.json()
        assert (body["error"], body["error_codes"]) == ("invalid_request", [90002])
        assert body["error_description"].startswith(f"AADSTS90002: Tenant '{alias}' ")


def test_bad_and_missing_tokens(tenant: TenantHandle) -> None:
    assert_graph_error(tenant.client.get("/v1.0/users"), 401, "InvalidAuthenticationToken")
    bad = tenant.client.get("/v1.0/users", headers={"Authorization": "Bearer not.a.jwt"})
    assert_graph_error(bad, 401, "InvalidAuthenticationToken")
    head, body, sig = tenant.token.split(".")
    forged_claims = claims_of(tenant.token) | {"tid": "00000000-0000-0000-0000-000000000000"}
    forged_body = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    forged = tenant.client.get("/v1.0/users", headers={"Authorization": f"Bearer {head}.{forged_body}.{sig}"})
    assert_graph_error(forged, 401, "InvalidAuthenticationToken")


def test_permissions_are_enforced_per_endpoint(tenant: TenantHandle) -> None:
    app = tenant.post("/applications", json={"displayName": "Reader"}).json()
    sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    secret = tenant.post(f"/applications/{app['id']}/addPassword", json={"passwordCredential": {}}).json()
    assert secret["secretText"] and secret["hint"] == secret["secretText"][:3]
    # No permission yet: every call is refused.
    bare = fetch_token(tenant.client, tenant.id, app["appId"], secret["secretText"])
    headers = {"Authorization": f"Bearer {bare}"}
    assert_graph_error(tenant.client.get("/v1.0/users", headers=headers), 403, "Authorization_RequestDenied")
    # Grant User.Read.All the Graph way: an app role assignment on the Microsoft Graph service principal.
    graph_sp = tenant.get("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'").json()
    graph_sp = graph_sp["value"][0]
    role = next(r for r in graph_sp["appRoles"] if r["value"] == "User.Read.All")
    grant = tenant.post(
        f"/servicePrincipals/{sp['id']}/appRoleAssignments",
        json={"principalId": sp["id"], "resourceId": graph_sp["id"], "appRoleId": role["id"]},
    )
    assert grant.status_code == 201, grant.text
    reader = {"Authorization": f"Bearer {fetch_token(tenant.client, tenant.id, app['appId'], secret['secretText'])}"}
    assert tenant.client.get("/v1.0/users", headers=reader).status_code == 200
    assert_graph_error(tenant.client.post("/v1.0/users", json={}, headers=reader), 403, "Authorization_RequestDenied")
    assert_graph_error(tenant.client.get("/v1.0/groups", headers=reader), 403, "Authorization_RequestDenied")
    assert_graph_error(
        tenant.client.get("/v1.0/auditLogs/directoryAudits", headers=reader), 403, "Authorization_RequestDenied"
    )
    # Removing the secret stops new tokens.
    assert tenant.post(f"/applications/{app['id']}/removePassword", json={"keyId": secret["keyId"]}).status_code == 204
    response = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["appId"],
            "client_secret": secret["secretText"],
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert response.status_code == 401


def test_disabled_or_deleted_app_loses_access_at_once(tenant: TenantHandle) -> None:
    app = tenant.post("/applications", json={"displayName": "Short-lived"}).json()
    sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    secret = tenant.post(f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    graph_sp = tenant.get("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'").json()
    role = next(r for r in graph_sp["value"][0]["appRoles"] if r["value"] == "User.Read.All")
    tenant.post(
        f"/servicePrincipals/{sp['id']}/appRoleAssignments",
        json={"principalId": sp["id"], "resourceId": graph_sp["value"][0]["id"], "appRoleId": role["id"]},
    )
    headers = {"Authorization": f"Bearer {fetch_token(tenant.client, tenant.id, app['appId'], secret)}"}
    assert tenant.client.get("/v1.0/users", headers=headers).status_code == 200
    assert tenant.patch(f"/servicePrincipals/{sp['id']}", json={"accountEnabled": False}).status_code == 204
    assert_graph_error(tenant.client.get("/v1.0/users", headers=headers), 401, "InvalidAuthenticationToken")
    assert tenant.patch(f"/servicePrincipals/{sp['id']}", json={"accountEnabled": True}).status_code == 204
    assert tenant.delete(f"/applications/{app['id']}").status_code == 204
    assert_graph_error(tenant.client.get("/v1.0/users", headers=headers), 401, "InvalidAuthenticationToken")


# Lockout of the token endpoint. Each test calls from its own client addresses, so the per-address limits of one
# test never reach another (or the "testclient" address the tenant fixtures fetch their tokens from).


def _new_address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def _caller(app: FastAPI, address: str | None = None) -> TestClient:
    address = address or _new_address()
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False, client=(address, 50000))


def _ropc(client: TestClient, tenant: TenantHandle, username: str, password: str, **extra: str) -> Any:
    data = {
        "grant_type": "password",
        "client_id": tenant.boot.client_id,
        "username": username,
        "password": password,
        "scope": "https://graph.microsoft.com/.default",
        **extra,
    }
    return client.post(f"/{tenant.domain}/oauth2/v2.0/token", data=data)


def _app_token(client: TestClient, tenant: TenantHandle, secret: str) -> Any:
    data = {
        "grant_type": "client_credentials",
        "client_id": tenant.boot.client_id,
        "client_secret": secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    return client.post(f"/{tenant.domain}/oauth2/v2.0/token", data=data)


def _failed_sign_ins(sessions: sessionmaker[Session], tenant_id: str) -> list[AuditLog]:
    with sessions() as session:
        query = select(AuditLog).where(
            AuditLog.tenant_id == tenant_id, AuditLog.activity == "Sign in", AuditLog.result == "failure"
        )
        return list(session.scalars(query.order_by(AuditLog.at, AuditLog.id)))


@pytest.fixture
def clocked(settings: Settings) -> Iterator[tuple[FastAPI, FakeClock]]:
    """An app whose every surface reads a clock the test moves, so a lockout can be waited out without sleeping."""
    clock = FakeClock()
    app = create_app(settings, housekeeping=False, clock=clock)
    with TestClient(app):  # runs the lifespan once (and disposes the app's database at the end)
        yield app, clock


def test_password_grant_locks_the_account_for_every_sign_in(
    app: FastAPI, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    user = tenant.new_user()
    upn = user["userPrincipalName"]
    address = _new_address()
    api = _caller(app, address)
    for _ in range(5):
        wrong = _ropc(api, tenant, upn, "Wrong-Password-1")
        assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    locked = _ropc(api, tenant, upn, PASSWORD)  # even the right password now
    assert (locked.status_code, locked.json()["error"]) == (400, "invalid_grant"), locked.text
    assert locked.json()["error_codes"] == [50053]
    assert locked.json()["error_description"].startswith("AADSTS50053: ")
    assert int(locked.headers["retry-after"]) > 0
    assert wrong.json()["error_codes"] == [50126]
    # One lockout per account: the web sign-in of the same user, from elsewhere, is locked too.
    assert sign_in(_caller(app), tenant.domain, upn).status_code == 429
    rows = _failed_sign_ins(sessions, tenant.id)
    ropc = [r for r in rows if r.details.get("clientAddress") == address]
    assert [r.result_reason for r in ropc] == ["invalid credentials"] * 5 + ["locked out"]
    assert all(r.details.get("grantType") == "password" for r in ropc)
    assert ropc[0].target_id == user["id"]


def test_password_grant_counts_per_address(app: FastAPI, tenant: TenantHandle) -> None:
    api = _caller(app)
    for i in range(20):
        sprayed = _ropc(api, tenant, f"spray{i}@{tenant.domain}", "Summer2026!")
        assert (sprayed.status_code, sprayed.json()["error"]) == (400, "invalid_grant")
    user = tenant.new_user()
    locked = _ropc(api, tenant, user["userPrincipalName"], PASSWORD)
    assert locked.status_code == 400 and locked.json().get("error_codes") == [50053], locked.text
    # The address is one scope for every way a password is checked: its web sign-in is locked as well.
    assert sign_in(api, tenant.domain, user["userPrincipalName"]).status_code == 429
    assert _ropc(_caller(app), tenant, user["userPrincipalName"], PASSWORD).status_code == 200


def test_password_lockout_ends_with_time(clocked: tuple[FastAPI, FakeClock], tenant: TenantHandle) -> None:
    app, clock = clocked
    upn = tenant.new_user()["userPrincipalName"]
    api = _caller(app)
    for _ in range(5):
        assert _ropc(api, tenant, upn, "Wrong-Password-1").status_code == 400
    assert _ropc(api, tenant, upn, PASSWORD).json()["error_codes"] == [50053]
    clock.advance(29)
    assert _ropc(api, tenant, upn, PASSWORD).json()["error_codes"] == [50053]
    clock.advance(2)  # the first lock lasts 30 s
    assert _ropc(api, tenant, upn, PASSWORD).status_code == 200
    # The success cleared the account's count: one more mistake does not lock it again.
    assert _ropc(api, tenant, upn, "Wrong-Password-1").json()["error_codes"] == [50126]
    assert _ropc(api, tenant, upn, PASSWORD).status_code == 200


def test_wrong_client_secrets_are_throttled_and_audited(
    app: FastAPI, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _new_address()
    api = _caller(app, address)
    for _ in range(5):
        wrong = _app_token(api, tenant, "not-the-secret")
        assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    throttled = _app_token(api, tenant, "not-the-secret")
    assert throttled.status_code == 429, throttled.text
    assert throttled.json()["error"] == "temporarily_unavailable"
    assert int(throttled.headers["retry-after"]) > 0
    assert wrong.json()["error_codes"] == [7000215]
    # The password grant's client authentication is the same check, on the same counters.
    assert _ropc(api, tenant, tenant.boot.admin_user_principal_name, "x", client_secret="nope").status_code == 429
    # Whoever knows a client id cannot lock the real app out: its right secret still works.
    assert _app_token(api, tenant, tenant.boot.client_secret).status_code == 200
    rows = [r for r in _failed_sign_ins(sessions, tenant.id) if r.details.get("clientAddress") == address]
    assert [r.result_reason for r in rows] == ["invalid client secret"] * 5 + ["locked out"] * 2
    assert {r.details.get("clientId") for r in rows} == {tenant.boot.client_id}
    assert rows[0].actor_type == "app"


def test_wrong_client_secrets_lock_the_address(
    clocked: tuple[FastAPI, FakeClock], tenant: TenantHandle, settings: Settings
) -> None:
    app, clock = clocked
    api = _caller(app)
    for _ in range(settings.lockout_address_threshold):
        clock.advance(settings.lockout_max_seconds + 1)  # past any lock of the client: only the address counts up
        assert _app_token(api, tenant, "not-the-secret").status_code == 401
    # Locked addresses are refused before any check, the right secret included; other addresses are not.
    assert _app_token(api, tenant, tenant.boot.client_secret).status_code == 429
    assert _app_token(_caller(app), tenant, tenant.boot.client_secret).status_code == 200
    clock.advance(2 * settings.lockout_base_seconds + 1)
    assert _app_token(api, tenant, tenant.boot.client_secret).status_code == 200


def test_client_secret_validity_window(clocked: tuple[FastAPI, FakeClock], tenant: TenantHandle) -> None:
    """A secret works from its start to its end (365 days), read with its timestamps on every backend."""
    app, clock = clocked
    created = tenant.post("/applications", json={"displayName": "Yearly"}).json()
    tenant.post("/servicePrincipals", json={"appId": created["appId"]})
    secret = tenant.post(f"/applications/{created['id']}/addPassword", json={}).json()
    api = _caller(app)

    def grant() -> Any:
        data = {
            "grant_type": "client_credentials",
            "client_id": created["appId"],
            "client_secret": secret["secretText"],
            "scope": "https://graph.microsoft.com/.default",
        }
        return api.post(f"/{tenant.id}/oauth2/v2.0/token", data=data)

    clock.advance(-60)  # before the secret was created
    assert grant().json()["error_codes"] == [7000215]
    clock.advance(60 + 364 * 86400)
    assert grant().status_code == 200
    clock.advance(2 * 86400)  # past its end
    assert grant().json()["error_codes"] == [7000215]


def test_discovery_endpoints_are_served(tenant: TenantHandle) -> None:
    """Every endpoint the document advertises answers at its path (a client error without parameters, never the
    404 of an address that names nothing)."""
    config = tenant.client.get(f"/{tenant.id}/v2.0/.well-known/openid-configuration").json()
    paths = {
        name: config[name].removeprefix("http://testserver")
        for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")
    }
    assert tenant.client.get(paths["authorization_endpoint"]).status_code in (200, 400)
    assert tenant.client.post(paths["token_endpoint"], data={"client_id": "x"}).json()["error_codes"] == [900144]
    assert tenant.client.get(paths["userinfo_endpoint"]).status_code == 401
    assert tenant.client.get(paths["jwks_uri"]).json()["keys"]


def _assertion(cert: ClientCertificate, client_id: str, audience: str, padded: bool = False, **claims: Any) -> str:
    """A client assertion: RS256, ``x5t`` of the certificate, for the token endpoint."""
    now = int(time.time())
    x5t = base64.urlsafe_b64encode(bytes.fromhex(cert.thumbprint)).decode()
    x5t = x5t if padded else x5t.rstrip("=")
    body = {"aud": audience, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()), "nbf": now}
    body |= {"exp": now + 600, **claims}
    return jwt.encode({"alg": "RS256", "typ": "JWT", "x5t": x5t}, body, RSAKey.import_key(cert.private_key_pem))


def test_client_credentials_by_certificate(tenant: TenantHandle) -> None:
    """A daemon proves itself with a JWT signed by its certificate's key (private_key_jwt) instead of a secret."""
    created = tenant.post("/applications", json={"displayName": "Daemon"}).json()
    tenant.post("/servicePrincipals", json={"appId": created["appId"]})
    cert = client_certificate()
    patched = tenant.patch(f"/applications/{created['id']}", json={"keyCredentials": [{"key": cert.der_b64}]})
    assert patched.status_code == 204, patched.text
    endpoint = f"http://testserver/{tenant.id}/oauth2/v2.0/token"

    def grant(assertion: str, **extra: str) -> Any:
        data = {
            "grant_type": "client_credentials",
            "client_id": created["appId"],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": "https://graph.microsoft.com/.default",
            **extra,
        }
        return tenant.client.post(f"/{tenant.id}/oauth2/v2.0/token", data=data)

    signed = _assertion(cert, created["appId"], endpoint)
    first = grant(signed)
    assert first.status_code == 200, first.text
    assert claims_of(first.json()["access_token"])["appid"] == created["appId"]
    assert grant(signed).json()["error_codes"] == [700023]  # used once
    # As MSAL Python signs them: x5t with its base64 padding, fractional NumericDates (RFC 7519 allows both).
    msal_like = _assertion(cert, created["appId"], endpoint, padded=True, exp=time.time() + 600.5, iat=time.time())
    assert grant(msal_like).status_code == 200
    for exp in (time.time() - 3600, 1e300, "soon"):
        assert grant(_assertion(cert, created["appId"], endpoint, exp=exp)).json()["error_codes"] == [700024]
    assert grant(_assertion(cert, created["appId"], "https://elsewhere.example/token")).json()["error_codes"] == [
        700021
    ]
    stranger = client_certificate("stranger")
    refused = grant(_assertion(stranger, created["appId"], endpoint))
    assert (refused.status_code, refused.json()["error_codes"]) == (401, [700027])
    typed_wrong = grant(_assertion(cert, created["appId"], endpoint), client_assertion_type="jwt")
    assert typed_wrong.json()["error"] == "invalid_request"


def test_strict_transport_security_when_the_public_url_is_https(settings: Settings, client: TestClient) -> None:
    """HSTS on every answer of an https deployment (TLS by Hospes or by a proxy), never on plain http."""
    assert "strict-transport-security" not in client.get("/healthz").headers
    secure = create_app(settings.model_copy(update={"public_url": "https://login.example.com"}), housekeeping=False)
    with TestClient(secure) as https:
        for response in (https.get("/healthz"), https.get("/nope/v2.0/.well-known/openid-configuration")):
            assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_client_credentials_without_writes_defers_whatever_writes(
    app: FastAPI, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    """The event loop's attempt answers only what writes nothing; a wrong secret, or failures on record for the
    address, go to the full grant (which counts, audits and clears)."""
    state = app.state.runtime
    grants = TokenGrants(state.sessions, state.issuer, state.passwords, state.client_secrets)
    address = _new_address()

    def call(secret: str) -> TokenRequest:
        return TokenRequest(
            tenant.domain, tenant.boot.client_id, secret, "https://graph.microsoft.com/.default", address, state.clock()
        )

    issued = grants.client_credentials_without_writes(call(tenant.boot.client_secret))
    assert issued is not None and claims_of(issued[0])["appid"] == tenant.boot.client_id
    before = len(_failed_sign_ins(sessions, tenant.id))
    assert grants.client_credentials_without_writes(call("wrong")) is None
    assert len(_failed_sign_ins(sessions, tenant.id)) == before  # nothing recorded by the attempt
    with pytest.raises(OAuthError):
        grants.client_credentials(call("wrong"))  # the full grant counts the failure
    assert len(_failed_sign_ins(sessions, tenant.id)) == before + 1
    # A failure on record for this address: even the right secret is left to the full grant.
    assert grants.client_credentials_without_writes(call(tenant.boot.client_secret)) is None
    assert grants.client_credentials(call(tenant.boot.client_secret))[0]


def test_token_endpoint_takes_post_only(tenant: TenantHandle) -> None:
    response = tenant.client.get(f"/{tenant.id}/oauth2/v2.0/token")
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"]) == (400, "invalid_request", [900561])
    assert body["error_description"].startswith("AADSTS900561: The endpoint only accepts POST requests. Received a GET")
    assert tenant.client.head(f"/{tenant.id}/oauth2/v2.0/token").status_code == 400
