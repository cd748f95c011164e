"""End to end in headless Chromium: a member, a guest with an emailed passcode and a guest from another tenant of
the deployment sign in to an OpenID Connect app. The app's redirect URI is intercepted in the browser (the tiny
relying party), which then redeems the code with its secret and reads the ID token."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import TenantBootstrap, create_tenant
from tests.helpers.live import LiveServer
from tests.helpers.mail import MailSink
from tests.helpers.oidc import REDIRECT, RelyingParty, admin_consent, register_rp
from tests.helpers.tenants import ADMIN_PASSWORD, PASSWORD, TenantHandle, fetch_token

pytestmark = pytest.mark.live
_CODE = re.compile(r"^\s+(\d{8})\s*$", re.M)
_LAST_ID_TOKEN: list[str] = []  # the ID tokens _id_token redeemed, newest last


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.base_url, timeout=30) as client:
        yield client


def _tenant(sessions: sessionmaker[Session], http: httpx.Client, name: str) -> TenantHandle:
    boot: TenantBootstrap = create_tenant(
        sessions, name, f"{name.lower()}-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD
    )
    return TenantHandle(boot, http, fetch_token(http, boot.domain, boot.client_id, boot.client_secret))  # type: ignore[arg-type]


def _start(page: Any, live: LiveServer, rp: RelyingParty) -> list[str]:
    """Intercept the app's redirect URI, open the app's sign-in; returns where the answers arrive."""
    arrived: list[str] = []

    def callback(route: Any) -> None:
        arrived.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Signed in to the app</h1>")

    page.route("https://rp.example/**", callback)
    query = {
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "response_type": "code",
        "scope": "openid profile email",
        "state": "s-1",
        "nonce": "n-1",
    }
    page.goto(f"{live.base_url}/{rp.tenant.id}/oauth2/v2.0/authorize?{urlencode(query)}")
    return arrived


def _id_token(http: httpx.Client, rp: RelyingParty, arrived: list[str]) -> dict[str, Any]:
    assert len(arrived) == 1 and arrived[0].startswith(REDIRECT)
    answer = {k: v[0] for k, v in parse_qs(urlsplit(arrived[0]).query).items()}
    assert answer["state"] == "s-1"
    tokens = http.post(
        f"/{rp.tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": rp.client_id,
            "client_secret": rp.secret,
            "code": answer["code"],
            "redirect_uri": rp.redirect_uri,
        },
    )
    assert tokens.status_code == 200, tokens.text
    _LAST_ID_TOKEN.append(tokens.json()["id_token"])
    part = tokens.json()["id_token"].split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def _identify(page: Any, address: str) -> None:
    page.get_by_label("Email address").fill(address)
    page.get_by_role("button", name="Next").click()


def test_member_signs_into_an_oidc_app(
    page: Any, live: LiveServer, http: httpx.Client, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    tenant = _tenant(sessions, http, "Contoso")
    rp = register_rp(tenant, name="Expenses")
    admin_consent(rp)
    user = tenant.new_user("ines")
    arrived = _start(page, live, rp)
    page.screenshot(path=str(artifacts / "01-who.png"), full_page=True)
    _identify(page, user["userPrincipalName"])
    page.get_by_label("Password").fill(PASSWORD)
    page.screenshot(path=str(artifacts / "02-password.png"), full_page=True)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{REDIRECT}**")
    assert page.locator("h1").inner_text() == "Signed in to the app"
    claims = _id_token(http, rp, arrived)
    assert claims["preferred_username"] == user["userPrincipalName"] and claims["acct"] == 0


def test_a_guest_with_an_emailed_passcode_signs_into_an_oidc_app(
    page: Any,
    live: LiveServer,
    http: httpx.Client,
    sessions: sessionmaker[Session],
    mail_sink: MailSink,
    artifacts: Path,
) -> None:
    tenant = _tenant(sessions, http, "Contoso")
    rp = register_rp(tenant, name="Expenses")
    admin_consent(rp)
    address = f"guest-{uuid.uuid4().hex[:6]}@partner-mail.example"
    invited = tenant.post(
        "/invitations",
        json={
            "invitedUserEmailAddress": address,
            "inviteRedirectUrl": "https://rp.example/",
            "sendInvitationMessage": False,
        },
    )
    assert invited.status_code == 201, invited.text
    arrived = _start(page, live, rp)
    _identify(page, address)
    page.wait_for_url(re.compile(r".*/redeem/signin$"))
    page.screenshot(path=str(artifacts / "01-guest-signin.png"), full_page=True)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/redeem/code\?sent=sent$"))
    code = _CODE.search(mail_sink.wait_for_rcpt(address, 1, timeout=15).part("plain"))
    assert code
    page.locator("input[name=code]").fill(code.group(1))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/redeem/consent$"))
    page.screenshot(path=str(artifacts / "02-review-permissions.png"), full_page=True)
    page.locator("main button[value=accept]").click()
    page.wait_for_url(f"{REDIRECT}**")
    claims = _id_token(http, rp, arrived)
    assert claims["preferred_username"] == address and claims["idp"] == "mail" and claims["acct"] == 1


def test_a_home_tenant_guest_signs_into_an_oidc_app(
    page: Any, live: LiveServer, http: httpx.Client, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    resource = _tenant(sessions, http, "Contoso")
    home = _tenant(sessions, http, "Fabrikam")
    rp = register_rp(resource, name="Expenses")
    admin_consent(rp)
    bob = home.new_user("bob")
    invited = resource.post(
        "/invitations",
        json={
            "invitedUserEmailAddress": bob["userPrincipalName"],
            "inviteRedirectUrl": "https://rp.example/",
            "sendInvitationMessage": False,
        },
    )
    assert invited.status_code == 201, invited.text
    arrived = _start(page, live, rp)
    _identify(page, bob["userPrincipalName"])
    page.wait_for_url(re.compile(r".*/redeem/signin$"))
    page.screenshot(path=str(artifacts / "01-home-choice.png"), full_page=True)
    page.locator("#home-signin").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/redeem/consent$"))
    page.locator("main button[value=accept]").click()
    page.wait_for_url(f"{REDIRECT}**")
    claims = _id_token(http, rp, arrived)
    assert claims["tid"] == resource.id and claims["idp"] == f"{live.base_url}/{home.id}/v2.0"
    assert claims["preferred_username"] == bob["userPrincipalName"] and claims["acct"] == 1


def test_signing_out_from_the_app_reaches_every_app_of_the_session(
    page: Any, live: LiveServer, http: httpx.Client, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    """The end-session page's hidden frames load each app's front-channel logout URL under the page's CSP
    (frame-src), then the browser goes to the registered post-logout URI."""
    tenant = _tenant(sessions, http, "Contoso")
    rp = register_rp(tenant, name="Expenses", logout_url="https://rp.example/logout")
    admin_consent(rp)
    user = tenant.new_user("olga")
    logged_out: list[str] = []

    def logout_frame(route: Any) -> None:
        logged_out.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>signed out</p>")

    arrived = _start(page, live, rp)
    _identify(page, user["userPrincipalName"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{REDIRECT}**")
    claims = _id_token(http, rp, arrived)
    page.route("https://rp.example/logout**", logout_frame)  # the latest route is asked first
    id_token = _LAST_ID_TOKEN[-1]
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": REDIRECT, "state": "bye"})
    page.goto(f"{live.base_url}/{tenant.id}/oauth2/v2.0/logout?{query}")
    page.screenshot(path=str(artifacts / "01-signed-out.png"), full_page=True)
    assert page.locator("#signed-out-count").get_attribute("data-count") == "1"
    page.wait_for_url(f"{REDIRECT}?state=bye", timeout=15000)
    assert len(logged_out) == 1
    frame = parse_qs(urlsplit(logged_out[0]).query)
    assert frame == {"iss": [f"{live.base_url}/{tenant.id}/v2.0"], "sid": [claims["sid"]]}
