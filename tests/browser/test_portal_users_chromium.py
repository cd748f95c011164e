"""The Users screen in headless Chromium against a real server: edit a user's properties (errors under their
fields, then saved), add a sponsor through the search-as-you-type picker, convert a guest to a member, assign and
remove a directory role, sort the list, download it, and delete then permanently delete users chosen in the list,
each through its confirmation page; French statuses and the language switch. Screenshots at 1100 px and 375 px go
to ``artifacts/browser/<test>/``."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.user_export import COLUMNS
from tests.helpers.browser_portal import shot as _shot
from tests.helpers.browser_portal import sign_in as _sign_in
from tests.helpers.browser_portal import tenant as _tenant
from tests.helpers.browser_portal import user as _user
from tests.helpers.live import LiveServer

pytestmark = pytest.mark.live


def test_edit_sponsor_and_convert_a_user(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{web_server.base_url}/{boot.domain}"
    user_id = _user(sessions, boot, "lena", "Lena Guest", user_type="Guest", creation_type="Invitation")
    _user(sessions, boot, "marta", "Marta Bianchi")
    _sign_in(page, base, boot.admin_user_principal_name)

    page.goto(f"{base}/admin/users/{user_id}")
    page.get_by_role("link", name="Edit properties").click()
    page.wait_for_url(f"{base}/admin/users/{user_id}/edit")
    page.locator("#f-display_name").fill("")
    page.get_by_label("Job title").fill("x" * 200)
    page.get_by_role("button", name="Save").click()
    assert page.locator("#e-display_name").inner_text() == "Enter a name."
    assert page.locator("#e-job_title").inner_text() == "This is too long: at most 128 characters."
    assert page.get_by_label("Job title").input_value() == "x" * 200  # what was typed is kept
    _shot(page, artifacts, "01-edit-errors")
    page.locator("#f-display_name").fill("Lena Rossi")
    page.get_by_label("Job title").fill("Auditor")
    page.get_by_label("Company name").fill("Fabrikam")
    page.get_by_label("Usage location").select_option(label="France")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/admin/users/{user_id}?done=saved")
    assert "The changes were saved." in page.inner_text("#notice")
    assert page.inner_text("#usage-location") == "France"
    assert "Auditor" in page.inner_text("#properties") and "Fabrikam" in page.inner_text("#properties")

    box = page.get_by_label("Add a sponsor")
    box.press_sequentially("bian", delay=30)
    option = page.get_by_role("option", name=re.compile("Marta Bianchi"))
    option.wait_for()
    _shot(page, artifacts, "02-sponsor-picker")
    option.click()
    assert box.input_value() == f"marta@{boot.domain}"
    page.locator("#sponsors").get_by_role("button", name="Add").click()
    page.wait_for_url(f"{base}/admin/users/{user_id}?done=sponsor-added")
    assert "Marta Bianchi" in page.inner_text("#sponsor-list")

    page.get_by_role("button", name="Convert to member").click()
    page.wait_for_url(f"{base}/admin/users/{user_id}/convert")
    _shot(page, artifacts, "03-convert-confirm")
    page.get_by_role("button", name="Convert this guest to a member?").click()
    page.wait_for_url(f"{base}/admin/users/{user_id}?done=to-member")
    assert "now a member" in page.inner_text("#notice")
    assert "Convert to guest" in page.inner_text(".actions-panel")

    page.get_by_label("Assign a role").select_option(label="Guest Inviter")
    page.get_by_role("button", name="Assign", exact=True).click()
    page.wait_for_url(f"{base}/admin/users/{user_id}?done=role-added")
    assert "Guest Inviter" in page.inner_text("#role-list")
    page.locator("#role-list").get_by_role("button", name="Remove Guest Inviter").click()
    page.wait_for_url(f"{base}/admin/users/{user_id}?done=role-removed")
    assert "No directory roles." in page.inner_text("#roles")

    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    _shot(page, artifacts, "04-user-375")


def test_sort_download_and_delete_chosen_users(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{web_server.base_url}/{boot.domain}"
    for nick in ("alba", "bruno", "carlo"):
        _user(sessions, boot, nick, f"{nick.title()} Listed", job_title="Tester")
    _sign_in(page, base, boot.admin_user_principal_name)
    page.goto(f"{base}/admin/users?q=Listed")

    def first_name() -> str:
        return str(page.locator("#users tbody tr td:nth-child(2)").first.inner_text())

    assert first_name() == "Alba Listed"
    page.locator("#sort-name").click()  # already ascending: the click sorts descending
    page.wait_for_url(re.compile(r".*sort=name&dir=desc.*"))
    assert first_name() == "Carlo Listed"
    assert page.locator("th[aria-sort=descending]").count() == 1
    _shot(page, artifacts, "01-sorted")

    page.locator("#column-choice summary").click()
    page.get_by_label("Job title").check()
    page.get_by_label("Created").uncheck()
    page.locator("#column-choice").get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*cols=.*"))
    assert "Job title" in page.inner_text("#users thead") and "Created" not in page.inner_text("#users thead")
    assert "Tester" in page.inner_text("#users tbody")
    page.locator("#sort-name").click()  # the chosen columns stay
    assert "Job title" in page.inner_text("#users thead")
    _shot(page, artifacts, "01b-columns")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download users").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 4
    assert {r[1] for r in rows[1:]} == {"Alba Listed", "Bruno Listed", "Carlo Listed"}

    page.get_by_label("Select Alba Listed").check()
    page.get_by_label("Select Bruno Listed").check()
    page.get_by_role("button", name="Delete", exact=True).click()
    assert page.locator("#chosen-users").inner_text().count("Listed") == 2
    _shot(page, artifacts, "02-confirm-delete")
    page.get_by_role("button", name="Delete these users?").click()
    assert "Deleted: 2." in page.inner_text("#notice")
    listed = page.inner_text("#users")
    assert "Carlo Listed" in listed and "Alba Listed" not in listed and "Bruno Listed" not in listed

    page.goto(f"{base}/admin/users?filter=deleted")
    page.get_by_label("Select all users on this page").check()
    assert page.get_by_label("Select Bruno Listed").is_checked()
    page.get_by_label("Select all users on this page").uncheck()
    page.get_by_label("Select Alba Listed").check()
    page.get_by_role("button", name="Delete permanently").click()
    page.get_by_role("button", name="Delete these users permanently?").click()
    assert "Deleted permanently: 1." in page.inner_text("#notice")
    assert "Alba Listed" not in page.inner_text("#users") and "Bruno Listed" in page.inner_text("#users")
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    _shot(page, artifacts, "03-deleted-375")


def test_french_statuses_and_the_language_switch(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = _tenant(sessions)
    base = f"{web_server.base_url}/{boot.domain}"
    _sign_in(page, base, boot.admin_user_principal_name)
    page.goto(f"{base}/admin/users/invite?lang=fr")
    page.locator("#f-email").fill("francoise@partner.example")
    page.locator("#f-send").uncheck()
    page.get_by_role("button", name="Inviter", exact=True).click()
    page.get_by_role("link", name="Ouvrir l’utilisateur").click()
    history = page.inner_text("#invitation-history")
    assert "Acceptation en attente" in history and "Aucun e-mail demandé" in history
    main = page.inner_text("main")
    for code in ("PendingAcceptance", "NotRequested", "Completed"):
        assert code not in main
    _shot(page, artifacts, "01-french-user")
    page.goto(f"{base}/admin/users?filter=guests&q=francoise")
    page.get_by_role("link", name="Deutsch").click()
    page.wait_for_url(re.compile(r".*/admin/users\?filter=guests&q=francoise&lang=de$"))
    assert page.locator("#filter").input_value() == "guests" and "francoise" in page.inner_text("#users")
    assert page.inner_text("h1") == "Benutzer"
