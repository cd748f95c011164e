"""The people search (the tenant's global address list) in headless Chromium: a member opens it from My Apps,
searches by job title, and sees members and shown guests but never a hidden guest or another tenant's people;
at a phone's width the cards stack. Screenshots go to ``artifacts/browser/<test>/``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import system_principal
from hospes.services.tenants import create_tenant
from hospes.services.users import UserService
from tests.helpers.live import LiveServer
from tests.helpers.tenants import PASSWORD

pytestmark = pytest.mark.live


def _user(sessions: sessionmaker[Session], tenant_id: str, domain: str, nick: str, **values: Any) -> None:
    UserService(sessions, system_principal(tenant_id)).create(
        {
            "account_enabled": True,
            "display_name": nick.title(),
            "mail_nickname": nick,
            "user_principal_name": f"{nick}@{domain}",
            "mail": f"{nick}@{domain}",
            **values,
        },
        PASSWORD,
    )


def test_a_member_finds_people_from_my_apps(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")
    other = create_tenant(sessions, "Tailspin", f"tailspin-{uuid.uuid4().hex[:8]}.example")
    _user(sessions, boot.tenant_id, boot.domain, "mia", job_title="Engineer", department="Platform")
    _user(sessions, boot.tenant_id, boot.domain, "noah", job_title="Engineer", department="Sales")
    _user(sessions, boot.tenant_id, boot.domain, "gina", job_title="Engineer", user_type="Guest")
    _user(
        sessions, boot.tenant_id, boot.domain, "vic", job_title="Engineer", user_type="Guest", show_in_address_list=True
    )
    _user(sessions, other.tenant_id, other.domain, "tom", job_title="Engineer")
    base = f"{web_server.base_url}/{boot.domain}"

    page.goto(f"{base}/login?next=/{boot.domain}/myapps")
    page.get_by_label("Sign-in name").fill(f"mia@{boot.domain}")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/myapps")
    page.get_by_role("link", name="Find people").click()
    page.wait_for_url(f"{base}/myapps/people")
    page.get_by_label("Name, email, job title or department").fill("engineer")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"{base}/myapps/people?q=engineer")
    names = page.locator("#people .person-name").all_inner_texts()
    assert names == ["Mia", "Noah", "Vic"]  # never the hidden guest Gina, never Tailspin's Tom
    assert "Platform" in page.inner_text("#people") and f"noah@{boot.domain}" in page.inner_text("#people")
    page.screenshot(path=str(artifacts / "01-people.png"), full_page=True)

    page.set_viewport_size({"width": 375, "height": 800})
    page.get_by_label("Name, email, job title or department").fill("sales")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/myapps/people?q=sales")
    assert page.locator("#people .person-name").all_inner_texts() == ["Noah"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, width  # nothing wider than the phone
    page.screenshot(path=str(artifacts / "02-people-375.png"), full_page=True)
