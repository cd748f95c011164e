"""A guest's own pages in headless Chromium, after redeeming an invitation with an email passcode against a live
server: sign-out lands on the guest sign-in, the pages speak the invitation's language until the guest picks
another, and the guest can leave the organization when its settings allow it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.changes import ChangeType
from hospes.domain.principals import system_principal
from hospes.services.guest_policy import GuestPolicyService
from hospes.services.tenants import TenantBootstrap, create_tenant
from hospes.storage.tables import AuditLog, ChangeLog, User
from tests.helpers.live import LiveServer
from tests.helpers.mail import MailSink
from tests.helpers.tenants import fetch_token

pytestmark = pytest.mark.live
_LINK = re.compile(r"(http://127\.0\.0\.1:\d+/redeem\?[^\s<>\"]+)")
_CODE = re.compile(r"^\s+(\d{8})\s*$", re.M)


def _invite(server: LiveServer, boot: TenantBootstrap, address: str, language: str | None = None) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        token = fetch_token(client, boot.domain, boot.client_id, boot.client_secret)
    body: dict[str, Any] = {
        "invitedUserEmailAddress": address,
        "inviteRedirectUrl": f"{server.base_url}/{boot.domain}/myapps",
        "sendInvitationMessage": True,
    }
    if language:
        body["invitedUserMessageInfo"] = {"messageLanguage": language}
    response = httpx.post(f"{server.graph_url}/invitations", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text


def _redeem(page: Any, sink: MailSink, address: str, check: Any = None) -> None:
    """Open the invitation link, prove the address with the emailed code, accept: the guest lands on My Apps.
    ``check(page)`` runs on each page of the way."""
    link = _LINK.search(sink.wait_for_rcpt(address, 1, timeout=15).part("plain"))
    assert link
    page.goto(link.group(1))
    check and check(page)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/redeem/signin$"))
    check and check(page)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/redeem/code\?sent=sent$"))
    check and check(page)
    code = _CODE.search(sink.wait_for_rcpt(address, 2, timeout=15).part("plain"))
    assert code
    page.locator("input[name=code]").fill(code.group(1))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/redeem/consent$"))
    check and check(page)
    page.locator("main button[value=accept]").click()
    page.wait_for_url(re.compile(r".*/myapps$"))


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_a_guest_who_signs_out_lands_on_the_guest_sign_in(
    page: Any, live: LiveServer, mail_sink: MailSink, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")
    address = f"ines-{uuid.uuid4().hex[:6]}@partner.example"
    _invite(live, boot, address)
    _redeem(page, mail_sink, address)
    assert page.locator("h1").inner_text() == "My Apps"
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    page.wait_for_url(re.compile(rf".*/{re.escape(boot.domain)}/guest\?.*"))
    _shot(page, artifacts, "01-signed-out")
    assert page.get_by_role("status").inner_text() == "You have signed out."
    assert page.get_by_label("Your email address").is_visible()
    assert page.locator("input[type=password]").count() == 0
    # Signing in again from there goes through the email code and back to My Apps.
    page.get_by_label("Your email address").fill(address)
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r".*/redeem/signin$"))


def test_a_guest_invited_in_french_gets_french_pages_until_choosing_another_language(
    page: Any, live: LiveServer, mail_sink: MailSink, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")
    address = f"chloe-{uuid.uuid4().hex[:6]}@partner.example"
    _invite(live, boot, address, "fr-FR")
    seen: list[str] = []

    def french(current: Any) -> None:
        seen.append(current.url)
        assert current.locator("html").get_attribute("lang") == "fr", current.url
        _shot(current, artifacts, f"{len(seen):02d}-fr")

    # The browser asks for English (the context's locale) and the tenant's language is English.
    _redeem(page, mail_sink, address, french)
    assert page.locator("h1").inner_text() == "Mes applications"
    assert len(seen) == 4
    page.goto(f"{live.base_url}/{boot.domain}/me")
    assert page.locator("html").get_attribute("lang") == "fr"
    # The guest's own choice wins, and is kept.
    page.goto(f"{live.base_url}/{boot.domain}/myapps?lang=de")
    assert page.locator("h1").inner_text() != "Mes applications"
    assert page.locator("html").get_attribute("lang") == "de"
    page.goto(f"{live.base_url}/{boot.domain}/myapps")
    assert page.locator("html").get_attribute("lang") == "de"
    _shot(page, artifacts, "05-chose-german")


def _guest(sessions: sessionmaker[Session], tenant_id: str, address: str) -> User:
    with sessions() as session:
        user = session.scalar(select(User).where(User.tenant_id == tenant_id, User.mail == address))
        assert user is not None
        return user


def test_a_guest_leaves_the_organization_after_confirming(
    page: Any, live: LiveServer, mail_sink: MailSink, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")
    address = f"leo-{uuid.uuid4().hex[:6]}@partner.example"
    _invite(live, boot, address)
    _redeem(page, mail_sink, address)
    page.goto(f"{live.base_url}/{boot.domain}/me")
    section = page.locator("#leave")
    assert "lose access" in section.inner_text()
    _shot(page, artifacts, "01-account")
    section.get_by_role("link", name="Leave organization").click()
    page.wait_for_url(re.compile(r".*/me/leave$"))
    assert page.locator("h1").inner_text() == "Leave Contoso?"
    assert "Your guest account is deleted" in page.locator("#leave-means").inner_text()
    _shot(page, artifacts, "02-confirm")
    # Nothing happens before the confirmation's POST.
    assert _guest(sessions, boot.tenant_id, address).deleted_at is None
    page.get_by_role("button", name="Leave organization").click()
    page.wait_for_url(re.compile(r".*/me/left$"))
    assert page.locator("h1").inner_text() == "You left Contoso"
    _shot(page, artifacts, "03-left")
    guest = _guest(sessions, boot.tenant_id, address)
    assert guest.deleted_at is not None
    with sessions() as session:
        audit = session.scalars(
            select(AuditLog).where(AuditLog.tenant_id == boot.tenant_id, AuditLog.target_id == guest.id)
        ).all()
        assert [(a.activity, a.actor_id) for a in audit if a.activity == "Leave organization"] == [
            ("Leave organization", guest.id)
        ]
        changes = session.scalars(select(ChangeLog).where(ChangeLog.object_id == guest.id)).all()
        assert any(c.change_type == ChangeType.DELETED for c in changes)
    # Signed out: My Apps asks for the guest sign-in again.
    page.goto(f"{live.base_url}/{boot.domain}/myapps")
    page.wait_for_url(re.compile(r".*/guest\?.*"))


def test_a_tenant_can_keep_guests_from_leaving(
    page: Any, live: LiveServer, mail_sink: MailSink, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")
    GuestPolicyService(sessions, system_principal(boot.tenant_id)).update(allow_guests_to_leave=False)
    address = f"mia-{uuid.uuid4().hex[:6]}@partner.example"
    _invite(live, boot, address)
    _redeem(page, mail_sink, address)
    page.goto(f"{live.base_url}/{boot.domain}/me")
    assert "does not let guests leave" in page.locator("#leave").inner_text()
    assert page.get_by_role("link", name="Leave organization").count() == 0
    _shot(page, artifacts, "01-account")
    page.goto(f"{live.base_url}/{boot.domain}/me/leave")
    assert page.get_by_role("button", name="Leave organization").count() == 0
    # A forged POST (the form of the confirmation page, replayed) is refused too.
    response = page.request.post(
        f"{live.base_url}/{boot.domain}/me/leave",
        form={"csrf": page.evaluate("document.querySelector('input[name=csrf]').value")},
        headers={"Origin": live.base_url},
    )
    assert response.status == 403
    assert _guest(sessions, boot.tenant_id, address).deleted_at is None
