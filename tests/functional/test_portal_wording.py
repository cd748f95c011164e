"""Portal pages in French show states, results and kinds in French (never the code behind them), and switching
language keeps the page's query."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.storage.tables import OutboxAttempt, OutboxMessage
from tests.helpers.portal import sign_in_as_admin
from tests.helpers.tenants import TenantHandle


def test_french_pages_word_every_state(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    sign_in_as_admin(web, tenant)
    body = {
        "invitedUserEmailAddress": "mot@partner.example",
        "inviteRedirectUrl": "https://a.example",
        "sendInvitationMessage": True,
    }
    guest = tenant.post("/invitations", json=body).json()["invitedUser"]
    with sessions.begin() as s:
        message = s.scalar(select(OutboxMessage).where(OutboxMessage.tenant_id == tenant.id))
        assert message is not None
        s.add(OutboxAttempt(message_id=message.id, at=utcnow(), result="retry", error="421 try later", duration_ms=5))
    page = html.unescape(web.get(f"/{tenant.domain}/admin/users/{guest['id']}", params={"lang": "fr"}).text)
    history = page[page.index('id="invitation-history"') :]
    assert "Acceptation en attente" in history and "En file d’attente" in history
    for code in ("PendingAcceptance", "Queued", "NotRequested"):
        assert code not in page
    outbox = html.unescape(web.get(f"/{tenant.domain}/admin/outbox", params={"lang": "fr"}).text)
    assert "Échec, nouvelle tentative prévue: 421 try later" in outbox and "— retry" not in outbox
    audit = web.get(f"/{tenant.domain}/admin/audit", params={"lang": "fr", "activity": "Invite external user"}).text
    entry = re.search(r'href="(/[^"]+/admin/audit/[0-9a-f-]+)"', audit)
    assert entry
    detail = html.unescape(web.get(entry.group(1), params={"lang": "fr"}).text)
    assert "<dd>Utilisateur</dd>" in detail and "<dd>User</dd>" not in detail and "Réussite" in detail


def test_switching_language_keeps_the_query(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    page = web.get(f"/{tenant.domain}/admin/users", params={"q": "a b", "filter": "guests", "lang": "fr"}).text
    assert 'href="?q=a+b&amp;filter=guests&amp;lang=de"' in page
    assert 'href="?q=a+b&amp;filter=guests&amp;lang=fr" lang="fr"' in page  # the current one, without a second lang
