"""An app's logo in headless Chromium: uploaded on the enterprise app's Properties page (a wrong file refused in
words first), then drawn on the member's My Apps tile — an image the browser really loaded under the page's CSP.
Screenshots go to ``artifacts/browser/<test>/``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import system_principal
from hospes.services.apps import AppService
from hospes.services.tenants import create_tenant
from hospes.services.users import UserService
from tests.helpers.images import png
from tests.helpers.live import LiveServer
from tests.helpers.tenants import ADMIN_PASSWORD, PASSWORD

pytestmark = pytest.mark.live


def test_logo_uploaded_in_the_portal_shows_on_my_apps(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path, tmp_path: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD)
    base = f"{web_server.base_url}/{boot.domain}"
    apps = AppService(sessions, system_principal(boot.tenant_id))
    sp = apps.create_enterprise_app("Wiki", ["User"])
    apps.update_sp(sp.id, {"login_url": "https://wiki.example/"})
    member_upn = f"mia@{boot.domain}"
    member = UserService(sessions, system_principal(boot.tenant_id)).create(
        {"account_enabled": True, "display_name": "Mia", "mail_nickname": "mia", "user_principal_name": member_upn},
        PASSWORD,
    )
    apps.assign(member.id, sp.id, "00000000-0000-0000-0000-000000000000")
    not_an_image = tmp_path / "logo.svg"
    not_an_image.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    logo = tmp_path / "logo.png"
    logo.write_bytes(png(64, 64, (200, 30, 30)))

    page.goto(f"{base}/login?next=/{boot.domain}/admin/apps/{sp.id}")
    page.get_by_label("Sign-in name").fill(boot.admin_user_principal_name)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/apps/{sp.id}")
    page.get_by_label("Upload a new logo").set_input_files(str(not_an_image))
    page.get_by_role("button", name="Upload logo").click()
    assert page.locator("#e-logo").inner_text() == "This isn't a PNG, JPEG or GIF image."
    page.get_by_label("Upload a new logo").set_input_files(str(logo))
    page.get_by_role("button", name="Upload logo").click()
    page.wait_for_url(f"{base}/admin/apps/{sp.id}?done=logo")
    assert page.evaluate("document.getElementById('app-logo').naturalWidth") == 64
    page.screenshot(path=str(artifacts / "01-properties-logo.png"), full_page=True)

    member_page = page.context.browser.new_context(viewport={"width": 375, "height": 800}, locale="en-US").new_page()
    member_page.goto(f"{base}/login?next=/{boot.domain}/myapps")
    member_page.get_by_label("Sign-in name").fill(member_upn)
    member_page.get_by_label("Password").fill(PASSWORD)
    member_page.get_by_role("button", name="Sign in").click()
    member_page.wait_for_url(f"{base}/myapps")
    tile = member_page.locator("#apps img.app-logo")
    tile.wait_for()
    member_page.wait_for_function("document.querySelector('#apps img.app-logo').complete")
    assert member_page.evaluate("document.querySelector('#apps img.app-logo').naturalWidth") == 64
    assert "Wiki" in member_page.inner_text("#apps")
    member_page.screenshot(path=str(artifacts / "02-my-apps-logo-375.png"), full_page=True)
    member_page.context.close()
