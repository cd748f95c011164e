"""End to end in headless Chromium: a member on the way into an OpenID Connect app meets the terms of use a
conditional-access policy requires for that app, reads them in the page's language, accepts, and lands in the
app; the acceptance is recorded for the agreement's version."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import TenantBootstrap, create_tenant
from tests.helpers.live import LiveServer
from tests.helpers.oidc import REDIRECT, RelyingParty, admin_consent, register_rp
from tests.helpers.tenants import ADMIN_PASSWORD, PASSWORD, TenantHandle, fetch_token

pytestmark = pytest.mark.live
AGREEMENTS = "/identityGovernance/termsOfUse/agreements"
RULES = {"en": "Use the expense app for business trips only.", "de": "Nutzen Sie die Spesen-App nur für Dienstreisen."}


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.base_url, timeout=30) as client:
        yield client


def _tenant(sessions: sessionmaker[Session], http: httpx.Client) -> TenantHandle:
    boot: TenantBootstrap = create_tenant(
        sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD
    )
    return TenantHandle(boot, http, fetch_token(http, boot.domain, boot.client_id, boot.client_secret))  # type: ignore[arg-type]


def _sign_in_to(page: Any, live: LiveServer, rp: RelyingParty, lang: str) -> list[str]:
    arrived: list[str] = []

    def callback(route: Any) -> None:
        arrived.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Signed in to the app</h1>")

    page.route("https://rp.example/**", callback)
    query = {"client_id": rp.client_id, "redirect_uri": rp.redirect_uri, "response_type": "code",
             "scope": "openid profile", "state": "s-1", "nonce": "n-1", "lang": lang}  # fmt: skip
    page.goto(f"{live.base_url}/{rp.tenant.id}/oauth2/v2.0/authorize?{urlencode(query)}")
    return arrived


def test_a_member_accepts_the_terms_on_the_way_to_an_app(
    page: Any, live: LiveServer, http: httpx.Client, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    tenant = _tenant(sessions, http)
    rp = register_rp(tenant, name="Expenses")
    admin_consent(rp)
    user = tenant.new_user("vera")
    files = [
        {"fileName": f"rules-{lang}.txt", "language": lang, "isDefault": lang == "en",
         "fileData": {"data": base64.b64encode(text.encode()).decode()}}
        for lang, text in RULES.items()
    ]  # fmt: skip
    agreement = tenant.post(AGREEMENTS, json={"displayName": "Expense rules", "files": files}).json()
    policy = tenant.post(
        "/identity/conditionalAccess/policies",
        json={
            "displayName": "Expense rules first",
            "state": "enabled",
            "conditions": {
                "users": {"includeUsers": [user["id"]]},
                "applications": {"includeApplications": [rp.client_id]},
            },
            "grantControls": {"operator": "OR", "termsOfUse": [agreement["id"]]},
        },
    )
    assert policy.status_code == 201, policy.text
    arrived = _sign_in_to(page, live, rp, "de")
    page.locator("input[type=email], input[name=login_hint], input[name=username]").first.fill(
        user["userPrincipalName"]
    )
    page.locator("button[type=submit]").first.click()
    page.locator("input[type=password]").fill(PASSWORD)
    page.locator("button[type=submit]").first.click()
    page.wait_for_url("**/terms?**")
    assert page.locator("h1").inner_text() == "Nutzungsbedingungen"
    assert page.locator("pre.terms-text").inner_text() == RULES["de"]
    page.screenshot(path=str(artifacts / "01-terms.png"), full_page=True)
    page.locator("#terms-accept").click()
    page.wait_for_url(f"{REDIRECT}**")
    assert page.locator("h1").inner_text() == "Signed in to the app" and len(arrived) == 1
    answers = tenant.get(f"{AGREEMENTS}/{agreement['id']}/acceptances").json()["value"]
    assert [(a["userId"], a["state"]) for a in answers] == [(user["id"], "accepted")]
    page.screenshot(path=str(artifacts / "02-app.png"), full_page=True)
