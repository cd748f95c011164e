"""Enterprise applications in headless Chromium against a real server.

* Single sign-on: assign a guest through the picker, choose SAML, fill the basic SAML configuration (an error under
  its field, then saved), create and download the signing certificate, change the signing option, read the NameID
  preview of a home-tenant guest and of a one-time-passcode guest; the page at phone width.
* Properties: an https error then saved, an app hidden from My Apps (the member's My Apps at 375 px shows only the
  visible one), delete through its confirmation page, and the registration that stays edited at 375 px.

Screenshots at 1100 px and 375 px go to ``artifacts/browser/<test>/``."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import system_principal
from hospes.services.apps import AppService
from hospes.services.tenants import TenantBootstrap, create_tenant
from hospes.services.users import UserService
from hospes.storage.tables import User
from tests.helpers.live import LiveServer
from tests.helpers.tenants import ADMIN_PASSWORD, PASSWORD

pytestmark = pytest.mark.live


def _tenant(sessions: sessionmaker[Session]) -> TenantBootstrap:
    return create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD)


def _guest(sessions: sessionmaker[Session], boot: TenantBootstrap, nickname: str, issuer: str) -> str:
    mail = f"{nickname}@partner.example"
    upn = f"{nickname}_partner.example#EXT#@{boot.domain}"
    values = {
        "account_enabled": True,
        "display_name": nickname.title(),
        "mail_nickname": nickname,
        "user_principal_name": upn,
        "mail": mail,
        "user_type": "Guest",
        "creation_type": "Invitation",
    }
    user_id = UserService(sessions, system_principal(boot.tenant_id)).create(values, PASSWORD).id
    with sessions.begin() as session:
        row = session.get(User, user_id)
        assert row is not None
        row.external_user_state = "Accepted"
        row.identities = [{"signInType": "federated", "issuer": issuer, "issuerAssignedId": mail}]
    return upn


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_single_sign_on_page_end_to_end(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{web_server.base_url}/{boot.domain}"
    sp = AppService(sessions, system_principal(boot.tenant_id)).create_enterprise_app("8x8 Work", ["User"])
    sp_id, app_id = sp.id, sp.app_id
    _guest(sessions, boot, "hana", "ExternalAzureAD")
    otp_upn = _guest(sessions, boot, "omar", "mail")

    page.goto(f"{base}/login?next=/{boot.domain}/admin")
    page.get_by_label("Sign-in name").fill(boot.admin_user_principal_name)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin")

    page.goto(f"{base}/admin/apps/{sp_id}")
    box = page.get_by_label("User or group")
    box.press_sequentially("han", delay=30)
    option = page.get_by_role("option", name=re.compile("Hana"))
    option.wait_for()
    option.click()
    page.get_by_role("button", name="Assign").click()
    page.wait_for_url(f"{base}/admin/apps/{sp_id}?done=assigned")
    assert "Hana" in page.inner_text("#assignments")
    page.locator("#open-sso").click()
    page.wait_for_url(f"{base}/admin/apps/{sp_id}/sso")
    page.get_by_label("SAML").check()
    page.locator("#sso-mode").get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/admin/apps/{sp_id}/sso?done=mode")
    assert "single sign-on mode was saved" in page.inner_text(".notice")

    page.get_by_label("Identifier (Entity ID)").fill("https://sso.8x8.example/saml2")
    page.get_by_label("Reply URL (Assertion Consumer Service URL)").fill("http://sso.8x8.example/acs")
    page.get_by_label("Relay State").fill("/dashboard")
    page.locator("#sso-basic").get_by_role("button", name="Save").click()
    assert "must use https" in page.locator("#e-reply_urls").inner_text()
    assert page.get_by_label("Relay State").input_value() == "/dashboard"  # what was typed is kept
    _shot(page, artifacts, "01-basic-error")
    page.get_by_label("Reply URL (Assertion Consumer Service URL)").fill("https://sso.8x8.example/acs")
    page.locator("#sso-basic").get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/admin/apps/{sp_id}/sso?done=basic")

    page.get_by_role("button", name="New certificate").click()
    page.wait_for_url(f"{base}/admin/apps/{sp_id}/sso?done=cert-new")
    assert "Active" in page.inner_text("#certificates")
    metadata_url = page.inner_text("#metadata-url")
    assert metadata_url.endswith(f"/{boot.tenant_id}/federationmetadata/2007-06/federationmetadata.xml?appid={app_id}")
    with page.expect_download() as caught:
        page.get_by_role("link", name="Certificate (Base64)").click()
    download = caught.value
    certificate = x509.load_pem_x509_certificate(Path(download.path()).read_bytes())
    assert download.suggested_filename.endswith(".cer")
    assert "8x8 Work" in certificate.subject.rfc4514_string()

    page.get_by_label("Signing option").select_option(label="Sign SAML response and assertion")
    page.locator("#signing-options").get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/admin/apps/{sp_id}/sso?done=signing")
    assert page.get_by_label("Signing option").input_value() == "both"

    preview = page.inner_text("#nameid-preview")
    assert "hana@partner.example" in preview  # home-tenant guest: their mail
    assert otp_upn in preview  # one-time passcode guest: the #EXT# user name
    _shot(page, artifacts, "02-sso-saved")

    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    _shot(page, artifacts, "03-sso-375")


def test_enterprise_app_properties_my_apps_tiles_and_delete(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{web_server.base_url}/{boot.domain}"
    apps = AppService(sessions, system_principal(boot.tenant_id))
    shown = apps.create_enterprise_app("Wiki", ["User"])
    hidden = apps.create_enterprise_app("Payroll", ["User"])
    member_upn = f"mia@{boot.domain}"
    member = UserService(sessions, system_principal(boot.tenant_id)).create(
        {"account_enabled": True, "display_name": "Mia", "mail_nickname": "mia", "user_principal_name": member_upn},
        PASSWORD,
    )
    for sp in (shown, hidden):
        apps.assign(member.id, sp.id, "00000000-0000-0000-0000-000000000000")

    page.goto(f"{base}/login?next=/{boot.domain}/admin")
    page.get_by_label("Sign-in name").fill(boot.admin_user_principal_name)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin")
    for sp, url in ((shown, "https://wiki.example/"), (hidden, "https://payroll.example/")):
        page.goto(f"{base}/admin/apps/{sp.id}")
        page.get_by_label("Sign on URL").fill(url.replace("https", "http"))
        page.locator("#properties").get_by_role("button", name="Save").click()
        assert "must use https" in page.locator("#e-login_url").inner_text()
        page.get_by_label("Sign on URL").fill(url)
        if sp is hidden:
            page.get_by_label("Visible to users in My Apps").uncheck()
        page.locator("#properties").get_by_role("button", name="Save").click()
        page.wait_for_url(f"{base}/admin/apps/{sp.id}?done=saved")
    _shot(page, artifacts, "01-properties-saved")

    # The member's My Apps: the visible app only.
    member_page = page.context.browser.new_context(viewport={"width": 375, "height": 800}, locale="en-US").new_page()
    member_page.goto(f"{base}/login?next=/{boot.domain}/myapps")
    member_page.get_by_label("Sign-in name").fill(member_upn)
    member_page.get_by_label("Password").fill(PASSWORD)
    member_page.get_by_role("button", name="Sign in").click()
    member_page.wait_for_url(f"{base}/myapps")
    tiles = member_page.inner_text("#apps")
    assert "Wiki" in tiles and "Payroll" not in tiles
    _shot(member_page, artifacts, "02-my-apps-375")
    member_page.context.close()

    page.goto(f"{base}/admin/apps/{hidden.id}")
    page.locator("#delete-app").click()
    page.wait_for_url(f"{base}/admin/apps/{hidden.id}/delete")
    _shot(page, artifacts, "03-delete-confirm")
    page.locator("#confirm-button").click()
    page.wait_for_url(f"{base}/admin/apps?done=deleted")
    assert "Payroll" not in page.inner_text("#apps") and "Wiki" in page.inner_text("#apps")

    # The app registration stays; its Authentication at phone width.
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{base}/admin/registrations")
    page.get_by_role("link", name="Payroll").click()
    page.get_by_label("Web: redirect URIs").fill("https://payroll.example/signin-oidc")
    page.locator("#authentication").get_by_role("button", name="Save").click()
    assert "authentication settings were saved" in page.inner_text(".notice")
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    _shot(page, artifacts, "04-registration-375")
