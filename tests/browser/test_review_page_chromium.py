"""The reviewer's page in headless Chromium: a sponsor signs in, sees only their two guests with the
recommendation from inactivity, accepts the recommendations in one click, then changes one decision with a reason;
the decisions are what the reviewer chose. Screenshots at desktop and phone width."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.domain.principals import system_principal
from hospes.services.access_reviews import AccessReviewService
from hospes.services.groups import GroupService
from hospes.services.tenants import create_tenant
from hospes.services.users import UserService
from hospes.storage.tables import User
from hospes.storage.tables_reviews import AccessReviewItem
from tests.helpers.live import LiveServer
from tests.helpers.tenants import ADMIN_PASSWORD, PASSWORD

pytestmark = pytest.mark.live


def _user(users: UserService, domain: str, nick: str, kind: str = "Member") -> str:
    values = {
        "account_enabled": True,
        "display_name": nick.title(),
        "mail_nickname": nick,
        "user_principal_name": f"{nick}@{domain}",
        "user_type": kind,
    }
    return users.create(values, PASSWORD).id


def test_a_sponsor_reviews_their_guests(
    page: Any, web_server: LiveServer, sessions: sessionmaker[Session], artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD)
    system = system_principal(boot.tenant_id)
    users = UserService(sessions, system)
    sponsor = _user(users, boot.domain, "sam")
    other = _user(users, boot.domain, "olga")
    active, idle, foreign = (_user(users, boot.domain, n, "Guest") for n in ("ann", "ivan", "fred"))
    groups = GroupService(sessions, system)
    group = groups.create(
        {"display_name": "Partners", "mail_nickname": "partners", "mail_enabled": False, "security_enabled": True},
        [active, idle, foreign],
        [],
    )
    users.add_sponsor(active, sponsor)
    users.add_sponsor(idle, sponsor)
    users.add_sponsor(foreign, other)
    now = utcnow()
    with sessions.begin() as session:
        session.execute(update(User).where(User.id == active).values(last_successful_sign_in_at=now))
        session.execute(
            update(User)
            .where(User.id == idle)
            .values(last_successful_sign_in_at=now - timedelta(days=90), created_at=now - timedelta(days=200))
        )
    definition = AccessReviewService(sessions, system).create(
        {
            "displayName": "Partners review",
            "scope": {"query": f"/groups/{group.id}/transitiveMembers/?$filter=(userType eq 'Guest')"},
            "reviewers": [{"query": "./sponsors", "queryRoot": "decisions"}],
            "settings": {"recommendationsEnabled": True, "instanceDurationInDays": 7},
        }
    )
    base = f"{web_server.base_url}/{boot.domain}"
    page.goto(f"{base}/login?next=/{boot.domain}/reviews")
    page.get_by_label("Sign-in name").fill(f"sam@{boot.domain}")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/reviews")
    page.get_by_role("link", name="Partners review").click()
    rows = page.locator("#items tbody tr")
    assert rows.count() == 2
    assert "Fred" not in page.locator("#items").inner_text()
    assert page.locator(f'tr[data-principal="{idle}"] .recommendation').inner_text() == "Deny"
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(artifacts / "review-desktop.png"), full_page=True)
    page.get_by_role("button", name="Accept recommendations").click()
    page.wait_for_selector("#message")
    assert page.locator(f'tr[data-principal="{idle}"] input[value="Deny"]').is_checked()
    assert page.locator(f'tr[data-principal="{active}"] input[value="Approve"]').is_checked()
    # Second thoughts about Ivan: approve with a reason.
    page.locator(f'tr[data-principal="{idle}"] input[value="Approve"]').check()
    page.get_by_label("Reason").fill("Back on the project next month")
    page.get_by_role("button", name="Save decisions").click()
    page.wait_for_selector("#message")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts / "review-phone.png"), full_page=True)
    with sessions() as session:
        decided = dict(
            session.execute(
                select(AccessReviewItem.principal_id, AccessReviewItem.decision).where(
                    AccessReviewItem.tenant_id == boot.tenant_id
                )
            ).all()
        )
        reason = session.scalar(select(AccessReviewItem.justification).where(AccessReviewItem.principal_id == idle))
    assert decided == {active: "Approve", idle: "Approve", foreign: "NotReviewed"}
    assert reason == "Back on the project next month"
    assert definition["status"] == "InProgress"
