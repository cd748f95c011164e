"""The front door: ``/`` is a page (not a Graph error), finds an organization by its domain and remembers it;
``/admin`` leads to it."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from tests.helpers.portal import csrf_of
from tests.helpers.tenants import TenantHandle


def _choose(web: TestClient, domain: str) -> httpx.Response:
    page = web.get("/")
    return web.post("/", data={"csrf": csrf_of(page.text), "domain": domain})


def test_home_is_a_page_with_the_product_sign_in_and_docs(web: TestClient) -> None:
    response = web.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    text = response.text
    assert "Sign in to your organization" in text and 'name="domain"' in text
    assert 'href="/docs"' in text and "My Apps" in text and "Microsoft Graph" in text
    french = web.get("/?lang=fr")
    assert "Connectez-vous à votre organisation" in french.text and '<html lang="fr">' in french.text


def test_admin_leads_to_the_home_page(web: TestClient) -> None:
    response = web.get("/admin")
    assert response.status_code in (302, 303, 307) and response.headers["location"] == "/"
    assert web.head("/").status_code == 200


def test_a_known_domain_goes_to_its_portal_and_is_remembered(web: TestClient, tenant: TenantHandle) -> None:
    response = _choose(web, f"  Someone@{tenant.domain.upper()} ")
    assert response.status_code == 303
    assert response.headers["location"] == f"/{tenant.domain}/admin"
    assert web.cookies.get("hospes_org") == tenant.domain
    # /{tenant}/admin sends a signed-out browser to that organization's sign-in
    portal = web.get(f"/{tenant.domain}/admin")
    assert portal.status_code == 303 and portal.headers["location"].startswith(f"/{tenant.domain}/login?")
    again = web.get("/")
    assert again.status_code == 200
    assert f'value="{tenant.domain}"' in again.text
    assert f'href="/{tenant.domain}/myapps"' in again.text and f'href="/{tenant.domain}/admin"' in again.text
    assert "Continue to Contoso" in again.text


def test_an_unknown_domain_is_said_on_the_same_page(web: TestClient) -> None:
    response = _choose(web, "<b>nowhere</b>.example")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    assert "No organization uses the domain" in text and "<b>" not in text and "&lt;b&gt;" in text
    assert 'name="domain"' in text and "hospes_org" not in web.cookies
    empty = _choose(web, "  ")
    assert empty.status_code == 400 and "for example contoso.example" in empty.text


def test_the_form_needs_its_token(web: TestClient, tenant: TenantHandle) -> None:
    web.get("/")
    assert web.post("/", data={"domain": tenant.domain}).status_code == 403
    assert "hospes_org" not in web.cookies
