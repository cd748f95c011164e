"""End to end in headless Chromium: password sign-in, TOTP enrolment, sign-out, sign-in with the second factor,
a phone-width layout and the French page. Each step leaves a screenshot in the artifacts folder."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import create_tenant
from tests.helpers.live import LiveServer
from tests.helpers.tenants import ADMIN_PASSWORD

pytestmark = pytest.mark.live


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_password_totp_sign_in(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(
        sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD
    )
    base = f"{web_server.base_url}/{boot.domain}"

    page.goto(f"{base}/login")
    _shot(page, artifacts, "01-login")
    page.get_by_label("Sign-in name").fill(boot.admin_user_principal_name)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "The sign-in name or password is incorrect."
    _shot(page, artifacts, "02-login-failed")

    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.keyboard.press("Enter")  # keyboard only
    page.wait_for_url(f"{base}/me")
    assert "Contoso Administrator" in page.locator("h1").inner_text()
    _shot(page, artifacts, "03-me")

    page.get_by_role("link", name="Set up an authenticator app").click()
    page.wait_for_url(f"{base}/me/mfa")
    assert page.locator(".qr-box svg").is_visible()
    _shot(page, artifacts, "04-mfa-setup")
    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text().replace(" ", ""))
    page.get_by_role("textbox", name="Code").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z0-9]{5}-[a-z0-9]{5}", c) for c in codes)
    _shot(page, artifacts, "05-recovery-codes")

    page.get_by_role("link", name="Done").click()
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    page.wait_for_url(re.compile(r".*/login\?signed_out=1$"))
    assert "You have signed out." in page.inner_text("main")
    _shot(page, artifacts, "06-signed-out")

    page.get_by_label("Sign-in name").fill(boot.admin_user_principal_name)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/login/mfa")
    _shot(page, artifacts, "07-mfa-challenge")
    page.get_by_role("textbox", name="Code").fill(
        totp.at(time.time() + 30)
    )  # the enrolment code is spent: use the next one
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{base}/me")
    assert "password, authenticator app" in page.inner_text("main")
    assert "Two-step verification is on" in page.inner_text("#mfa-status")
    _shot(page, artifacts, "08-me-with-mfa")

    page.set_viewport_size({"width": 375, "height": 740})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, "no horizontal scrolling on a phone"
    _shot(page, artifacts, "09-me-phone")

    page.goto(f"{base}/me?lang=fr")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Se déconnecter partout" in page.inner_text("main")
    _shot(page, artifacts, "10-me-french")
