"""A federated guest in headless Chromium: the partner organization runs its own Hospes tenant as an OpenID
provider for its email domain; the guest opens the invitation link, is sent to the partner's sign-in, signs in
there with the partner's password, comes back, accepts on "Review permissions" and lands where the inviter
wanted; Graph then shows the guest Accepted with the partner's issuer in ``identities``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.live import LiveServer, run_server
from tests.helpers.oidc import admin_consent, register_rp
from tests.helpers.portal import PASSWORD
from tests.helpers.redemption import invite
from tests.helpers.tenants import TenantHandle

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def web_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The partner's provider is this same server, on loopback: the operator admits it for outbound calls."""
    allow = {"HOSPES_OUTBOUND_ALLOW": "127.0.0.1"}
    with run_server(database_url, str(tmp_path_factory.mktemp("live-federation")), allow) as server:
        yield server


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_a_federated_guest_redeems_through_the_partners_provider(
    page: Any, web_server: LiveServer, make_tenant: Any, artifacts: Path
) -> None:
    resource: TenantHandle = make_tenant("Contoso")
    home: TenantHandle = make_tenant("Northwind")
    domain = f"northwind-{uuid.uuid4().hex[:8]}.example"
    ana = home.new_user("ana", mail=f"ana@{domain}")
    live = web_server.base_url
    rp = register_rp(home, "Contoso guests", web=(f"{live}/te/{resource.id}/oauth2/authresp",))
    admin_consent(rp, "openid profile email")
    issuer = f"{live}/{home.id}/v2.0"
    provider = {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": "Northwind",
        "issuer": issuer,
        "clientId": rp.client_id,
        "wellKnownEndpoint": f"{issuer}/.well-known/openid-configuration",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": rp.secret,
        },
        "domains": [{"id": domain}],
    }
    assert resource.post("/identity/identityProviders", json=provider).status_code == 201
    landing = f"{live}/{resource.id}/myapps"
    link = invite(resource, ana["mail"], redirect=landing)["inviteRedeemUrl"].replace("http://testserver", live)

    page.goto(link)
    _shot(page, artifacts, "01-invitation")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/redeem/signin$"))
    assert "Northwind" in page.locator("#federated-signin").inner_text()
    _shot(page, artifacts, "02-sign-in-with-partner")
    page.locator("#federated-signin").click()
    page.wait_for_url(re.compile(rf".*/{home.id}/.*"))
    if "/authorize/signin" in page.url:  # the partner asks who is signing in first
        page.locator("input[name=email]").fill(ana["userPrincipalName"])
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/login\?.*"))
    page.get_by_label("Sign-in name").fill(ana["userPrincipalName"])
    page.get_by_label("Password").fill(PASSWORD)
    _shot(page, artifacts, "03-partner-sign-in")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/redeem/consent$"))
    _shot(page, artifacts, "04-review-permissions")
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url(landing)
    _shot(page, artifacts, "05-my-apps")

    found = resource.get(f"/users?$filter=mail eq '{ana['mail']}'&$select=externalUserState,identities").json()
    guest = found["value"][0]
    assert guest["externalUserState"] == "Accepted"
    assert any(i["issuer"] == issuer for i in guest["identities"]), guest["identities"]
