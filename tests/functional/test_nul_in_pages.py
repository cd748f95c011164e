"""A NUL character, which PostgreSQL text cannot hold, in a page's tenant segment, an OpenID discovery URL or a
form field is refused like any other unusable input (404 unknown organization, 400 unreadable form), never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.helpers.portal import csrf_of, sign_in_as_admin
from tests.helpers.tenants import TenantHandle


@pytest.mark.parametrize(
    "path",
    ["/a%00b/admin", "/a%00b/login", "/a%00b/myapps", "/a%00b/v2.0/.well-known/openid-configuration"],
)
def test_nul_in_the_tenant_segment_is_an_unknown_organization(web: TestClient, path: str) -> None:
    response = web.get(path)
    assert response.status_code == 404


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
