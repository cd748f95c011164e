"""What a relying party registers through Graph: redirect URIs per platform, logout URL, identifier URIs, token
options, certificates; and a service principal's single sign-on settings and token-signing certificates."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.certificates import open_private_key
from hospes.storage.tables_sso import KeyCredential
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle


def make_certificate(name: str = "client", days: int = 365) -> tuple[str, str]:
    """(base64 DER, SHA-1 thumbprint) of a fresh self-signed certificate, made here with `cryptography`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=10))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return base64.b64encode(der).decode(), hashlib.sha1(der).hexdigest().upper()


def new_app(tenant: TenantHandle, **body: Any) -> dict[str, Any]:
    response = tenant.post("/applications", json={"displayName": "Relying party", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def new_sp(tenant: TenantHandle, app: dict[str, Any]) -> dict[str, Any]:
    response = tenant.post("/servicePrincipals", json={"appId": app["appId"]})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_platform_redirect_uris_round_trip_and_patch_merges(tenant: TenantHandle) -> None:
    app = new_app(tenant, web={"redirectUris": ["https://rp.example/signin-oidc"]})
    assert app["web"]["redirectUris"] == ["https://rp.example/signin-oidc"]
    assert app["spa"] == {"redirectUris": []} and app["publicClient"] == {"redirectUris": []}
    body = {
        "web": {"logoutUrl": "https://rp.example/signout", "implicitGrantSettings": {"enableIdTokenIssuance": True}},
        "spa": {"redirectUris": ["http://localhost:3000/"]},
        "publicClient": {"redirectUris": [f"msal{app['appId']}://auth", "http://127.0.0.1"]},
        "identifierUris": ["api://rp.example"],
        "isFallbackPublicClient": True,
        "groupMembershipClaims": "SecurityGroup",
        "requiredResourceAccess": [
            {
                "resourceAppId": "00000003-0000-0000-c000-000000000000",
                "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}],
            }
        ],
        "api": {"oauth2PermissionScopes": [{"value": "Files.Read", "type": "User", "isEnabled": True}]},
        "optionalClaims": {"idToken": [{"name": "email"}]},
    }
    assert tenant.patch(f"/applications/{app['id']}", json=body).status_code == 204
    audit = tenant.get("/auditLogs/directoryAudits?$filter=activityDisplayName eq 'Update application'").json()
    modified = {p["displayName"]: p for p in audit["value"][0]["targetResources"][0]["modifiedProperties"]}
    assert {"web.logoutUrl", "spa.redirectUris", "identifierUris", "groupMembershipClaims"} <= set(modified)
    assert "web.redirectUris" not in modified  # unchanged
    assert modified["web.logoutUrl"]["newValue"] == '["https://rp.example/signout"]'
    got = tenant.get(f"/applications/{app['id']}").json()
    assert got["web"]["redirectUris"] == ["https://rp.example/signin-oidc"]  # not named in the PATCH: kept
    assert got["web"]["logoutUrl"] == "https://rp.example/signout"
    assert got["web"]["implicitGrantSettings"] == {"enableIdTokenIssuance": True, "enableAccessTokenIssuance": False}
    assert got["spa"]["redirectUris"] == ["http://localhost:3000/"]
    assert got["publicClient"]["redirectUris"] == [f"msal{app['appId']}://auth", "http://127.0.0.1"]
    assert got["identifierUris"] == ["api://rp.example"]
    assert got["isFallbackPublicClient"] is True
    assert got["groupMembershipClaims"] == "SecurityGroup"
    assert got["requiredResourceAccess"][0]["resourceAccess"][0]["type"] == "Scope"
    scope = got["api"]["oauth2PermissionScopes"][0]
    assert scope["value"] == "Files.Read" and len(scope["id"]) == 36
    assert got["optionalClaims"]["idToken"][0]["name"] == "email"
    # A GET-modify-PATCH round trip of the structured values is accepted as it is.
    echo = {k: got[k] for k in ("web", "spa", "publicClient", "api", "optionalClaims", "requiredResourceAccess")}
    assert tenant.patch(f"/applications/{app['id']}", json=echo).status_code == 204
    assert tenant.get(f"/applications/{app['id']}").json()["web"] == got["web"]
    # Collections are replaced whole; clearing works.
    assert tenant.patch(f"/applications/{app['id']}", json={"spa": {"redirectUris": []}}).status_code == 204
    assert tenant.get(f"/applications/{app['id']}?$select=spa").json()["spa"] == {"redirectUris": []}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"web": {"redirectUris": ["http://rp.example/cb"]}}, "must use https"),
        ({"web": {"redirectUris": ["https://rp.example/cb#x"]}}, "fragment"),
        ({"web": {"redirectUris": ["rp.example/cb"]}}, "absolute"),
        ({"web": {"redirectUris": ["https://*.rp.example/cb"]}}, "not allowed"),
        ({"web": {"redirectUris": ["myapp://cb"]}}, "custom schemes"),
        ({"spa": {"redirectUris": ["myapp://cb"]}}, "custom schemes"),
        ({"publicClient": {"redirectUris": ["javascript://alert(1)"]}}, "not allowed"),
        ({"publicClient": {"redirectUris": ["data:text/html"]}}, "cannot be used"),
        ({"web": {"redirectUris": ["https://rp.example/" + "a" * 250]}}, "at most 256 characters"),
        ({"web": {"redirectUris": ["https://a.example", "https://a.example"]}}, "twice"),
        ({"web": {"redirectUris": "https://a.example"}}, "list"),
        ({"web": {"logoutUrl": "http://rp.example/out"}}, "https"),
        ({"web": {"implicitGrantSettings": {"enableIdTokenIssuance": "yes"}}}, "true or false"),
        ({"web": {"nope": 1}}, "Unsupported"),
        ({"groupMembershipClaims": "Everything"}, "SecurityGroup"),
        ({"groupMembershipClaims": "All, SecurityGroup"}, "cannot be combined"),
        ({"identifierUris": ["not a uri"]}, "no spaces"),
        ({"identifierUris": ["noscheme"]}, "absolute"),
        ({"requiredResourceAccess": [{"resourceAppId": "x", "resourceAccess": []}]}, "GUID"),
        ({"api": {"oauth2PermissionScopes": [{"value": "has space"}]}}, "without spaces"),
        ({"optionalClaims": {"idToken": [{}]}}, "name"),
    ],
)
def test_bad_registration_values_answer_graph_400(tenant: TenantHandle, body: dict[str, Any], words: str) -> None:
    app = new_app(tenant)
    error = assert_graph_error(tenant.patch(f"/applications/{app['id']}", json=body), 400, "Request_BadRequest")
    assert "Invalid value specified for property" in error["message"] and words in error["message"], error
    assert_graph_error(tenant.post("/applications", json={"displayName": "x", **body}), 400, "Request_BadRequest")


def test_at_most_256_redirect_uris_across_platforms(tenant: TenantHandle) -> None:
    app = new_app(tenant, web={"redirectUris": [f"https://rp.example/{i}" for i in range(200)]})
    spa = {"spa": {"redirectUris": [f"https://spa.example/{i}" for i in range(56)]}}
    assert tenant.patch(f"/applications/{app['id']}", json=spa).status_code == 204
    one_more = {"publicClient": {"redirectUris": ["http://localhost:1"]}}
    error = assert_graph_error(tenant.patch(f"/applications/{app['id']}", json=one_more), 400, "Request_BadRequest")
    assert "at most 256 redirect URIs" in error["message"]


def test_identifier_uris_are_unique_within_a_tenant_only(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    new_app(tenant, identifierUris=["https://sp.example/saml"])
    taken = tenant.post("/applications", json={"displayName": "Copy", "identifierUris": ["https://sp.example/saml"]})
    assert "already uses" in assert_graph_error(taken, 400, "Request_BadRequest")["message"]
    new_app(other_tenant, identifierUris=["https://sp.example/saml"])  # another organization may
    found = tenant.get("/applications?$filter=identifierUris/any(x:x eq 'https://sp.example/saml')").json()["value"]
    assert [a["displayName"] for a in found] == ["Relying party"]  # this tenant's one, not the other's


def test_key_credentials_certificate_upload_thumbprint_and_key_on_select(tenant: TenantHandle) -> None:
    app = new_app(tenant)
    der_b64, thumbprint = make_certificate("client-cert")
    body = {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64}]}
    assert tenant.patch(f"/applications/{app['id']}", json=body).status_code == 204
    plain = tenant.get(f"/applications/{app['id']}").json()["keyCredentials"]
    assert len(plain) == 1 and plain[0]["key"] is None
    assert base64.b64decode(plain[0]["customKeyIdentifier"]).hex().upper() == thumbprint
    assert plain[0]["displayName"] == "CN=client-cert" and plain[0]["type"] == "AsymmetricX509Cert"
    selected = tenant.get(f"/applications/{app['id']}?$select=keyCredentials").json()["keyCredentials"]
    assert selected[0]["key"] == der_b64
    listed = tenant.get("/applications?$select=id,keyCredentials").json()["value"]
    assert all(c["key"] is None for a in listed for c in a["keyCredentials"])

    # Keep the first by keyId, add a second; then drop the first.
    second, _ = make_certificate("second")
    keep = {"keyCredentials": [{"keyId": plain[0]["keyId"]}, {"key": second, "displayName": "Rollover"}]}
    assert tenant.patch(f"/applications/{app['id']}", json=keep).status_code == 204
    names = [c["displayName"] for c in tenant.get(f"/applications/{app['id']}").json()["keyCredentials"]]
    assert sorted(names) == ["CN=client-cert", "Rollover"]
    assert tenant.patch(f"/applications/{app['id']}", json={"keyCredentials": []}).status_code == 204
    assert tenant.get(f"/applications/{app['id']}").json()["keyCredentials"] == []


def test_key_credentials_on_create(tenant: TenantHandle) -> None:
    der_b64, thumbprint = make_certificate("at-birth")
    app = new_app(tenant, keyCredentials=[{"key": der_b64, "displayName": "First"}])
    assert [c["displayName"] for c in app["keyCredentials"]] == ["First"]
    got = tenant.get(f"/applications/{app['id']}?$select=keyCredentials").json()["keyCredentials"]
    assert got[0]["key"] == der_b64
    assert base64.b64decode(got[0]["customKeyIdentifier"]).hex().upper() == thumbprint


@pytest.mark.parametrize(
    "entry",
    [
        {"key": base64.b64encode(b"not a certificate").decode()},
        {"key": "%%%"},
        {"keyId": "11111111-1111-1111-1111-111111111111"},
        {"key": "x", "type": "Symmetric"},
        {"key": "x", "usage": "Sign"},
    ],
)
def test_key_credentials_refuse_what_is_not_a_certificate(tenant: TenantHandle, entry: dict[str, Any]) -> None:
    app = new_app(tenant)
    response = tenant.patch(f"/applications/{app['id']}", json={"keyCredentials": [entry]})
    assert "keyCredentials" in assert_graph_error(response, 400, "Request_BadRequest")["message"]


def test_key_credentials_refuse_an_expired_certificate_and_duplicates(tenant: TenantHandle) -> None:
    app = new_app(tenant)
    der_b64, _ = make_certificate("twice")
    twice = {"keyCredentials": [{"key": der_b64}, {"key": der_b64}]}
    assert (
        "twice"
        in assert_graph_error(tenant.patch(f"/applications/{app['id']}", json=twice), 400, "Request_BadRequest")[
            "message"
        ]
    )
    expired, _ = make_certificate("old", days=-1)
    response = tenant.patch(f"/applications/{app['id']}", json={"keyCredentials": [{"key": expired}]})
    assert "expired" in assert_graph_error(response, 400, "Request_BadRequest")["message"]


def test_service_principal_saml_settings_reply_urls_and_names(tenant: TenantHandle) -> None:
    app = new_app(
        tenant,
        web={"redirectUris": ["https://sp.example/acs"], "logoutUrl": "https://sp.example/slo"},
        identifierUris=["https://sp.example/entity"],
    )
    sp = new_sp(tenant, app)
    assert sp["replyUrls"] == ["https://sp.example/acs"]
    assert sp["servicePrincipalNames"] == [app["appId"], "https://sp.example/entity"]
    assert sp["preferredSingleSignOnMode"] is None and sp["samlSingleSignOnSettings"] is None
    body = {
        "preferredSingleSignOnMode": "saml",
        "samlSingleSignOnSettings": {"relayState": "/home"},
        "loginUrl": "https://sp.example/login",
        "logoutUrl": "https://sp.example/slo",
    }
    assert tenant.patch(f"/servicePrincipals/{sp['id']}", json=body).status_code == 204
    got = tenant.get(f"/servicePrincipals/{sp['id']}").json()
    assert {k: got[k] for k in body} == body
    for bad in (
        {"preferredSingleSignOnMode": "kerberos"},
        {"samlSingleSignOnSettings": {"relayState": "x" * 81}},
        {"samlSingleSignOnSettings": {"other": 1}},
        {"loginUrl": "ftp://sp.example"},
        {"preferredTokenSigningKeyThumbprint": "ABC"},
        {"preferredTokenSigningKeyThumbprint": "A" * 40},  # not one of its certificates
        {"replyUrls": ["https://x.example"]},  # read-only: the application's web redirect URIs
    ):
        assert_graph_error(tenant.patch(f"/servicePrincipals/{sp['id']}", json=bad), 400, "Request_BadRequest")
    # Changing the application's web redirect URIs changes the reply URLs.
    patch = {"web": {"redirectUris": ["https://sp.example/acs2"]}}
    assert tenant.patch(f"/applications/{app['id']}", json=patch).status_code == 204
    assert tenant.get(f"/servicePrincipals/{sp['id']}?$select=replyUrls").json()["replyUrls"] == [
        "https://sp.example/acs2"
    ]


def test_add_token_signing_certificate_activate_and_sealed_key(
    tenant: TenantHandle, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    sp = new_sp(tenant, new_app(tenant))
    end = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0)
    response = tenant.post(
        f"/servicePrincipals/{sp['id']}/addTokenSigningCertificate",
        json={"displayName": "CN=Payroll SSO", "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    assert response.status_code == 200, response.text
    made = response.json()
    assert made["@odata.context"].endswith("$metadata#microsoft.graph.selfSignedCertificate")
    assert made["displayName"] == "CN=Payroll SSO" and made["type"] == "AsymmetricX509Cert"
    assert made["usage"] == "Verify" and made["endDateTime"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    der = base64.b64decode(made["key"])
    assert hashlib.sha1(der).hexdigest().upper() == made["thumbprint"]
    cert = x509.load_der_x509_certificate(der)
    assert cert.subject.rfc4514_string() == "CN=Payroll SSO"
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048

    listed = tenant.get(f"/servicePrincipals/{sp['id']}").json()
    assert listed["preferredTokenSigningKeyThumbprint"] is None  # not active until named
    usages = sorted((c["usage"], c["key"]) for c in listed["keyCredentials"])
    assert usages == [("Sign", None), ("Verify", None)]
    selected = tenant.get(f"/servicePrincipals/{sp['id']}?$select=keyCredentials").json()["keyCredentials"]
    assert [c["key"] for c in selected if c["usage"] == "Verify"] == [made["key"]]
    activate = {"preferredTokenSigningKeyThumbprint": made["thumbprint"].lower()}
    assert tenant.patch(f"/servicePrincipals/{sp['id']}", json=activate).status_code == 204
    got = tenant.get(f"/servicePrincipals/{sp['id']}").json()
    assert got["preferredTokenSigningKeyThumbprint"] == made["thumbprint"]

    with sessions() as session:
        row = session.scalar(select(KeyCredential).where(KeyCredential.key_id == made["keyId"]))
        assert row is not None and row.private_key and "PRIVATE KEY" not in row.private_key
        pem = open_private_key(app.state.runtime.box, row.key_id, row.private_key)
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.public_key() == public_key

    audits = tenant.get("/auditLogs/directoryAudits?$top=50").json()["value"]
    assert any(a["activityDisplayName"] == "Update service principal" for a in audits)


@pytest.mark.parametrize(
    "body",
    [
        {"displayName": "Payroll"},
        {"displayName": "CN=x", "endDateTime": "yesterday"},
        {"displayName": "CN=x", "endDateTime": "2001-01-01T00:00:00Z"},
        {"displayName": "CN=x", "endDateTime": "2999-01-01T00:00:00Z"},
        {"displayName": "CN=x", "other": True},
        ["CN=x"],
    ],
)
def test_add_token_signing_certificate_bad_input(tenant: TenantHandle, body: Any) -> None:
    sp = new_sp(tenant, new_app(tenant))
    response = tenant.post(f"/servicePrincipals/{sp['id']}/addTokenSigningCertificate", json=body)
    assert_graph_error(response, 400, "Request_BadRequest")


def test_add_token_signing_certificate_defaults(tenant: TenantHandle) -> None:
    sp = new_sp(tenant, new_app(tenant))
    response = tenant.post(f"/servicePrincipals/{sp['id']}/addTokenSigningCertificate", json={})
    assert response.status_code == 200, response.text
    made = response.json()
    assert made["displayName"] == "CN=Relying party"
    start = datetime.fromisoformat(made["startDateTime"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(made["endDateTime"].replace("Z", "+00:00"))
    assert timedelta(days=3 * 365 - 1) < end - start <= timedelta(days=3 * 365 + 1)


def test_tenant_isolation_of_credentials_and_settings(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    app = new_app(tenant)
    sp = new_sp(tenant, app)
    der_b64, _ = make_certificate()
    foreign = [
        other_tenant.patch(f"/applications/{app['id']}", json={"keyCredentials": [{"key": der_b64}]}),
        other_tenant.patch(f"/servicePrincipals/{sp['id']}", json={"preferredSingleSignOnMode": "saml"}),
        other_tenant.post(f"/servicePrincipals/{sp['id']}/addTokenSigningCertificate", json={"displayName": "CN=x"}),
        other_tenant.get(f"/servicePrincipals/{sp['id']}?$select=keyCredentials"),
    ]
    for response in foreign:
        assert_graph_error(response, 404, "Request_ResourceNotFound")
    made = tenant.post(f"/servicePrincipals/{sp['id']}/addTokenSigningCertificate", json={"displayName": "CN=x"})
    other_sp = new_sp(other_tenant, new_app(other_tenant))
    steal = {"preferredTokenSigningKeyThumbprint": made.json()["thumbprint"]}
    assert_graph_error(
        other_tenant.patch(f"/servicePrincipals/{other_sp['id']}", json=steal), 400, "Request_BadRequest"
    )
    assert tenant.get(f"/servicePrincipals/{sp['id']}").json()["preferredSingleSignOnMode"] is None


def test_service_principals_publish_delegated_scopes(tenant: TenantHandle) -> None:
    graph_id = "00000003-0000-0000-c000-000000000000"
    graph = tenant.get(f"/servicePrincipals?$filter=appId eq '{graph_id}'").json()["value"][0]
    scopes = {s["value"]: s for s in graph["oauth2PermissionScopes"]}
    assert {"openid", "offline_access", "User.Read", "User.ReadBasic.All", "User.Invite.All"} <= set(scopes)
    assert all(s["type"] == "User" and s["isEnabled"] for s in scopes.values())
    # The ids are stable: what a registration lists in requiredResourceAccess.
    again = tenant.get(f"/servicePrincipals/{graph['id']}").json()["oauth2PermissionScopes"]
    assert {s["value"]: s["id"] for s in again} == {v: s["id"] for v, s in scopes.items()}
    api = new_app(tenant, api={"oauth2PermissionScopes": [{"value": "Reports.Read", "type": "Admin"}]})
    sp = new_sp(tenant, api)
    assert [s["value"] for s in sp["oauth2PermissionScopes"]] == ["Reports.Read"]


def test_relying_party_answers_and_bodies_match_the_openapi_document(tenant: TenantHandle, client: Any) -> None:
    from tests.functional.test_openapi import _response_schema, _validator

    document = client.get("/openapi.json").json()

    def check(response: Any, method: str, path: str) -> Any:
        assert response.status_code < 300, response.text
        _validator(document, _response_schema(document, method, path, str(response.status_code))).validate(
            response.json()
        )
        return response.json()

    der_b64, _ = make_certificate("openapi")
    body = {
        "displayName": "Documented",
        "web": {"redirectUris": ["https://doc.example/cb"], "implicitGrantSettings": {"enableIdTokenIssuance": True}},
        "spa": {"redirectUris": ["https://doc.example/spa"]},
        "publicClient": {"redirectUris": ["com.doc:/cb"]},
        "identifierUris": ["https://doc.example/saml"],
        "api": {"oauth2PermissionScopes": [{"value": "Docs.Read"}]},
        "keyCredentials": [{"key": der_b64, "type": "AsymmetricX509Cert", "usage": "Verify"}],
    }
    create = _validator(document, {"$ref": "#/components/schemas/application.create"})
    create.validate(body)
    assert not create.is_valid({**body, "web": {"redirectUris": "https://doc.example/cb"}})  # not a list
    app = check(tenant.post("/applications", json=body), "post", "/v1.0/applications")
    check(tenant.get(f"/applications/{app['id']}?$select=keyCredentials,web"), "get", "/v1.0/applications/{key}")
    sp = check(tenant.post("/servicePrincipals", json={"appId": app["appId"]}), "post", "/v1.0/servicePrincipals")
    path = "/v1.0/servicePrincipals/{key}/addTokenSigningCertificate"
    check(tenant.post(f"/servicePrincipals/{sp['id']}/addTokenSigningCertificate", json={}), "post", path)
    relay = {"samlSingleSignOnSettings": {"relayState": "/x"}, "preferredSingleSignOnMode": "saml"}
    assert tenant.patch(f"/servicePrincipals/{sp['id']}", json=relay).status_code == 204
    check(tenant.get(f"/servicePrincipals/{sp['id']}"), "get", "/v1.0/servicePrincipals/{key}")
    check(tenant.get("/servicePrincipals"), "get", "/v1.0/servicePrincipals")
