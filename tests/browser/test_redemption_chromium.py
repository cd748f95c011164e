"""End to end in headless Chromium: an app invites through the Graph API (msgraph-sdk), the invitation email
arrives on a real SMTP server (aiosmtpd), the guest opens the link, receives and types the passcode from the second
email, accepts on "Review permissions" and lands on the redirect URL (another origin); Graph then shows
``externalUserState: Accepted``. The same for a guest whose home tenant is in this deployment, with MFA required.
Every page leaves a screenshot in the artifacts folder."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pyotp
import pytest
from msgraph.generated.models.invitation import Invitation
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import Principal
from hospes.services.guest_policy import GuestPolicyService
from hospes.services.tenants import TenantBootstrap, create_tenant
from tests.helpers.live import LiveServer, graph_client
from tests.helpers.mail import MailSink
from tests.helpers.tenants import ADMIN_PASSWORD

pytestmark = pytest.mark.live
T = TypeVar("T")
_LINK = re.compile(r"(http://127\.0\.0\.1:\d+/redeem\?[^\s<>\"]+)")
_CODE = re.compile(r"^\s+(\d{8})\s*$", re.M)


class _Loop:
    """One event loop in a thread for the SDK (its HTTP client is bound to the loop it first ran on), out of the
    way of Playwright's own loop in the test thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class _Welcome(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Partner app</title><h1>Welcome to the partner app</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def partner_app() -> Iterator[str]:
    """The inviter's application: another origin, so the final redirect crosses origins like in real life."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Welcome)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/welcome"
    finally:
        server.shutdown()


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _invite(loop: _Loop, server: LiveServer, boot: TenantBootstrap, address: str, redirect: str) -> Any:
    sdk = graph_client(server, boot.domain, boot.client_id, boot.client_secret)
    invitation = Invitation(
        invited_user_email_address=address, invite_redirect_url=redirect, send_invitation_message=True
    )
    return sdk, loop.run(sdk.invitations.post(invitation))


def _state(loop: _Loop, sdk: Any, user_id: str) -> Any:
    async def get() -> Any:
        from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

        config = UserItemRequestBuilder.UserItemRequestBuilderGetRequestConfiguration(
            query_parameters=UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
                select=["id", "externalUserState", "externalUserStateChangeDateTime", "identities"]
            )
        )
        return await sdk.users.by_user_id(user_id).get(request_configuration=config)

    return loop.run(get())


def test_guest_redeems_with_an_email_passcode(
    page: Any, live: LiveServer, mail_sink: MailSink, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")
    address = f"amelie-{uuid.uuid4().hex[:6]}@partner.example"
    loop = _Loop()
    try:
        with partner_app() as welcome:
            sdk, invitation = _invite(loop, live, boot, address, welcome)
            assert invitation.status == "PendingAcceptance"
            mail = mail_sink.wait_for_rcpt(address, subject="invited you", timeout=15)
            link = _LINK.search(mail.part("plain"))
            assert link, mail.part("plain")

            page.goto(link.group(1))
            assert page.locator("h1").inner_text() == "You're invited to Contoso"
            _shot(page, artifacts, "01-invitation")
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url(re.compile(r".*/redeem/signin$"))
            _shot(page, artifacts, "02-signin-email-code")
            page.get_by_role("button", name="Send code").click()
            page.wait_for_url(re.compile(r".*/redeem/code\?sent=sent$"))
            _shot(page, artifacts, "03-enter-code")
            code_mail = mail_sink.wait_for_rcpt(address, subject="verification code", timeout=15)
            code = _CODE.search(code_mail.part("plain"))
            assert code, code_mail.part("plain")
            page.get_by_role("textbox", name="Code").fill(code.group(1))
            page.keyboard.press("Enter")  # keyboard only
            page.wait_for_url(re.compile(r".*/redeem/consent$"))
            assert page.locator("h1").inner_text() == "Review permissions"
            assert boot.domain in page.inner_text("main")
            _shot(page, artifacts, "04-review-permissions")
            page.set_viewport_size({"width": 375, "height": 740})
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            _shot(page, artifacts, "05-review-permissions-phone")
            page.set_viewport_size({"width": 1100, "height": 800})
            page.get_by_role("button", name="Accept", exact=True).click()
            page.wait_for_url(welcome)
            assert "Welcome to the partner app" in page.inner_text("body")
            _shot(page, artifacts, "06-landed")

            user = _state(loop, sdk, invitation.invited_user.id)
            assert user.external_user_state == "Accepted"
            assert user.external_user_state_change_date_time is not None
            assert any(i.issuer == "mail" for i in user.identities)

            page.goto(f"{live.base_url}/{boot.domain}/myapps")
            assert page.locator("h1").inner_text() == "My Apps"
            _shot(page, artifacts, "07-my-apps")
            page.goto(link.group(1))
            assert "already used" in page.locator("h1").inner_text()
            _shot(page, artifacts, "08-link-used")
            page.set_viewport_size({"width": 375, "height": 740})
            for path, name in (("/myapps", "09-my-apps-phone"), ("/guest?lang=de", "10-guest-signin-phone-de")):
                page.goto(f"{live.base_url}/{boot.domain}{path}")
                assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
                _shot(page, artifacts, name)
            page.goto(link.group(1) + "&lang=es")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert "ya se usó" in page.locator("h1").inner_text()
            _shot(page, artifacts, "11-link-used-phone-es")
    finally:
        loop.close()


@pytest.mark.parametrize("trust_home_mfa", [True, False], ids=["home-mfa-trusted", "mfa-enrolled-here"])
def test_home_tenant_guest_with_mfa_required(
    page: Any,
    live: LiveServer,
    mail_sink: MailSink,
    sessions: sessionmaker[Session],
    artifacts: Path,
    trust_home_mfa: bool,
) -> None:
    resource = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")
    home = create_tenant(
        sessions, "Fabrikam", f"fabrikam-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD
    )
    GuestPolicyService(sessions, Principal(resource.tenant_id, "system", "", "test")).update(
        require_guest_mfa=True, trust_home_mfa=trust_home_mfa
    )
    guest = home.admin_user_principal_name
    base_home = f"{live.base_url}/{home.domain}"

    # The guest already uses an authenticator app at home.
    page.goto(f"{base_home}/login")
    page.get_by_label("Sign-in name").fill(guest)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base_home}/me/mfa")
    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text().replace(" ", ""))
    page.get_by_role("textbox", name="Code").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    page.get_by_role("link", name="Done").click()
    page.get_by_role("button", name="Sign out", exact=True).first.click()

    loop = _Loop()
    try:
        with partner_app() as welcome:
            sdk, invitation = _invite(loop, live, resource, guest, welcome)
            mail = mail_sink.wait_for_rcpt(guest, subject="invited you", timeout=15)
            link = _LINK.search(mail.part("plain"))
            assert link
            page.goto(link.group(1))
            _shot(page, artifacts, "01-invitation")
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url(re.compile(r".*/redeem/signin$"))
            _shot(page, artifacts, "02-signin-at-home")
            page.get_by_role("link", name="Sign in with Fabrikam").click()
            page.wait_for_url(re.compile(rf".*/{home.tenant_id}/login\?.*"))
            assert page.get_by_label("Sign-in name").input_value() == guest
            _shot(page, artifacts, "03-home-login")
            page.get_by_label("Password").fill(ADMIN_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(re.compile(r".*/login/mfa$"))
            _shot(page, artifacts, "04-home-mfa")
            page.get_by_role("textbox", name="Code").fill(totp.at(time.time() + 30))
            page.get_by_role("button", name="Verify").click()
            if not trust_home_mfa:
                # The resource tenant does not take the home tenant's word: an authenticator registered here.
                page.wait_for_url(re.compile(rf".*/{resource.tenant_id}/redeem/mfa$"))
                assert page.locator(".qr-box svg").is_visible()
                _shot(page, artifacts, "04b-guest-mfa-enrolment")
                here = pyotp.TOTP(page.locator("#totp-secret").inner_text().replace(" ", ""))
                page.get_by_role("textbox", name="Code").fill(here.now())
                page.get_by_role("button", name="Verify").click()
                assert len(page.locator("#recovery-codes code").all_inner_texts()) == 10
                _shot(page, artifacts, "04c-guest-recovery-codes")
                page.get_by_role("link", name="Continue").click()
            page.wait_for_url(re.compile(rf".*/{resource.tenant_id}/redeem/consent$"))
            _shot(page, artifacts, "05-review-permissions")
            page.get_by_role("button", name="Accept", exact=True).click()
            page.wait_for_url(welcome)
            _shot(page, artifacts, "06-landed")
            user = _state(loop, sdk, invitation.invited_user.id)
            assert user.external_user_state == "Accepted"
            assert any(i.issuer == "ExternalAzureAD" for i in user.identities)
    finally:
        loop.close()


def test_unsubscribe_portal_and_block_page_in_french(
    page: Any, live: LiveServer, mail_sink: MailSink, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")
    address = f"bob-{uuid.uuid4().hex[:6]}@partner.example"
    loop = _Loop()
    try:
        _invite(loop, live, boot, address, "https://apps.example.com/")
    finally:
        loop.close()
    mail = mail_sink.wait_for_rcpt(address, subject="invited you", timeout=15)
    block = str(mail.message["List-Unsubscribe"]).strip("<>")
    page.goto(block + "&lang=fr")
    assert page.locator("h1").inner_text() == "Bloquer les futures invitations"
    _shot(page, artifacts, "01-block-confirm-fr")
    page.get_by_role("button", name="Bloquer les futures invitations").click()
    assert page.locator("h1").inner_text() == "Invitations bloquées"
    _shot(page, artifacts, "02-blocked-fr")
    page.get_by_role("link", name="Gérer les organisations que vous avez bloquées").click()
    _shot(page, artifacts, "03-unsubscribe-fr")
    page.get_by_label("Votre adresse e-mail").fill(address)
    page.get_by_role("button", name="Envoyer le code").click()
    code_mail = mail_sink.wait_for_rcpt(address, subject="Hospes", timeout=15)
    code = _CODE.search(code_mail.part("plain"))
    assert code
    page.get_by_role("textbox", name="Code").fill(code.group(1))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/unsubscribe/manage$"))
    assert "Contoso" in page.locator("#blocked").inner_text()
    assert "Contoso" in page.locator("#export").input_value()
    _shot(page, artifacts, "04-blocked-list-fr")
    page.set_viewport_size({"width": 375, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    _shot(page, artifacts, "04b-blocked-list-fr-phone")
    page.set_viewport_size({"width": 1100, "height": 800})
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le CSV").click()
    assert "Contoso" in Path(download.value.path()).read_text()
    page.get_by_role("button", name="Autoriser les invitations de Contoso").click()
    assert page.locator("#none-blocked").is_visible()
    _shot(page, artifacts, "05-unblocked-fr")
