"""The portal's Identity providers screen: add a SAML federation and an OpenID Connect provider with their domains,
see what the partner configures, change the domains, fields in error said in plain words, delete; in five
languages; Global Administrators only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.helpers.portal import csrf_of, sign_in, sign_in_as_admin
from tests.helpers.saml import new_party
from tests.helpers.tenants import TenantHandle

PAGE = "/admin/identity-providers"


def _create(web: TestClient, tenant: TenantHandle, kind: str, **fields: str) -> object:
    form = web.get(f"/{tenant.domain}{PAGE}/new?kind={kind}")
    assert form.status_code == 200, form.text
    return web.post(f"/{tenant.domain}{PAGE}/new", data={"csrf": csrf_of(form.text), "kind": kind, **fields})


def test_saml_federation_from_the_portal(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    listing = web.get(f"/{tenant.domain}{PAGE}")
    assert listing.status_code == 200 and 'id="new-saml"' in listing.text
    form = web.get(f"/{tenant.domain}{PAGE}/new?kind=saml")
    assert "http://testserver/login.srf" in form.text and f"http://testserver/{tenant.id}/" in form.text
    assert f'href="/{tenant.domain}/federation/sp-metadata.xml"' in form.text
    metadata = web.get(f"/{tenant.domain}/federation/sp-metadata.xml")
    assert metadata.headers["content-type"].startswith("application/samlmetadata+xml")
    root = etree.fromstring(metadata.content)
    assert root.get("entityID") == f"http://testserver/{tenant.id}/"
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    acs = root.find(f"{md}SPSSODescriptor/{md}AssertionConsumerService")
    assert acs is not None and acs.get("Location") == "http://testserver/login.srf"
    partner = new_party("Fabrikam")
    bad = _create(
        web,
        tenant,
        "saml",
        name="Fabrikam",
        issuer="https://idp.fabrikam.example/",
        signin="http://x",
        certificate=partner.cert_b64,
        domains="fabrikam.example",
    )
    assert bad.status_code == 400 and "https://" in bad.text and 'id="e-signin"' in bad.text  # type: ignore[attr-defined]
    made = _create(
        web,
        tenant,
        "saml",
        name="Fabrikam",
        issuer="https://idp.fabrikam.example/",
        signin="https://idp.fabrikam.example/sso",
        certificate=partner.cert_pem,
        domains="fabrikam.example\nfabrikam.net",
    )
    assert made.status_code == 303, made.text  # type: ignore[attr-defined]
    location = made.headers["location"]  # type: ignore[attr-defined]
    fid = location.split("/")[-1].split("?")[0]
    graph = tenant.get(f"/directory/federationConfigurations/{fid}").json()
    assert (
        graph["passiveSignInUri"] == "https://idp.fabrikam.example/sso"
        and graph["signingCertificate"] == partner.cert_b64
    )
    page = web.get(location)
    assert "fabrikam.net" in page.text and 'id="notice"' in page.text
    changed = web.post(
        f"/{tenant.domain}{PAGE}/{fid}",
        data={
            "csrf": csrf_of(page.text),
            "name": "Fabrikam IdP",
            "issuer": "https://idp.fabrikam.example/",
            "signin": "https://idp.fabrikam.example/sso",
            "certificate": partner.cert_b64,
            "domains": "fabrikam.org\nfabrikam.example",
        },
    )
    assert changed.status_code == 303, changed.text
    domains = tenant.get(
        f"/directory/federationConfigurations/{fid}/microsoft.graph.samlOrWsFedExternalDomainFederation/domains"
    )
    assert sorted(d["id"] for d in domains.json()["value"]) == ["fabrikam.example", "fabrikam.org"]
    own = _create(
        web,
        tenant,
        "saml",
        name="Own",
        issuer="https://own.example/",
        signin="https://own.example/sso",
        certificate=partner.cert_b64,
        domains=tenant.domain,
    )
    assert own.status_code == 400 and "own domains" in own.text  # type: ignore[attr-defined]
    confirm = web.get(f"/{tenant.domain}{PAGE}/{fid}/delete")
    deleted = web.post(f"/{tenant.domain}{PAGE}/{fid}/delete", data={"csrf": csrf_of(confirm.text), "confirm": "yes"})
    assert deleted.status_code == 303
    assert tenant.get("/directory/federationConfigurations").json()["value"] == []


def test_openid_provider_from_the_portal(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    form = web.get(f"/{tenant.domain}{PAGE}/new?kind=oidc")
    assert f"http://testserver/te/{tenant.id}/oauth2/authresp" in form.text
    made = _create(
        web,
        tenant,
        "oidc",
        name="Northwind",
        issuer="https://login.northwind.example/t/v2.0",
        well_known="https://login.northwind.example/t/v2.0/.well-known/openid-configuration",
        client_id="abc",
        secret="very-secret",
        scope="openid email",
        domains="northwind.example",
    )
    assert made.status_code == 303, made.text  # type: ignore[attr-defined]
    listed = tenant.get("/identity/identityProviders").json()["value"]
    assert listed[0]["clientId"] == "abc" and listed[0]["domains"] == [
        {"@odata.type": "#microsoft.graph.externalDomainName", "id": "northwind.example"}
    ]
    page = web.get(made.headers["location"])  # type: ignore[attr-defined]
    assert "very-secret" not in page.text


@pytest.mark.parametrize(
    ("lang", "title"),
    [
        ("fr", "Fournisseurs d"),
        ("de", "Identitätsanbieter"),
        ("es", "Proveedores de identidad"),
        ("ja", "ID プロバイダー"),
    ],
)
def test_the_screen_speaks_the_portal_languages(web: TestClient, tenant: TenantHandle, lang: str, title: str) -> None:
    sign_in_as_admin(web, tenant)
    page = web.get(f"/{tenant.domain}{PAGE}?lang={lang}")
    assert page.status_code == 200 and title in page.text


def test_members_without_the_role_are_refused(web: TestClient, tenant: TenantHandle) -> None:
    member = tenant.new_user("plain")
    assert sign_in(web, tenant.domain, member["userPrincipalName"]).status_code == 303
    assert web.get(f"/{tenant.domain}{PAGE}").status_code == 403
