"""``/identity/identityProviders``: OpenID Connect providers for guests (create, read with the secret masked,
update, delete, domains bound once per tenant), bad bodies refused with Graph errors, the secret sealed at rest."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables_federation import ExternalIdentityProvider
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle

PROVIDERS = "/identity/identityProviders"


def provider_body(**extra: Any) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": "Northwind",
        "issuer": "https://login.northwind.example/tid/v2.0",
        "clientId": "client-1",
        "wellKnownEndpoint": "https://login.northwind.example/tid/v2.0/.well-known/openid-configuration",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": "s3cret-value",
        },
        "domains": [{"id": "northwind.example"}],
        **extra,
    }


def test_provider_round_trip(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    created = tenant.post(PROVIDERS, json=provider_body())
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["@odata.type"] == "#microsoft.graph.oidcIdentityProvider"
    assert body["clientAuthentication"]["clientSecret"] == "******"
    assert body["scope"] == "openid profile email" and body["responseType"] == "code"
    assert [d["id"] for d in body["domains"]] == ["northwind.example"]
    with sessions() as session:
        row = session.get(ExternalIdentityProvider, body["id"])
        assert row is not None and row.client_secret_sealed and "s3cret-value" not in row.client_secret_sealed
    changed = tenant.patch(f"{PROVIDERS}/{body['id']}", json={"displayName": "NW", "domains": [{"id": "nw.example"}]})
    assert changed.status_code == 204, changed.text
    got = tenant.get(f"{PROVIDERS}/{body['id']}").json()
    assert got["displayName"] == "NW" and [d["id"] for d in got["domains"]] == ["nw.example"]
    assert [p["id"] for p in tenant.get(PROVIDERS).json()["value"]] == [body["id"]]
    assert tenant.delete(f"{PROVIDERS}/{body['id']}").status_code == 204
    assert_graph_error(tenant.get(f"{PROVIDERS}/{body['id']}"), 404, "Request_ResourceNotFound")


@pytest.mark.parametrize(
    "change",
    [
        {"@odata.type": "#microsoft.graph.socialIdentityProvider"},
        {"issuer": "http://login.northwind.example/"},
        {"wellKnownEndpoint": "ftp://x.example/"},
        {"responseType": "id_token"},
        {"scope": "profile email"},
        {"clientAuthentication": {"@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"}},
        {"clientAuthentication": None},
        {"inboundClaimMapping": {"favourite_colour": "c"}},
        {"domains": [{"id": "-bad-"}]},
    ],
)
def test_bad_bodies(tenant: TenantHandle, change: dict[str, Any]) -> None:
    body = {k: v for k, v in {**provider_body(), **change}.items() if v is not None}
    assert_graph_error(tenant.post(PROVIDERS, json=body), 400, "Request_BadRequest")


def test_a_domain_binds_one_provider(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    assert tenant.post(PROVIDERS, json=provider_body()).status_code == 201
    again = provider_body(issuer="https://other.example/v2.0")
    assert_graph_error(tenant.post(PROVIDERS, json=again), 409, "Request_MultipleObjectsWithSameKeyValue")
    # Another tenant is another directory: the same domain and issuer are free there.
    assert other_tenant.post(PROVIDERS, json=provider_body()).status_code == 201
    assert len(tenant.get(PROVIDERS).json()["value"]) == 1
