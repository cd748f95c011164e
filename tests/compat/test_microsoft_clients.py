"""Microsoft's own client libraries against ``hospes serve`` over HTTPS (a test CA), changing nothing but the
authority: MSAL Python and azure-identity get app tokens by client credentials, and Graph accepts them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import TenantBootstrap
from hospes.storage.tables import AuditLog
from tests.helpers.live import LiveServer
from tests.helpers.tls import ClientCertificate, client_certificate

GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


class RecordingSession(requests.Session):
    """MSAL's HTTP client (``http_client=``): a plain requests session that remembers what it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        return super().send(request, **kwargs)


@pytest.fixture
def trust_test_ca(tls_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """How a deployment makes requests-based clients (MSAL) trust a private CA. The variable wins over a session's
    own ``verify`` (requests reads it for every request), so MSAL's ``verify=`` alone is not enough where the
    environment already names a bundle."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_server.ca_file or "")


def _users(server: LiveServer, access_token: str) -> httpx.Response:
    return httpx.get(
        f"{server.graph_url}/users", headers={"Authorization": f"Bearer {access_token}"}, verify=server.verify
    )


@pytest.mark.parametrize("how", ["instance_discovery-off", "validate_authority-off", "oidc_authority"])
@pytest.mark.usefixtures("trust_test_ca")
def test_msal_client_credentials(tls_server: LiveServer, boot: TenantBootstrap, how: str) -> None:
    """The three ways MSAL accepts an authority it does not know; ``oidc_authority`` (the generic OpenID provider
    mode) also checks that the discovery document's issuer is the authority itself."""
    http = RecordingSession()
    authority = f"{tls_server.base_url}/{boot.tenant_id}"
    options: dict[str, Any] = {
        "instance_discovery-off": {"authority": authority, "instance_discovery": False},
        "validate_authority-off": {"authority": authority, "validate_authority": False},
        "oidc_authority": {"oidc_authority": f"{authority}/v2.0"},
    }[how]
    app = msal.ConfidentialClientApplication(
        boot.client_id, client_credential=boot.client_secret, http_client=http, **options
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer" and result["expires_in"] > 0
    # Nothing left the machine: MSAL read the tenant's discovery document, then posted to its token endpoint.
    assert [r.url for r in http.sent] == [
        f"{tls_server.base_url}/{boot.tenant_id}/v2.0/.well-known/openid-configuration",
        f"{tls_server.base_url}/{boot.tenant_id}/oauth2/v2.0/token",
    ]
    users = _users(tls_server, result["access_token"])
    assert users.status_code == 200, users.text
    assert boot.admin_user_principal_name in {u["userPrincipalName"] for u in users.json()["value"]}
    # The second call is answered from MSAL's cache.
    assert app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])["token_source"] == "cache"


def _upload(server: LiveServer, boot: TenantBootstrap, cert: ClientCertificate) -> None:
    """The certificate on the app registration, through Graph's keyCredentials (as the portal or a script does)."""
    bearer = ClientSecretCredential(
        boot.tenant_id,
        boot.client_id,
        boot.client_secret,
        authority=server.base_url,
        disable_instance_discovery=True,
        connection_verify=server.ca_file,
    ).get_token(GRAPH_DEFAULT)
    headers = {"Authorization": f"Bearer {bearer.token}"}
    with httpx.Client(base_url=server.graph_url, verify=server.verify, headers=headers) as graph:
        found = graph.get(f"/applications?$filter=appId eq '{boot.client_id}'").json()["value"]
        patched = graph.patch(f"/applications/{found[0]['id']}", json={"keyCredentials": [{"key": cert.der_b64}]})
        assert patched.status_code == 204, patched.text


@pytest.mark.usefixtures("trust_test_ca")
def test_msal_client_credentials_by_certificate(tls_server: LiveServer, boot: TenantBootstrap) -> None:
    """A daemon with a certificate instead of a secret: MSAL signs a client assertion (``x5t``, for the token
    endpoint) with the key."""
    cert = client_certificate()
    _upload(tls_server, boot, cert)
    app = msal.ConfidentialClientApplication(
        boot.client_id,
        client_credential={"private_key": cert.private_key_pem, "thumbprint": cert.thumbprint},
        authority=f"{tls_server.base_url}/{boot.tenant_id}",
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert "access_token" in result, result
    assert _users(tls_server, result["access_token"]).status_code == 200


def test_azure_identity_certificate_credential(tls_server: LiveServer, boot: TenantBootstrap) -> None:
    cert = client_certificate("azure-identity")
    _upload(tls_server, boot, cert)
    credential = CertificateCredential(
        boot.tenant_id,
        boot.client_id,
        certificate_data=(cert.private_key_pem + cert.certificate_pem).encode(),
        authority=tls_server.base_url,
        disable_instance_discovery=True,
        connection_verify=tls_server.ca_file,
    )
    assert _users(tls_server, credential.get_token(GRAPH_DEFAULT).token).status_code == 200


@pytest.mark.usefixtures("trust_test_ca")
def test_msal_by_domain_and_error_body(tls_server: LiveServer, boot: TenantBootstrap) -> None:
    http = RecordingSession()
    app = msal.ConfidentialClientApplication(
        boot.client_id,
        client_credential="not-the-secret",
        authority=f"{tls_server.base_url}/{boot.domain}",
        http_client=http,
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]
    # The correlation id is the client-request-id MSAL sent; the trace id is the server's request-id.
    sent = http.sent[-1].headers["client-request-id"]
    assert result["correlation_id"] == str(uuid.UUID(sent))
    assert f"\r\nCorrelation ID: {result['correlation_id']}\r\n" in result["error_description"]
    assert result["error_description"].startswith("AADSTS7000215: ")


@pytest.mark.usefixtures("trust_test_ca")
def test_msal_refuses_tenants_hospes_does_not_serve(tls_server: LiveServer, boot: TenantBootstrap) -> None:
    http = RecordingSession()
    with pytest.raises(ValueError, match="double check your tenant name") as caught:
        msal.ConfidentialClientApplication(
            boot.client_id,
            client_credential=boot.client_secret,
            authority=f"{tls_server.base_url}/common",
            http_client=http,
            instance_discovery=False,
        )
    # MSAL keeps the server's answer in the exception it re-raised: HTTP 400 and Entra's tenant error.
    assert "HTTP status: 400" in str(caught.value.__context__)
    assert '"error_codes":[90002]' in str(caught.value.__context__)


def test_azure_identity_client_secret_credential(tls_server: LiveServer, boot: TenantBootstrap) -> None:
    credential = ClientSecretCredential(
        boot.tenant_id,
        boot.client_id,
        boot.client_secret,
        authority=tls_server.base_url,
        disable_instance_discovery=True,
        connection_verify=tls_server.ca_file,
    )
    token = credential.get_token(GRAPH_DEFAULT)
    assert token.token and token.expires_on > 0
    users = _users(tls_server, token.token)
    assert users.status_code == 200, users.text
    wrong = ClientSecretCredential(
        boot.tenant_id,
        boot.client_id,
        "not-the-secret",
        authority=tls_server.base_url,
        disable_instance_discovery=True,
        connection_verify=tls_server.ca_file,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        wrong.get_token(GRAPH_DEFAULT)


@pytest.mark.usefixtures("trust_test_ca")
def test_azure_identity_trusts_the_ca_from_the_environment(tls_server: LiveServer, boot: TenantBootstrap) -> None:
    """What a deployment does without code changes: point requests at the CA bundle."""
    credential = ClientSecretCredential(
        boot.tenant_id,
        boot.client_id,
        boot.client_secret,
        authority=tls_server.base_url,
        disable_instance_discovery=True,
    )
    assert _users(tls_server, credential.get_token(GRAPH_DEFAULT).token).status_code == 200


def test_the_server_certificate_is_checked(tls_server: LiveServer, boot: TenantBootstrap) -> None:
    """Without the test CA a client refuses the server: the TLS is real, not switched off in the tests."""
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_server.base_url}/healthz")
    trusted = httpx.get(f"{tls_server.base_url}/healthz", verify=tls_server.verify)
    assert trusted.headers["strict-transport-security"] == "max-age=31536000"


def test_plain_http_on_loopback_still_serves(live_server: LiveServer, boot: TenantBootstrap) -> None:
    """Development and tests run without TLS on 127.0.0.1; the URLs follow the server's public URL."""
    config = httpx.get(f"{live_server.base_url}/{boot.tenant_id}/v2.0/.well-known/openid-configuration").json()
    assert config["issuer"] == f"{live_server.base_url}/{boot.tenant_id}/v2.0"
    assert config["token_endpoint"].startswith("http://127.0.0.1:")
    response = httpx.post(
        config["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_id": boot.client_id,
            "client_secret": boot.client_secret,
            "scope": GRAPH_DEFAULT,
        },
    )
    assert response.status_code == 200, response.text
    assert _users(live_server, response.json()["access_token"]).status_code == 200


def test_client_address_from_a_trusted_proxy(
    live_server: LiveServer, boot: TenantBootstrap, sessions: sessionmaker[Session]
) -> None:
    """Behind a TLS-terminating proxy on the same host (``--forwarded-allow-ips`` defaults to 127.0.0.1), the
    client address that lockouts count and the audit records is the one the proxy forwards; the issuer stays the
    configured public URL whatever the forwarded headers claim."""
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    wrong = httpx.post(
        f"{live_server.base_url}/{boot.tenant_id}/oauth2/v2.0/token",
        headers=forwarded,
        data={
            "grant_type": "client_credentials",
            "client_id": boot.client_id,
            "client_secret": "not-the-secret",
            "scope": GRAPH_DEFAULT,
        },
    )
    assert wrong.status_code == 401
    with sessions() as session:
        row = session.scalars(
            select(AuditLog).where(AuditLog.tenant_id == boot.tenant_id, AuditLog.result == "failure")
        ).one()
    assert row.details["clientAddress"] == "203.0.113.7"
    config = httpx.get(
        f"{live_server.base_url}/{boot.tenant_id}/v2.0/.well-known/openid-configuration", headers=forwarded
    ).json()
    assert config["issuer"] == f"{live_server.base_url}/{boot.tenant_id}/v2.0"
