"""The rule editor in headless Chromium: live validation puts the error and a caret under its position as the
administrator types, "Validate against these users" says who matches and why, saving makes the group dynamic and,
once processed, the page says the update is complete. Screenshots at desktop and phone width."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import system_principal
from hospes.services.dynamic_processing import MembershipProcessor
from hospes.services.groups import GroupService
from hospes.services.tenants import create_tenant
from hospes.services.users import UserService
from tests.helpers.live import LiveServer
from tests.helpers.tenants import ADMIN_PASSWORD, PASSWORD

pytestmark = pytest.mark.live


def _user(sessions: sessionmaker[Session], tenant_id: str, domain: str, nick: str, department: str) -> str:
    values = {
        "account_enabled": True,
        "display_name": nick.title(),
        "mail_nickname": nick,
        "user_principal_name": f"{nick}@{domain}",
        "department": department,
    }
    return UserService(sessions, system_principal(tenant_id)).create(values, PASSWORD).id


def test_rule_editor_live_validation_preview_and_save(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD)
    ada = _user(sessions, boot.tenant_id, boot.domain, "ada", "Sales")
    _user(sessions, boot.tenant_id, boot.domain, "max", "Ops")
    group = GroupService(sessions, system_principal(boot.tenant_id)).create(
        {"display_name": "Sales", "mail_nickname": "sales", "mail_enabled": False, "security_enabled": True}, [], []
    )
    base = f"{web_server.base_url}/{boot.domain}"
    page.goto(f"{base}/login?next=/{boot.domain}/admin")
    page.get_by_label("Sign-in name").fill(boot.admin_user_principal_name)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin")

    page.goto(f"{base}/admin/groups/{group.id}")
    page.locator("#group-rule").click()
    page.wait_for_url(f"{base}/admin/groups/{group.id}/rule")
    page.locator("#f-rule").fill('user.department -eq "Sales" -and jobTitle -eq "x"')
    live = page.locator("#live-expression")
    live.locator("pre").wait_for()
    assert "Invalid object type. (position 34)" in live.inner_text()
    assert live.locator("pre").inner_text().endswith(" " * 33 + "^")
    page.screenshot(path=str(artifacts / "rule-error.png"), full_page=True)

    page.locator("#f-rule").fill('user.department -eq "sales"')
    page.wait_for_function("document.getElementById('live-expression').textContent.includes('valid')")
    page.locator("#f-users").fill(f"ada@{boot.domain}\nmax@{boot.domain}")
    page.locator("#preview-rule").click()
    rows = page.locator("#rule-results tbody tr")
    rows.first.wait_for()
    assert [rows.nth(i).locator(".result").inner_text() for i in range(2)] == ["Member", "Not a member"]
    assert "department = Sales" in rows.nth(0).inner_text()
    page.screenshot(path=str(artifacts / "rule-preview.png"), full_page=True)

    page.locator("#save-rule").click()
    page.wait_for_url(f"{base}/admin/groups/{group.id}/rule?done=saved")
    processor = MembershipProcessor(sessions, "browser-test")
    assert processor.claim(boot.tenant_id)
    processor.run_tenant(boot.tenant_id)
    processor.release()
    page.reload()
    assert page.locator("#rule-status").inner_text() == "Update complete"
    page.goto(f"{base}/admin/groups/{group.id}")
    assert ada in page.locator("#members").inner_html() or "Ada" in page.locator("#members").inner_text()
    page.goto(f"{base}/admin/groups/{group.id}/rule")
    page.screenshot(path=str(artifacts / "rule-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(artifacts / "rule-phone.png"), full_page=True)
