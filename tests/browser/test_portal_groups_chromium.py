"""The Groups screen in headless Chromium against a real server: create a Microsoft 365 group, add a member and an
owner through the search-as-you-type pickers, edit its properties, delete it through its confirmation page.
Screenshots at 1100 px and 375 px go to ``artifacts/browser/<test>/``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.helpers.browser_portal import shot as _shot
from tests.helpers.browser_portal import sign_in as _sign_in
from tests.helpers.browser_portal import tenant as _tenant
from tests.helpers.browser_portal import user as _user
from tests.helpers.live import LiveServer

pytestmark = pytest.mark.live


def _pick(page: Any, label: str, typed: str, option: str) -> None:
    box = page.get_by_label(label)
    box.press_sequentially(typed, delay=30)
    choice = page.get_by_role("option", name=re.compile(option))
    choice.wait_for()
    choice.click()


def test_create_pick_edit_and_delete_a_group(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{web_server.base_url}/{boot.domain}"
    _user(sessions, boot, "paola", "Paola Neri")
    _user(sessions, boot, "piero", "Piero Neri")
    _sign_in(page, base, boot.admin_user_principal_name)

    page.goto(f"{base}/admin/groups/new")
    page.locator("#f-name").fill("Project Heron")
    page.get_by_label(re.compile("^Microsoft 365")).check()
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r".*/admin/groups/[0-9a-f-]+\?done=created$"))
    group_url = page.url.split("?")[0]
    assert page.inner_text("#group-type").startswith("Microsoft 365")

    _pick(page, "Add a member", "paol", "Paola Neri")
    assert page.get_by_label("Add a member").input_value() == f"paola@{boot.domain}"
    _shot(page, artifacts, "01-member-picked")
    page.get_by_label("Add a member").press("Enter")
    page.wait_for_url(f"{group_url}?done=added")
    assert "Paola Neri" in page.inner_text("#members")
    _pick(page, "Add an owner", "pier", "Piero Neri")
    page.locator("form[action$='/owners/add']").get_by_role("button", name="Add").click()
    page.wait_for_url(f"{group_url}?done=added")
    assert "Piero Neri" in page.inner_text("#owners")

    page.get_by_role("link", name="Edit properties").click()
    page.locator("#f-name").fill("")
    page.get_by_role("button", name="Save").click()
    assert page.locator("#e-name").inner_text() == "Enter a name."
    page.locator("#f-name").fill("Project Heron 2")
    page.get_by_label("Description").fill("Wetlands survey")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{group_url}?done=saved")
    assert page.inner_text("h1") == "Project Heron 2"
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    _shot(page, artifacts, "02-group-375")
    page.set_viewport_size({"width": 1100, "height": 800})

    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{group_url}/delete")
    _shot(page, artifacts, "03-confirm-delete")
    page.get_by_role("button", name="Delete this group?").click()
    page.wait_for_url(f"{base}/admin/groups?done=deleted")
    assert "The group was deleted." in page.inner_text("#notice")
    assert "Project Heron" not in page.inner_text("#groups")
