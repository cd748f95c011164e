"""End to end in headless Chromium: a member opens a SAML app (python3-saml builds its AuthnRequest), picks the
organization's sign-in, signs in with a password and is carried to the app's ACS by the page's own script, under
its Content Security Policy (form-action to the ACS's origin, the script from Hospes). The ACS is intercepted in the
browser and the Response it received validated by python3-saml."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox, parse_key
from hospes.saml.nameid import EMAIL
from hospes.services.tenants import create_tenant
from tests.helpers.live import TEST_SECRET_KEY, LiveServer
from tests.helpers.saml import Sp, new_party, onelogin_request_data, onelogin_settings, register_saml_app
from tests.helpers.tenants import ADMIN_PASSWORD, TenantHandle, fetch_token

pytestmark = pytest.mark.live

SP = Sp(
    "https://expenses.example/saml/metadata",
    "https://expenses.example/saml/acs",
    "https://expenses.example/saml/sls",
    new_party("expenses.example"),
)


def test_member_signs_into_a_saml_app(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    from onelogin.saml2.auth import OneLogin_Saml2_Auth
    from onelogin.saml2.response import OneLogin_Saml2_Response

    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD)
    with httpx.Client(base_url=web_server.base_url) as http:
        tenant = TenantHandle(boot, http, fetch_token(http, boot.domain, boot.client_id, boot.client_secret))  # type: ignore[arg-type]
        handle = register_saml_app(
            tenant, sessions, SecretBox(parse_key(TEST_SECRET_KEY)), SP, base=web_server.base_url
        )
    settings = onelogin_settings(handle.idp, SP, name_id_format=EMAIL)
    auth = OneLogin_Saml2_Auth(onelogin_request_data(SP.acs), old_settings=settings)
    login_url = auth.login(return_to="/expenses/new")

    received: list[dict[str, str]] = []

    def acs(route: Any) -> None:
        form = parse_qs(route.request.post_data or "")
        received.append({key: values[0] for key, values in form.items()})
        route.fulfill(status=200, content_type="text/html", body="<h1>Welcome to Expenses</h1>")

    page.route("https://expenses.example/**", acs)
    page.goto(login_url)
    page.get_by_role("link", name="Sign in with your Contoso account").click()
    page.screenshot(path=str(artifacts / "01-login.png"), full_page=True)
    page.get_by_label("Sign-in name").fill(boot.admin_user_principal_name)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(SP.acs)
    assert page.locator("h1").inner_text() == "Welcome to Expenses"
    page.screenshot(path=str(artifacts / "02-app.png"), full_page=True)

    assert len(received) == 1 and received[0]["RelayState"] == "/expenses/new"
    response = OneLogin_Saml2_Response(settings, received[0]["SAMLResponse"])
    assert response.is_valid(onelogin_request_data(SP.acs, received[0]), auth.get_last_request_id()), (
        response.get_error()
    )
    assert response.get_nameid() == boot.admin_user_principal_name
