"""The whole invitation flow through the official msgraph-sdk against a real Hospes process whose outbox worker
delivers to a real SMTP server (aiosmtpd); and SMTP down, server restart, SMTP up: every email exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.invitation import Invitation
from msgraph.generated.models.invited_user_message_info import InvitedUserMessageInfo
from msgraph.generated.models.recipient import Recipient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import TenantBootstrap, create_tenant
from hospes.storage.tables import OutboxAttempt, OutboxMessage
from tests.helpers.live import LiveServer, free_port, graph_client, run_server
from tests.helpers.mail import MailSink
from tests.helpers.tenants import fetch_token
from tests.helpers.wait import wait_until


@contextmanager
def mail_server(
    monkeypatch: pytest.MonkeyPatch, database_url: str, data_dir: str, smtp_port: int
) -> Iterator[LiveServer]:
    with monkeypatch.context() as env:
        env.setenv("HOSPES_SMTP_HOST", "127.0.0.1")
        env.setenv("HOSPES_SMTP_PORT", str(smtp_port))
        env.setenv("HOSPES_SMTP_TIMEOUT_SECONDS", "2")
        env.setenv("HOSPES_MAIL_POLL_INTERVAL_SECONDS", "0.1")
        env.setenv("HOSPES_MAIL_RETRY_BASE_SECONDS", "0.2")
        env.setenv("HOSPES_MAIL_RETRY_MAX_SECONDS", "0.5")
        with run_server(database_url, data_dir) as server:
            yield server


def test_invitation_flow_through_sdk_and_smtp(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Any,
    mail_sink: MailSink,
    boot: TenantBootstrap,
) -> None:
    with mail_server(monkeypatch, database_url, str(tmp_path), mail_sink.port) as server:
        sdk = graph_client(server, boot.domain, boot.client_id, boot.client_secret)
        email = f"amelie-{uuid.uuid4().hex[:6]}@partenaire.example"

        async def post() -> Any:
            return await sdk.invitations.post(
                Invitation(
                    invited_user_email_address=email,
                    invite_redirect_url="https://apps.contoso.example/portal",
                    invited_user_display_name="Amélie Partenaire",
                    send_invitation_message=True,
                    invited_user_message_info=InvitedUserMessageInfo(
                        customized_message_body="Bienvenue <i>chez nous</i> & merci",
                        message_language="fr-FR",
                        cc_recipients=[Recipient(email_address=EmailAddress(address="chef@partenaire.example"))],
                    ),
                )
            )

        async def scenario() -> tuple[Any, Any, Any]:
            # One event loop for the whole test: the SDK's HTTP client is bound to the loop it first ran on.
            invitation = await post()
            received = await asyncio.to_thread(mail_sink.wait_for_rcpt, email)
            # one-click block (RFC 8058) against the live server, then a re-invite sends nothing
            block = received.message["List-Unsubscribe"].strip("<>")
            answer = await asyncio.to_thread(httpx.post, block, data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 200
            return invitation, received, await post()

        invitation, _, again = asyncio.run(scenario())
        assert invitation.status == "PendingAcceptance"
        assert invitation.invited_user.id
        assert invitation.invited_user.user_principal_name == f"{email.replace('@', '_')}#EXT#@{boot.domain}"
        assert invitation.invite_redeem_url.startswith(f"{server.base_url}/redeem?tenant={boot.tenant_id}&")
        [received] = [m for m in mail_sink.messages if email in m.rcpt_tos]
        assert sorted(received.rcpt_tos) == sorted([email, "chef@partenaire.example"])
        msg = received.message
        assert msg["Subject"] == "Contoso automation vous invite à accéder aux applications de son organisation"
        assert msg["From"].addresses[0].display_name == "Contoso via Hospes"
        assert msg["To"].addresses[0].display_name == "Amélie Partenaire"
        assert msg["Content-Language"] == "fr-FR"
        assert msg["List-Unsubscribe"].startswith(f"<{server.base_url}/invitations/block?token=")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text, html = received.part("plain"), received.part("html")
        assert invitation.invite_redeem_url in text
        assert f'href="{invitation.invite_redeem_url.replace("&", "&amp;")}"' in html
        assert "https://apps.contoso.example/portal" in text
        assert "Bienvenue <i>chez nous</i> & merci" in text
        assert "Bienvenue &lt;i&gt;chez nous&lt;/i&gt; &amp; merci" in html
        assert "Accepter l’invitation" in html
        assert again.status == "Error" and again.invited_user.id == invitation.invited_user.id
        assert again.additional_data.get("@hospes.messageStatus") == "BlockedByRecipient"


def _token(server: LiveServer, boot: TenantBootstrap) -> str:
    with httpx.Client(base_url=server.base_url) as client:
        return fetch_token(client, boot.domain, boot.client_id, boot.client_secret)


def test_smtp_down_restart_smtp_up_exactly_once(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Any,
    sessions: sessionmaker[Session],
) -> None:
    boot = create_tenant(sessions, "Restart", f"restart-{uuid.uuid4().hex[:8]}.example")
    port = free_port()  # the relay is down: nothing listens here yet
    emails = [f"r{i}-{uuid.uuid4().hex[:6]}@partner.example" for i in range(3)]
    with mail_server(monkeypatch, database_url, str(tmp_path), port) as server:
        headers = {"Authorization": f"Bearer {_token(server, boot)}"}
        ids = []
        for address in emails:
            body = {
                "invitedUserEmailAddress": address,
                "inviteRedirectUrl": "https://a.example",
                "sendInvitationMessage": True,
            }
            response = httpx.post(f"{server.graph_url}/invitations", json=body, headers=headers)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until every message has failed at least once
            with sessions() as session:
                rows = session.scalars(select(OutboxMessage).where(OutboxMessage.related_id.in_(ids))).all()
                if len(rows) == 3 and all(r.attempts >= 1 and r.status == "pending" for r in rows):
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the worker did not try the messages")

    # server stopped; the relay comes up; a new server process on the same database resumes the outbox
    def all_sent() -> bool:
        with sessions() as session:
            rows = session.scalars(select(OutboxMessage).where(OutboxMessage.related_id.in_(ids))).all()
            return len(rows) == 3 and all(r.status == "sent" for r in rows)

    sink = MailSink(port).start()
    try:
        with mail_server(monkeypatch, database_url, str(tmp_path), port):
            # A message is marked sent once the relay accepted it, and a sent message is never claimed again: once
            # all three are, and the server is stopped, whatever the relay received is final.
            wait_until(all_sent, timeout=15)
        mine = [m for m in sink.messages if m.rcpt_tos[0] in emails]
    finally:
        sink.stop()
    assert sorted(m.rcpt_tos[0] for m in mine) == sorted(emails)
    assert len({m.message["Message-ID"] for m in mine}) == 3
    with sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.related_id.in_(ids))).all()
        assert {r.status for r in rows} == {"sent"}
        attempts = session.scalars(select(OutboxAttempt).where(OutboxAttempt.message_id.in_([r.id for r in rows])))
        assert sorted(a.message_id for a in attempts if a.result == "sent") == sorted(r.id for r in rows)
