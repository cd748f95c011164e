"""Guest access in headless Chromium against a real server: an administrator restricts guests and keeps them from
leaving on the external collaboration settings page; a guest who owns a group then finds nobody with the member
picker and cannot leave; with limited access the guest finds a person by their whole address only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.delegation import GUESTS_LIMITED, GUESTS_RESTRICTED
from hospes.domain.principals import system_principal
from hospes.services.b2b_policy import PolicyService
from hospes.services.groups import GroupService
from tests.helpers.browser_portal import shot, sign_in, tenant, user
from tests.helpers.live import LiveServer
from tests.helpers.tenants import PASSWORD

pytestmark = pytest.mark.live


def test_guest_access_and_leaving_set_on_the_page_and_obeyed(
    browser: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = tenant(sessions)
    base = f"{web_server.base_url}/{boot.domain}"
    owner = user(sessions, boot, "gina", "Gina Guest", user_type="Guest", mail="gina@partner.example")
    user(sessions, boot, "walter", "Walter Guest", user_type="Guest", mail="walter@partner.example")
    group = GroupService(sessions, system_principal(boot.tenant_id)).create(
        {"display_name": "Partners", "mail_nickname": "partners", "mail_enabled": False, "security_enabled": True},
        [],
        [owner],
    )
    admin = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US").new_page()
    sign_in(admin, base, boot.admin_user_principal_name)
    admin.goto(f"{base}/admin/settings/collaboration")
    admin.get_by_label(re.compile("^Guest user access is restricted")).check()
    admin.get_by_label("Allow external users to remove themselves from your organization").uncheck()
    admin.get_by_role("button", name="Save").click()
    assert "Settings saved." in admin.inner_text("#saved")
    assert admin.get_by_label(re.compile("^Guest user access is restricted")).is_checked()
    shot(admin, artifacts, "01-settings")
    policies = PolicyService(sessions, system_principal(boot.tenant_id))
    assert policies.authorization_policy()["guestUserRoleId"] == GUESTS_RESTRICTED

    guest = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US").new_page()
    sign_in(guest, base, f"gina@{boot.domain}", PASSWORD)
    guest.goto(f"{base}/me")
    assert "does not let guests leave" in guest.locator("#leave").inner_text()
    guest.goto(f"{base}/admin/groups/{group.id}")
    guest.get_by_label("Add a guest").press_sequentially("walter@partner.example", delay=20)
    guest.wait_for_timeout(700)
    assert guest.get_by_role("option").count() == 0
    guest.locator("form[action$='/members/add']").get_by_role("button", name="Add").click()
    assert "can't look up other users" in guest.locator("#e-member").inner_text()
    shot(guest, artifacts, "02-restricted-guest")

    admin.get_by_label(re.compile("^Guest users have limited access")).check()
    admin.get_by_role("button", name="Save").click()
    assert policies.authorization_policy()["guestUserRoleId"] == GUESTS_LIMITED
    guest.goto(f"{base}/admin/groups/{group.id}")
    box = guest.get_by_label("Add a guest")
    box.press_sequentially("walt", delay=20)
    guest.wait_for_timeout(700)
    assert guest.get_by_role("option").count() == 0  # no browsing the directory by a part of a name
    box.fill("")
    box.press_sequentially("walter@partner.example", delay=20)
    guest.get_by_role("option", name=re.compile("Walter Guest")).click()
    guest.locator("form[action$='/members/add']").get_by_role("button", name="Add").click()
    guest.wait_for_url(re.compile(r".*\?done=added$"))
    assert "Walter Guest" in guest.inner_text("#members")
    shot(guest, artifacts, "03-limited-guest")
