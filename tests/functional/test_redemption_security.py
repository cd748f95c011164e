"""Security of the redemption pages: link reuse and expiry, wrong codes, brute force, CSRF, open redirects,
tenant isolation, escaping, and the refusal of a second identity."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.services.guest_flows import safe_redirect
from hospes.services.tenants import create_tenant
from hospes.storage.tables import Invitation, RedemptionTicket
from hospes.storage.tables_redemption import EmailOtpCode
from tests.helpers.portal import csrf_of
from tests.helpers.redemption import (
    accept,
    follow,
    invite,
    latest_code,
    link_form,
    open_link,
    otp_mail_count,
    path_of,
    redeem_with_otp,
    send_code,
    submit_code,
)
from tests.helpers.tenants import ADMIN_PASSWORD, TenantHandle, fetch_token


def _address() -> str:
    return f"guest-{uuid.uuid4().hex[:8]}@partner.example"


def _browser(web: TestClient) -> TestClient:
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    return TestClient(web.app, follow_redirects=False, client=(address, 1))


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**8:08d}"


def test_a_used_link_cannot_be_used_again(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    url = invite(tenant, address)["inviteRedeemUrl"]
    assert redeem_with_otp(web, sessions, url, tenant.id, address).status_code == 303
    again = _browser(web)
    page = again.get(path_of(url))
    assert page.status_code == 410
    assert "already used" in page.text and "Traceback" not in page.text
    token = csrf_of(again.get(f"/{tenant.id}/guest").text)
    posted = again.post(path_of(url).split("&")[0], data={"csrf": token, **link_form(url)})
    assert posted.status_code == 410


def test_a_link_used_in_another_browser_meanwhile_is_refused_at_accept(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    url = invite(tenant, address)["inviteRedeemUrl"]
    slow = _browser(web)
    assert open_link(slow, url).status_code == 303
    send_code(slow, tenant.id)
    assert submit_code(slow, tenant.id, latest_code(sessions, address)).status_code == 303
    with sessions.begin() as session:  # the same link is spent elsewhere first
        session.execute(
            update(RedemptionTicket).where(RedemptionTicket.tenant_id == tenant.id).values(used_at=utcnow())
        )
    refused = accept(slow, tenant.id)
    assert refused.status_code == 403 and "already accepted" in refused.text


def test_expired_revoked_and_unknown_links_get_clear_pages(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    first = invite(tenant, address)
    url = first["inviteRedeemUrl"]
    with sessions.begin() as session:
        session.execute(
            update(RedemptionTicket)
            .where(RedemptionTicket.invitation_id == first["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    page = web.get(path_of(url))
    assert page.status_code == 410 and "has expired" in page.text and "new invitation" in page.text
    second = invite(tenant, address)  # re-invite: the first link is revoked too
    page = web.get(path_of(first["inviteRedeemUrl"]))
    assert page.status_code == 410
    assert web.get(path_of(second["inviteRedeemUrl"])).status_code == 200
    broken = path_of(second["inviteRedeemUrl"])[:-5]
    page = web.get(broken)
    assert page.status_code == 404 and "not valid" in page.text
    assert web.get("/redeem").status_code == 404
    assert web.get("/redeem?tenant=nope&invitation=x&ticket=y").status_code == 404
    assert web.get(f"/redeem?tenant={tenant.id}&invitation={'x' * 5000}&ticket=y").status_code == 404


def test_five_wrong_codes_kill_the_code(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    address = _address()
    url = invite(tenant, address)["inviteRedeemUrl"]
    assert open_link(web, url).status_code == 303
    send_code(web, tenant.id)
    code = latest_code(sessions, address)
    for _attempt in range(5):
        page = submit_code(web, tenant.id, _wrong(code))
        assert page.status_code == 401
    assert "Too many wrong codes" in page.text
    late = submit_code(web, tenant.id, code)
    assert late.status_code in (401, 429)  # the right code no longer works
    with sessions() as session:
        rows = list(session.query(EmailOtpCode).filter(EmailOtpCode.email_key == address))
    assert rows and all(r.used_at is not None for r in rows)
    assert all(r.code_hash != code and code not in (r.code_hash or "") for r in rows)  # stored hashed


def test_passcode_brute_force_is_rate_limited_across_codes_and_sends(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    url = invite(tenant, address)["inviteRedeemUrl"]
    statuses = []
    for _ in range(3):  # fresh browsers, fresh flows, fresh codes: the address still locks
        browser = _browser(web)
        assert open_link(browser, url).status_code == 303
        sent = send_code(browser, tenant.id)
        if "limited" in sent.headers["location"]:
            break
        for _ in range(3):
            statuses.append(submit_code(browser, tenant.id, "00000000").status_code)
    assert 429 in statuses
    browser = _browser(web)
    assert open_link(browser, url).status_code == 303
    send_code(browser, tenant.id)
    locked = submit_code(browser, tenant.id, latest_code(sessions, address))
    assert locked.status_code == 429  # even the right code waits out the lock

    # Sending is limited too: a resend right away, and more than 5 codes an hour for one address.
    other = _address()
    url = invite(tenant, other)["inviteRedeemUrl"]
    browser = _browser(web)
    open_link(browser, url)
    assert send_code(browser, tenant.id).headers["location"].endswith("sent=sent")
    assert send_code(browser, tenant.id).headers["location"].endswith("sent=too_soon")
    outcomes = []
    for _ in range(6):
        b = _browser(web)
        open_link(b, url)
        outcomes.append(send_code(b, tenant.id).headers["location"].rsplit("=", 1)[1])
    assert outcomes.count("sent") == 4 and outcomes[-1] == "limited"
    assert otp_mail_count(sessions, other) == 5


def test_code_lifetime(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    address = _address()
    url = invite(tenant, address)["inviteRedeemUrl"]
    open_link(web, url)
    send_code(web, tenant.id)
    code = latest_code(sessions, address)
    with sessions() as session:
        row = session.query(EmailOtpCode).filter(EmailOtpCode.email_key == address).one()
        assert timedelta(minutes=9) < row.expires_at - row.created_at <= timedelta(minutes=10)
    with sessions.begin() as session:
        session.execute(update(EmailOtpCode).where(EmailOtpCode.email_key == address).values(expires_at=utcnow()))
    page = submit_code(web, tenant.id, code)
    assert page.status_code == 401 and "expired" in page.text


def test_forms_without_csrf_or_from_another_site_are_refused(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    invitation = invite(tenant, address)
    url = invitation["inviteRedeemUrl"]
    assert web.post(path_of(url).split("&")[0], data=link_form(url)).status_code == 403
    assert open_link(web, url).status_code == 303
    assert web.post(f"/{tenant.id}/redeem/code/send", data={"csrf": "forged"}).status_code == 403
    send_code(web, tenant.id)
    code = latest_code(sessions, address)
    assert web.post(f"/{tenant.id}/redeem/code", data={"code": code}).status_code == 403
    assert submit_code(web, tenant.id, code).status_code == 303
    assert web.post(f"/{tenant.id}/redeem/consent", data={"decision": "accept"}).status_code == 403
    page = web.get(f"/{tenant.id}/redeem/consent")
    forged = web.post(
        f"/{tenant.id}/redeem/consent",
        data={"csrf": csrf_of(page.text), "decision": "accept"},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    state = tenant.get(f"/users/{invitation['invitedUser']['id']}?$select=externalUserState").json()
    assert state["externalUserState"] == "PendingAcceptance"
    assert web.post("/unsubscribe", data={"email": address}).status_code == 403


@pytest.mark.parametrize(
    "stored",
    [
        "javascript:alert(1)",
        "//evil.example/x",
        "data:text/html,<script>alert(1)</script>",
        "https://u:p@evil.example/",
    ],
)
def test_redirect_url_is_validated_again_at_redemption(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session], stored: str
) -> None:
    address = _address()
    invitation = invite(tenant, address)
    with sessions.begin() as session:  # as if the stored value had been tampered with
        session.execute(update(Invitation).where(Invitation.id == invitation["id"]).values(redirect_url=stored))
    done = redeem_with_otp(web, sessions, invitation["inviteRedeemUrl"], tenant.id, address)
    assert done.status_code == 303
    assert done.headers["location"] == f"/{tenant.id}/myapps"


def test_invitation_api_refuses_unsafe_redirects(tenant: TenantHandle) -> None:
    for bad in ("javascript:alert(1)", "//evil.example", "data:text/html,x", "ftp://x.example/"):
        response = tenant.post("/invitations", json={"invitedUserEmailAddress": _address(), "inviteRedirectUrl": bad})
        assert response.status_code == 400, bad


def test_safe_redirect_rules() -> None:
    assert safe_redirect("https://apps.example.com/x?y=1") == "https://apps.example.com/x?y=1"
    assert safe_redirect("HTTP://apps.example.com/") == "HTTP://apps.example.com/"
    for bad in (
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "//evil.example",
        "/\\evil.example",
        "https:\\\\evil.example",
        "data:text/html,x",
        "https://user@evil.example",
        "https://",
        "http://a b.example",
        "https://evil.example\n/x",
        "",
        None,
    ):
        assert safe_redirect(bad) is None, bad


def test_next_after_guest_sign_in_stays_on_the_tenant(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    for bad in ("//evil.example", "https://evil.example/", "javascript:alert(1)", f"/{tenant.id}/../x"):
        page = web.get(f"/{tenant.id}/guest", params={"next": bad})
        assert 'name="next" value="/' + tenant.id + '/myapps"' in page.text, bad


def test_another_tenants_link_and_flow_do_not_cross(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    invitation = invite(tenant, address)
    url = invitation["inviteRedeemUrl"]
    swapped = path_of(url).replace(tenant.id, other_tenant.id)
    assert web.get(swapped).status_code == 404
    assert open_link(web, url).status_code == 303
    # The flow belongs to the first tenant: the other tenant's pages don't see it.
    page = web.get(f"/{other_tenant.id}/redeem/signin")
    assert page.status_code == 400 and "expired" in page.text
    # Just-in-time sign-in at the other tenant with this guest's address: the same answer, and no email.
    form = web.get(f"/{other_tenant.id}/guest")
    before = otp_mail_count(sessions, address)
    web.post(f"/{other_tenant.id}/guest", data={"csrf": csrf_of(form.text), "email": address})
    sent = send_code(web, other_tenant.id)
    assert sent.headers["location"].endswith("sent=sent")
    assert otp_mail_count(sessions, address) == before
    assert submit_code(web, other_tenant.id, "12345678").status_code == 401


def test_organization_names_are_escaped(web: TestClient, client: TestClient, sessions: sessionmaker[Session]) -> None:
    name = '<script>alert("x")</script> & Co'
    boot = create_tenant(sessions, name, f"evil-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD)
    handle = TenantHandle(boot, client, fetch_token(client, boot.domain, boot.client_id, boot.client_secret))
    address = _address()
    url = invite(handle, address)["inviteRedeemUrl"]
    page = web.get(path_of(url))
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in page.text
    open_link(web, url)
    send_code(web, boot.tenant_id)
    submit_code(web, boot.tenant_id, latest_code(sessions, address))
    consent = web.get(f"/{boot.tenant_id}/redeem/consent")
    assert "<script>alert" not in consent.text and "&lt;script&gt;" in consent.text


def test_flow_cookie_alone_does_not_sign_in(web: TestClient, tenant: TenantHandle) -> None:
    address = _address()
    url = invite(tenant, address)["inviteRedeemUrl"]
    open_link(web, url)
    for path in ("consent", "mfa"):
        went = web.get(f"/{tenant.id}/redeem/{path}")
        assert went.status_code == 303 and went.headers["location"].endswith("/redeem/continue")
    assert follow(web, web.get(f"/{tenant.id}/redeem/continue")).status_code == 200
    assert web.get(f"/{tenant.id}/myapps").status_code == 303


def test_wrong_codes_are_audited(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    address = _address()
    url = invite(tenant, address)["inviteRedeemUrl"]
    open_link(web, url)
    send_code(web, tenant.id)
    submit_code(web, tenant.id, _wrong(latest_code(sessions, address)))
    logs = tenant.get("/auditLogs/directoryAudits").json()["value"]
    failures = [
        e
        for e in logs
        if e.get("result") == "failure" and e.get("activityDisplayName") == "Redeem external user invite"
    ]
    assert failures, logs[:3]


def test_collaboration_restrictions_are_checked_again_at_redemption(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    import json

    address = f"late-{uuid.uuid4().hex[:6]}@rivals.example"
    invitation = invite(tenant, address)
    inner = {"AllowedDomains": [], "BlockedDomains": ["rivals.example"]}
    definition = [json.dumps({"B2BManagementPolicy": {"InvitationsAllowedAndBlockedDomainsPolicy": inner}})]
    created = tenant.post("/policies/b2bManagementPolicies", json={"displayName": "Deny", "definition": definition})
    assert created.status_code == 201, created.text
    refused = redeem_with_otp(web, sessions, invitation["inviteRedeemUrl"], tenant.id, address)
    assert refused.status_code == 403 and "no longer allow invitations for your address" in refused.text
    state = tenant.get(f"/users/{invitation['invitedUser']['id']}?$select=externalUserState").json()
    assert state["externalUserState"] == "PendingAcceptance"
    assert web.get(f"/{tenant.id}/myapps").status_code == 303  # no session either
    assert tenant.delete(f"/policies/b2bManagementPolicies/{created.json()['id']}").status_code == 204
    again = TestClient(web.app, follow_redirects=False, client=("10.9.8.7", 1))
    assert redeem_with_otp(again, sessions, invitation["inviteRedeemUrl"], tenant.id, address).status_code == 303


def test_garbage_never_gives_a_server_error(web: TestClient, tenant: TenantHandle) -> None:
    url = invite(tenant, _address())["inviteRedeemUrl"]
    open_link(web, url)
    for assertion in ("", "v1:", "v1:!!!!", "x" * 5000, "v1:" + "A" * 100, "%00", "v2:abc", "v1:AAAA.BBBB"):
        answer = web.get(f"/{tenant.id}/redeem/home/return", params={"assertion": assertion})
        assert answer.status_code == 400, assertion
    for path in ("/redeem/home/" + "x" * 3000, "/myapps/launch/" + "y" * 500, "/redeem/mfa", "/redeem/code"):
        assert web.get(f"/{tenant.id}{path}").status_code < 500, path
    token = csrf_of(web.get(f"/{tenant.id}/guest").text)
    assert web.post(f"/{tenant.id}/redeem/mfa", data={"csrf": token, "sealed": "garbage"}).status_code < 500
    for path in ("/unsubscribe/code", "/unsubscribe/manage", "/unsubscribe/manage.csv"):
        assert web.get(path).status_code == 303
    nul = web.get("/redeem", params={"tenant": tenant.id, "invitation": "\x00", "ticket": "é" * 10})
    assert nul.status_code == 400 and "NUL" in nul.text  # refused before any route reads it
    assert web.get("/redeem", params={"tenant": tenant.id, "invitation": "x", "ticket": "é" * 10}).status_code == 404
