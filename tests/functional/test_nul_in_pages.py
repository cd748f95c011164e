"""A NUL character, which PostgreSQL text cannot hold, anywhere in an address (a tenant segment, an id, a search
term), in a form field or in the token request is refused as bad input (a 400, or an unreadable-form page), never
a 500. Graph addresses are covered with the Graph envelope in test_graph_bad_input.py."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from tests.helpers.portal import csrf_of, sign_in_as_admin
from tests.helpers.tenants import TenantHandle


@pytest.mark.parametrize(
    "path",
    [
        "/a%00b/admin",
        "/a%00b/login",
        "/a%00b/myapps",
        "/a%00b/v2.0/.well-known/openid-configuration",
        "/{domain}/admin/users?q=a%00b",
        "/{domain}/admin/groups?q=a%00b",
        "/{domain}/admin/users/a%00b",
        "/{domain}/admin/users/a%00b/delete",
    ],
)
def test_nul_in_an_address_is_a_bad_request(web: TestClient, tenant: TenantHandle, path: str) -> None:
    sign_in_as_admin(web, tenant)
    response = web.get(path.format(domain=tenant.domain))
    assert response.status_code == 400
    assert "NUL" in response.text


def test_nul_in_a_portal_form_field_is_an_unreadable_form(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    page = web.get(f"/{tenant.domain}/admin/groups/new")
    response = web.post(
        f"/{tenant.domain}/admin/groups/new",
        content=f"csrf={csrf_of(page.text)}&name=a%00b&description=".encode(),
        headers={"content-type": "application/x-www-form-urlencoded", "origin": "http://testserver"},
    )
    assert response.status_code == 400
    assert "could not be read" in response.text


def test_nul_in_the_token_request_is_an_oauth_error(web: TestClient, tenant: TenantHandle) -> None:
    url = f"/{tenant.domain}/oauth2/v2.0/token"
    scope = "https://graph.microsoft.com/.default"
    for data in (
        {"grant_type": "client_credentials", "client_id": "a\x00", "client_secret": "x", "scope": scope},
        {"grant_type": "password", "client_id": "a", "username": "u\x00@x", "password": "p", "scope": scope},
    ):
        response = web.post(url, data=data)
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    basic = base64.b64encode(b"a%00:secret").decode()
    response = web.post(
        url,
        data={"grant_type": "client_credentials", "scope": scope},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
