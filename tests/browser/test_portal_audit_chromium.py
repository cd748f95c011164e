"""The audit log screen in headless Chromium against a real server: block a user from the portal, find the entry
with the filters, open its detail (what changed, old → new), download the filtered log. Screenshots at 1100 px and
375 px go to ``artifacts/browser/<test>/``."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.audit_views import CSV_COLUMNS
from tests.helpers.browser_portal import shot, sign_in, tenant, user
from tests.helpers.live import LiveServer

pytestmark = pytest.mark.live


def test_filter_open_and_download_the_audit_log(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = tenant(sessions)
    base = f"{web_server.base_url}/{boot.domain}"
    user_id = user(sessions, boot, "sara", "Sara Blu")
    sign_in(page, base, boot.admin_user_principal_name)
    page.goto(f"{base}/admin/users/{user_id}")
    page.get_by_role("button", name="Block sign-in").click()
    page.get_by_role("button", name="Block sign-in?").click()
    page.wait_for_url(f"{base}/admin/users/{user_id}?done=blocked")

    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Audit logs").click()
    page.get_by_label("Activity").select_option("Disable account")
    page.get_by_label("Target").fill("sara")
    page.get_by_role("button", name="Apply").click()
    assert page.locator("#audit tbody tr").count() == 1
    shot(page, artifacts, "01-filtered")
    page.get_by_role("link", name="Disable account").click()
    changes = page.inner_text("#changes")
    assert "accountEnabled" in changes and "true" in changes and "false" in changes
    assert "Contoso Administrator" in page.inner_text("#entry-actor")
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    shot(page, artifacts, "02-entry-375")
    page.go_back()
    page.set_viewport_size({"width": 1100, "height": 800})
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS and [r[4] for r in rows[1:]] == ["Disable account"]
