"""The invitation email end to end through a real SMTP server (aiosmtpd on loopback): headers, both parts, links,
escaping, localization, cc, RFC 8058; and the outbox: exactly-once delivery, retries with backoff, no SMTP.

The session's database is shared with other tests, so every delivery pass here is limited to the test's own tenant:
it neither sends other tests' mail nor depends on how much of it is queued."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import email
import email.policy
import re
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.mail.outbox import deliver_due
from hospes.settings import Settings
from hospes.storage.tables import OutboxAttempt, OutboxMessage, Tenant
from tests.helpers.invitations import invite
from tests.helpers.live import free_port
from tests.helpers.mail import MailSink
from tests.helpers.tenants import TenantHandle
from tests.helpers.wait import wait_until

HOSTILE_NAME = 'Eve <script>alert("x")</script>'
HOSTILE_MESSAGE = 'Hello <b>bold</b> & <a href="https://evil.example">click</a>\nSecond line'


def smtp_settings(settings: Settings, port: int, **extra: Any) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, **extra})


def _send(tenant: TenantHandle, email: str, **props: Any) -> dict[str, Any]:
    response = invite(tenant, email, sendInvitationMessage=True, **props)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_invitation_email_elements(
    tenant: TenantHandle, sessions: sessionmaker[Session], settings: Settings, mail_sink: MailSink
) -> None:
    with sessions.begin() as session:
        row = session.get(Tenant, tenant.id)
        assert row is not None
        row.privacy_statement_url = "https://contoso.example/privacy"
    body = _send(
        tenant,
        "alice@fabrikam.example",
        invitedUserDisplayName="Alice Partner",
        invitedUserMessageInfo={
            "customizedMessageBody": HOSTILE_MESSAGE,
            "ccRecipients": [{"emailAddress": {"address": "boss@fabrikam.example", "name": "The Boss"}}],
        },
    )
    report = deliver_due(sessions, smtp_settings(settings, mail_sink.port), tenant_id=tenant.id)
    assert (report.sent, report.handled) == (1, 1)
    [received] = mail_sink.messages
    assert sorted(received.rcpt_tos) == ["alice@fabrikam.example", "boss@fabrikam.example"]
    assert received.mail_from == settings.mail_from
    msg = received.message
    # The bootstrap app is the inviter: its name is used, and there is no Reply-To (apps have no mailbox).
    assert msg["Subject"] == "Contoso automation invited you to access applications within their organization"
    assert msg["From"].addresses[0].display_name == "Contoso via Hospes"
    assert msg["From"].addresses[0].addr_spec == settings.mail_from
    assert msg["To"].addresses[0].display_name == "Alice Partner"
    assert msg["Cc"].addresses[0].addr_spec == "boss@fabrikam.example"
    assert msg["Reply-To"] is None
    assert msg["Content-Language"] == "en-US"
    assert msg["Message-ID"] == f"<invitation.{body['id']}@hospes.invalid>"
    unsubscribe = msg["List-Unsubscribe"]
    assert re.fullmatch(r"<http://testserver/invitations/block\?token=[\w.-]+>", unsubscribe)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    text, html = received.part("plain"), received.part("html")
    for part in (text, html):
        assert "only act on this email if you trust" in part  # phishing warning first
        assert part.index("only act on this email") < part.index("Organization:") < part.index("Accept invitation")
        assert tenant.domain in part
        assert "https://myapp.example/home" in part
        assert "https://contoso.example/privacy" in part
        assert "Block future invitations from this organization" in part
    redeem = body["inviteRedeemUrl"].replace("&", "&amp;")
    assert f'href="{redeem}"' in html  # the Accept button
    assert body["inviteRedeemUrl"] in text
    # The customized message is plain text: shown verbatim in the text part, escaped (not interpreted) in HTML.
    assert HOSTILE_MESSAGE in text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;a href=&#34;https://evil.example&#34;&gt;" in html
    assert "<b>bold</b>" not in html and 'href="https://evil.example"' not in html
    block_link = unsubscribe.strip("<>").replace("&", "&amp;")
    assert f'href="{block_link}"' in html


def test_french_email_and_hostile_inviter(
    tenant: TenantHandle, sessions: sessionmaker[Session], settings: Settings, mail_sink: MailSink
) -> None:
    with sessions.begin() as session:
        row = session.get(Tenant, tenant.id)
        assert row is not None
        row.display_name = HOSTILE_NAME + "\r\nBcc: victim@evil.example"
    _send(tenant, "bruno@partner.example", invitedUserMessageInfo={"messageLanguage": "fr-FR"})
    deliver_due(sessions, smtp_settings(settings, mail_sink.port), tenant_id=tenant.id)
    [received] = mail_sink.messages
    assert received.rcpt_tos == ["bruno@partner.example"]  # no injected Bcc recipient
    msg = received.message
    assert "Bcc" not in msg
    assert msg["Content-Language"] == "fr-FR"
    assert msg["Subject"] == "Contoso automation vous invite à accéder aux applications de son organisation"
    assert msg["From"].addresses[0].display_name.startswith("Eve <script>")
    html, text = received.part("html"), received.part("plain")
    assert "Accepter l’invitation" in html and "Bloquer les futures invitations" in text
    assert "n’a pas fourni de lien vers sa déclaration de confidentialité" in text  # no privacy statement
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_language_precedence(tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    """messageLanguage, then the invitee's own preferredLanguage, its home tenant's, the inviting tenant's."""
    with sessions.begin() as session:
        home = session.get(Tenant, other_tenant.id)
        host = session.get(Tenant, tenant.id)
        assert home is not None and host is not None
        home.preferred_language, host.preferred_language = "de", "es-ES"

    def language(email: str, **props: Any) -> str:
        body = _send(tenant, email, **props)
        with sessions() as session:
            row = session.scalar(select(OutboxMessage).where(OutboxMessage.related_id == body["id"]))
            assert row is not None
            found = re.search(r"Content-Language: (\S+)", row.mime)
            assert found
            return found.group(1)

    assert language(f"x@{other_tenant.domain}", invitedUserMessageInfo={"messageLanguage": "ja"}) == "ja-JP"
    assert language(f"y@{other_tenant.domain}") == "de-DE"  # home tenant of the invitee
    assert language("z@elsewhere.example") == "es-ES"  # inviting tenant
    assert language("w@elsewhere.example", invitedUserMessageInfo={"messageLanguage": "xx"}) == "es-ES"


def test_outbox_delivers_exactly_once_after_restart(
    tenant: TenantHandle, sessions: sessionmaker[Session], settings: Settings, mail_sink: MailSink
) -> None:
    """Messages written while no worker runs wait; a later worker delivers each once; further passes send none."""
    ids = [_send(tenant, f"p{i}@partner.example")["id"] for i in range(3)]
    assert deliver_due(sessions, settings, tenant_id=tenant.id).handled == 0  # no SMTP: everything stays queued
    smtp = smtp_settings(settings, mail_sink.port)
    assert deliver_due(sessions, smtp, tenant_id=tenant.id).sent == 3
    assert deliver_due(sessions, smtp, tenant_id=tenant.id).handled == 0
    got = mail_sink.messages
    assert sorted(m.rcpt_tos[0] for m in got) == ["p0@partner.example", "p1@partner.example", "p2@partner.example"]
    with sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.related_id.in_(ids))).all()
        assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}


def test_outbox_retries_with_backoff_then_delivers(
    tenant: TenantHandle, sessions: sessionmaker[Session], settings: Settings
) -> None:
    port = free_port()  # nothing listens yet: the relay is down
    body = _send(tenant, "retry@partner.example")
    down = smtp_settings(settings, port, mail_retry_base_seconds=60.0, smtp_timeout_seconds=2.0)
    start = utcnow()
    report = deliver_due(sessions, down, tenant_id=tenant.id)
    assert (report.retried, report.handled) == (1, 1)
    with sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.related_id == body["id"]))
        assert row is not None and row.status == "pending" and row.attempts == 1
        assert row.last_error and row.next_attempt_at >= start + dt.timedelta(seconds=45)
        attempts = session.scalars(select(OutboxAttempt).where(OutboxAttempt.message_id == row.id)).all()
        assert [a.result for a in attempts] == ["retry"]
    sink = MailSink(port).start()
    try:
        assert deliver_due(sessions, smtp_settings(settings, port), tenant_id=tenant.id).handled == 0  # not due yet
        assert sink.messages == []
        with sessions() as session:
            waiting = session.scalar(select(OutboxMessage).where(OutboxMessage.related_id == body["id"]))
            assert waiting is not None and waiting.status == "pending" and waiting.attempts == 1
        later = utcnow() + dt.timedelta(minutes=5)
        assert deliver_due(sessions, smtp_settings(settings, port), now=later, tenant_id=tenant.id).sent == 1
        assert [m.rcpt_tos for m in sink.messages] == [["retry@partner.example"]]
    finally:
        sink.stop()
    with sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.related_id == body["id"]))
        assert row is not None and row.status == "sent" and row.attempts == 2


def test_max_attempts_marks_failed(tenant: TenantHandle, sessions: sessionmaker[Session], settings: Settings) -> None:
    body = _send(tenant, "never@partner.example")
    down = smtp_settings(settings, free_port(), mail_max_attempts=2, smtp_timeout_seconds=2.0)
    now = utcnow()
    reports = [deliver_due(sessions, down, now=now + dt.timedelta(days=step), tenant_id=tenant.id) for step in range(3)]
    assert [(r.retried, r.failed) for r in reports] == [(1, 0), (0, 1), (0, 0)]
    with sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.related_id == body["id"]))
        assert row is not None and row.status == "failed" and row.attempts == 2


def test_blocked_recipient_gets_no_email(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    first = _send(tenant, "quiet@partner.example")
    with sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.related_id == first["id"]))
        assert row is not None
        header = email.message_from_string(row.mime, policy=email.policy.default)["List-Unsubscribe"]
        token = re.search(r"token=([\w.-]+)>", header)
        assert token
    page = tenant.client.get(f"/invitations/block?token={token.group(1)}")
    assert page.status_code == 200 and "quiet@partner.example" in page.text  # a GET changes nothing
    again = _send(tenant, "quiet@partner.example")
    assert again["@hospes.messageStatus"] == "Queued"
    one_click = tenant.client.post(f"/invitations/block?token={token.group(1)}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    blocked = _send(tenant, "quiet@partner.example")
    assert blocked["status"] == "Error" and blocked["@hospes.messageStatus"] == "BlockedByRecipient"
    assert blocked["inviteRedeemUrl"]  # the API still answers, with a working link the caller may deliver
    with sessions() as session:
        assert session.scalar(select(OutboxMessage).where(OutboxMessage.related_id == blocked["id"])) is None
    assert tenant.client.post("/invitations/block?token=forged.token").status_code == 400


def test_a_stopped_pass_hands_the_rest_of_its_batch_back(
    tenant: TenantHandle, sessions: sessionmaker[Session], settings: Settings, mail_sink: MailSink
) -> None:
    """A worker told to stop finishes the message it is sending and releases the others at once: due again, with
    no attempt counted, instead of waiting for their lease."""
    ids = [_send(tenant, f"s{i}@partner.example")["id"] for i in range(4)]
    smtp = smtp_settings(settings, mail_sink.port)
    report = deliver_due(sessions, smtp, tenant_id=tenant.id, stopping=lambda: len(mail_sink.messages) >= 1)
    assert (report.sent, report.handled) == (1, 1)
    with sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.related_id.in_(ids))).all()
        assert sorted((r.status, r.attempts, r.lease_until) for r in rows) == [
            ("pending", 0, None),
            ("pending", 0, None),
            ("pending", 0, None),
            ("sent", 1, None),
        ]
    assert deliver_due(sessions, smtp, tenant_id=tenant.id).sent == 3
    assert len({m.message["Message-ID"] for m in mail_sink.messages}) == len(mail_sink.messages) == 4


def test_a_slow_batch_keeps_its_leases(
    tenant: TenantHandle, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """A batch that takes longer than the lease (slow relay) keeps its claims renewed: another worker polling all
    along claims none of them, and every message goes once."""
    ids = [_send(tenant, f"slow{i}@partner.example")["id"] for i in range(6)]
    sink = MailSink(delay=0.8).start()  # 6 × 0.8 s: about 5 s for the batch, with a 3 s lease
    smtp = smtp_settings(settings, sink.port, mail_lease_seconds=3.0, mail_batch_size=6)
    try:
        first = concurrent.futures.ThreadPoolExecutor(1)
        batch = first.submit(deliver_due, sessions, smtp, tenant_id=tenant.id)

        def claimed() -> bool:
            with sessions() as session:
                rows = session.scalars(select(OutboxMessage).where(OutboxMessage.related_id.in_(ids))).all()
                return all(r.status != "pending" for r in rows)

        wait_until(claimed, timeout=10)  # the other worker starts polling once the first holds the batch
        others = []
        while not batch.done():
            others.append(deliver_due(sessions, smtp, tenant_id=tenant.id))
            time.sleep(0.2)
        assert batch.result().sent == 6
        first.shutdown()
        assert sum(report.handled for report in others) == 0
    finally:
        sink.stop()
    assert len({m.message["Message-ID"] for m in sink.messages}) == len(sink.messages) == 6
    with sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.related_id.in_(ids))).all()
        assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
