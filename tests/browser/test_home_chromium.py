"""The front door in headless Chromium: a domain leads to that organization's sign-in, is remembered on the next
visit, an unknown one is said on the page, and the page fits a 375 px phone."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import create_tenant
from tests.helpers.live import LiveServer

pytestmark = pytest.mark.live


def test_home_finds_and_remembers_the_organization(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    domain = f"fabrikam-{uuid.uuid4().hex[:8]}.example"
    create_tenant(sessions, "Fabrikam", domain)
    base = web_server.base_url

    page.goto(f"{base}/admin")  # /admin leads to the front door too
    assert page.url == f"{base}/"
    assert page.get_by_role("heading", name="Sign in to your organization").is_visible()
    assert page.get_by_role("link", name="API documentation").get_attribute("href") == "/docs"
    page.screenshot(path=str(artifacts / "01-home.png"), full_page=True)

    page.get_by_label("Organization domain").fill("nowhere.example")
    page.get_by_role("button", name="Continue").click()
    assert "No organization uses the domain nowhere.example" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Organization domain").input_value() == "nowhere.example"
    page.screenshot(path=str(artifacts / "02-unknown.png"), full_page=True)

    page.get_by_label("Organization domain").fill(domain.upper())
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/{re.escape(domain)}/login\?next=.*"))
    assert page.get_by_role("heading", name="Sign in").is_visible()
    assert "Fabrikam" in page.inner_text("main")

    page.goto(f"{base}/")  # the next visit remembers the organization
    assert page.get_by_label("Organization domain").input_value() == domain
    assert page.get_by_role("link", name="My Apps").get_attribute("href") == f"/{domain}/myapps"
    page.get_by_role("link", name="Continue to Fabrikam").click()
    page.wait_for_url(re.compile(rf".*/{re.escape(domain)}/login\?next=.*"))

    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{base}/")
    page.screenshot(path=str(artifacts / "03-home-375.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    box = page.get_by_role("button", name="Continue").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
