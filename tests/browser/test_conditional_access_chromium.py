"""Conditional access end to end in headless Chromium against a live server: an administrator builds a policy on
the portal's editor that blocks guests; a guest redeeming an invitation is stopped with the reason and the code;
the same policy in report-only lets the guest in and leaves its result in the sign-in log; the what-if tool says
what the live sign-in did."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import create_tenant
from hospes.storage.tables_sso import SignIn
from tests.browser.test_guest_chromium import _CODE, _LINK, _invite
from tests.helpers.live import LiveServer
from tests.helpers.mail import MailSink
from tests.helpers.tenants import ADMIN_PASSWORD

pytestmark = pytest.mark.live


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _guest_signs_in(page: Any, sink: MailSink, address: str, mails_before: int) -> None:
    """Open the invitation link and prove the address with the emailed code (the ``mails_before + 1``-th mail)."""
    link = _LINK.search(sink.wait_for_rcpt(address, 1, timeout=15).part("plain"))
    assert link
    page.goto(link.group(1))
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/redeem/signin$"))
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/redeem/code\?sent=sent$"))
    code = _CODE.search(sink.wait_for_rcpt(address, mails_before + 1, timeout=15).part("plain"))
    assert code
    page.locator("input[name=code]").fill(code.group(1))
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/redeem/code" not in url)


def test_a_portal_policy_blocks_a_guest_then_reports_only(
    browser: Any, live: LiveServer, mail_sink: MailSink, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD)
    base = f"{live.base_url}/{boot.domain}"
    admin = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US").new_page()
    admin.goto(f"{base}/login?next=/{boot.domain}/admin")
    admin.get_by_label("Sign-in name").fill(boot.admin_user_principal_name)
    admin.get_by_label("Password").fill(ADMIN_PASSWORD)
    admin.get_by_role("button", name="Sign in").click()
    admin.wait_for_url(f"{base}/admin")

    # The administrator builds the policy on the editor.
    admin.get_by_role("link", name="Conditional access").first.click()
    admin.locator("#new-policy").click()
    admin.wait_for_url(re.compile(r".*/policies/new$"))
    admin.locator("#f-name").fill("Block guests")
    who = admin.locator("#include-who")
    who.get_by_label("Guest or external users").check()
    who.get_by_label("B2B collaboration guest users").check()
    admin.locator("#apps").get_by_label("All applications").check()
    admin.locator("#grant").get_by_label("Block access").check()
    admin.locator("#state").get_by_label("On", exact=True).check()
    _shot(admin, artifacts, "01-editor")
    admin.locator("#save-policy").click()
    admin.wait_for_url(re.compile(r".*/admin/conditional-access/policies/[0-9a-f-]{36}\?done=saved$"))
    assert admin.locator("#notice").inner_text() == "The policy was saved."

    # A guest redeeming the invitation is stopped, with the reason and the code.
    address = f"ines-{uuid.uuid4().hex[:6]}@partner.example"
    _invite(live, boot, address)
    guest = browser.new_context(viewport={"width": 800, "height": 800}, locale="en-US").new_page()
    _guest_signs_in(guest, mail_sink, address, 1)
    assert guest.locator("h1").inner_text() == "You can't continue"
    assert "AADSTS53003" in guest.locator("main").inner_text()
    _shot(guest, artifacts, "02-guest-blocked")

    # Report-only: the same guest gets in, and the log keeps what the policy would have done.
    admin.locator("#state").get_by_label("Report-only", exact=True).check()
    admin.locator("#save-policy").click()
    admin.wait_for_url(re.compile(r".*\?done=saved$"))
    guest.context.clear_cookies()
    _guest_signs_in(guest, mail_sink, address, 2)
    guest.wait_for_url(re.compile(r".*/redeem/consent$"))
    guest.locator("main button[value=accept]").click()
    guest.wait_for_url(re.compile(r".*/myapps$"))
    with sessions() as session:
        rows = list(session.scalars(select(SignIn).where(SignIn.tenant_id == boot.tenant_id)))
    guest_rows = sorted(
        (r for r in rows if r.user_principal_name and "ines-" in r.user_principal_name), key=lambda r: r.created_at
    )
    assert [r.error_code for r in guest_rows][:1] == [53003]
    last = guest_rows[-1]
    assert last.error_code == 0
    results = [p["result"] for p in last.details["appliedConditionalAccessPolicies"]]
    assert results == ["reportOnlyFailure"]

    admin.goto(f"{base}/admin/sign-ins")
    listing = admin.locator("#sign-ins").inner_text()
    assert "53003" in listing
    admin.locator("#sign-ins a").first.click()
    assert (
        "Report-only: failure" in admin.locator("#applied-policies").inner_text()
        or "reportOnlyFailure" in admin.locator("#applied-policies").inner_text()
    )

    # The what-if tool answers what the live sign-in did: the policy applies, report-only lets the guest in.
    admin.goto(f"{base}/admin/conditional-access/what-if")
    admin.get_by_label("User (sign-in name or email)").fill(address)
    admin.locator("#evaluate").click()
    admin.wait_for_url(re.compile(r".*/what-if\?.*"))
    assert admin.locator("#what-if-decision").inner_text() == "Allowed"
    assert "Yes" in admin.locator("#what-if-policies tbody tr").first.inner_text()
    _shot(admin, artifacts, "03-what-if")
