""" "Block future invitations" (confirmation page, RFC 8058 one-click POST) and the unsubscribe portal: prove the
address with a passcode, list, export, unblock."""

from __future__ import annotations

import csv
import io
import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.helpers.portal import csrf_of
from tests.helpers.redemption import invite, latest_code, otp_mail_count
from tests.helpers.tenants import TenantHandle


def _address() -> str:
    return f"pat-{uuid.uuid4().hex[:8]}@partner.example"


def _block_url(tenant: TenantHandle, address: str) -> str:
    invite(tenant, address, sendInvitationMessage=True)
    from sqlalchemy import select

    from hospes.storage.tables import OutboxMessage

    sessions = tenant.client.app.state.runtime.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "invitation", OutboxMessage.tenant_id == tenant.id)
        )
        row = next(r for r in rows if address in r.recipients)
    import email
    import email.policy

    message = email.message_from_string(row.mime, policy=email.policy.default)
    return str(message["List-Unsubscribe"]).strip("<>").removeprefix("http://testserver")


def _prove(web: TestClient, sessions: sessionmaker[Session], address: str) -> None:
    form = web.get("/unsubscribe")
    assert form.status_code == 200
    sent = web.post("/unsubscribe", data={"csrf": csrf_of(form.text), "email": address})
    assert sent.status_code == 303 and sent.headers["location"] == "/unsubscribe/code?sent=sent"
    page = web.get("/unsubscribe/code")
    done = web.post("/unsubscribe/code", data={"csrf": csrf_of(page.text), "code": latest_code(sessions, address)})
    assert done.status_code == 303 and done.headers["location"] == "/unsubscribe/manage"


def test_block_page_get_changes_nothing_post_blocks(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    url = _block_url(tenant, address)
    page = web.get(url, headers={"Accept-Language": "es"})
    assert page.status_code == 200 and "Bloquear invitaciones futuras" in page.text
    again = invite(tenant, address, sendInvitationMessage=True)
    assert again["status"] == "PendingAcceptance"  # the GET blocked nothing
    one_click = web.post(url, data={"List-Unsubscribe": "One-Click"})  # RFC 8058: no cookie, no token but the link's
    assert one_click.status_code == 200 and "Invitations blocked" in one_click.text
    blocked = invite(tenant, address, sendInvitationMessage=True)
    assert blocked["status"] == "Error" and blocked["@hospes.messageStatus"] == "BlockedByRecipient"
    bad = web.get("/invitations/block?token=forged.token", headers={"Accept-Language": "ja"})
    assert bad.status_code == 400 and "このリンクは無効です" in bad.text and "Traceback" not in bad.text
    assert web.post("/invitations/block?token=forged.token").status_code == 400


def test_unsubscribe_portal_lists_exports_and_unblocks(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    for handle in (tenant, other_tenant):
        assert web.post(_block_url(handle, address), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert web.get("/unsubscribe/manage").headers["location"] == "/unsubscribe"  # not proven yet
    _prove(web, sessions, address)
    page = web.get("/unsubscribe/manage")
    assert page.status_code == 200
    assert "Contoso" in page.text and "Fabrikam" in page.text and tenant.domain in page.text
    assert 'id="export"' in page.text
    exported = web.get("/unsubscribe/manage.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["tenantId"] for r in rows} == {tenant.id, other_tenant.id}
    assert web.post("/unsubscribe/unblock", data={"tenant": tenant.id}).status_code == 403  # CSRF
    done = web.post("/unsubscribe/unblock", data={"csrf": csrf_of(page.text), "tenant": tenant.id})
    assert done.status_code == 303
    page = web.get("/unsubscribe/manage?unblocked=1")
    assert "Fabrikam" in page.text and tenant.domain not in page.text
    assert invite(tenant, address, sendInvitationMessage=True)["@hospes.messageStatus"] == "Queued"
    # Another address's blocks are out of reach: the proof is bound to this address.
    assert (
        web.post("/unsubscribe/unblock", data={"csrf": csrf_of(page.text), "tenant": other_tenant.id}).status_code
        == 303
    )
    finished = web.post("/unsubscribe/done", data={"csrf": csrf_of(page.text)})
    assert finished.status_code == 303
    assert web.get("/unsubscribe/manage").status_code == 303


def test_unsubscribe_codes_are_limited_even_when_flows_end(web: TestClient, sessions: sessionmaker[Session]) -> None:
    address = _address()
    outcomes = []
    for _ in range(7):
        form = web.get("/unsubscribe")
        sent = web.post("/unsubscribe", data={"csrf": csrf_of(form.text), "email": address})
        outcomes.append(sent.headers["location"].rsplit("=", 1)[1])
        web.post("/unsubscribe/done", data={"csrf": csrf_of(form.text)})  # ending the flow resets nothing
    assert outcomes[:5] == ["sent"] * 5 and outcomes[5:] == ["limited", "limited"]
    assert otp_mail_count(sessions, address) == 5


def test_unsubscribe_wrong_codes(web: TestClient, sessions: sessionmaker[Session]) -> None:
    address = _address()
    form = web.get("/unsubscribe")
    web.post("/unsubscribe", data={"csrf": csrf_of(form.text), "email": address})
    page = web.get("/unsubscribe/code")
    code = latest_code(sessions, address)
    wrong = f"{(int(code) + 7) % 10**8:08d}"
    for _ in range(5):
        answer = web.post("/unsubscribe/code", data={"csrf": csrf_of(page.text), "code": wrong})
        assert answer.status_code == 401
    late = web.post("/unsubscribe/code", data={"csrf": csrf_of(page.text), "code": code})
    assert late.status_code in (401, 429)
    assert web.get("/unsubscribe/manage").status_code == 303
    for typo in ("not an address", "zoë@partner.example", "a\u2028b@partner.example", "a@partner"):
        bad = web.post("/unsubscribe", data={"csrf": csrf_of(form.text), "email": typo})
        assert bad.status_code == 400, typo  # a readable page: no passcode email could carry such an address
