"""The token endpoint, discovery documents, and permission enforcement."""

from __future__ import annotations

import base64
import json
import time

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle, fetch_token


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
    def token(**data: str) -> tuple[int, str]:
        base = {
            "grant_type": "client_credentials",
            "client_id": tenant.boot.client_id,
            "client_secret": tenant.boot.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        }
        response = tenant.client.post(f"/{tenant.domain}/oauth2/v2.0/token", data={**base, **data})
        return response.status_code, response.json()["error"]

    assert token(client_secret="wrong") == (401, "invalid_client")
    assert token(grant_type="authorization_code") == (400, "unsupported_grant_type")
    assert token(scope="https://evil.example/.default") == (400, "invalid_resource")
    assert token(scope="openid") == (400, "invalid_scope")
    assert token(client_id="00000000-0000-0000-0000-000000000000") == (400, "unauthorized_client")
    response = tenant.client.post(
        "/nope.example/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y", "scope": "a/.default"},
    )
    assert response.status_code == 400
    assert tenant.client.post(f"/{tenant.domain}/oauth2/v2.0/token", json={}).status_code == 400


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
