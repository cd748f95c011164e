"""The portal's forms that write answer 303 to a GET page (Post/Redirect/Get): reloading the result page sends
nothing again, the redemption link shown after an invitation never appears in an address, the result page is
bound to the session that sent the form, and destructive actions ask for confirmation first."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables import Invitation, OutboxMessage
from tests.helpers.portal import csrf_of, sign_in_as_admin
from tests.helpers.tenants import TenantHandle


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, Any]) -> Any:
    token = csrf_of(web.get(f"/{tenant.domain}/admin").text)
    return web.post(f"/{tenant.domain}{path}", data={"csrf": token, **data})


def _counts(sessions: sessionmaker[Session], tenant: TenantHandle) -> tuple[int, int]:
    with sessions() as s:
        invitations = s.scalar(select(func.count()).select_from(Invitation).where(Invitation.tenant_id == tenant.id))
        outbox = s.scalar(select(func.count()).select_from(OutboxMessage))
    return int(invitations or 0), int(outbox or 0)


def test_invite_redirects_and_a_reload_sends_nothing(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sign_in_as_admin(web, tenant)
    data = {"email": "prg@partner.example", "redirect_url": "https://apps.example/start", "send": "on"}
    sent = _post(web, tenant, "/admin/users/invite", data)
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    assert re.fullmatch(rf"/{re.escape(tenant.domain)}/admin/users/invite/done\?result=[\w-]+", location)
    before = _counts(sessions, tenant)
    shown = web.get(location)
    assert shown.status_code == 200 and "An invitation email to prg@partner.example is on its way." in shown.text
    again = web.get(location)  # the reload
    assert again.status_code == 410 and "nothing was sent again" in again.text
    assert _counts(sessions, tenant) == before


def test_the_link_of_an_invite_without_email_is_shown_once_and_never_in_the_address(
    web: TestClient, tenant: TenantHandle, app: Any
) -> None:
    sign_in_as_admin(web, tenant)
    sent = _post(
        web, tenant, "/admin/users/invite", {"email": "once@partner.example", "redirect_url": "https://a.example"}
    )
    location = sent.headers["location"]
    assert "redeem" not in location and "token" not in location
    link = re.search(r'id="redeem-link" type="text" readonly value="([^"]+)"', web.get(location).text)
    assert link and "/redeem?tenant=" in link.group(1)
    # Another administrator's session cannot read it, nor can this one twice.
    with TestClient(app, follow_redirects=False, client=("10.9.9.9", 50000)) as other:
        sign_in_as_admin(other, tenant)
        assert other.get(location).status_code == 410
    assert web.get(location).status_code == 410


def test_resend_and_reset_redemption_redirect_to_their_result(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sign_in_as_admin(web, tenant)
    body = {"invitedUserEmailAddress": "again@partner.example", "inviteRedirectUrl": "https://a.example"}
    user_id = tenant.post("/invitations", json=body).json()["invitedUser"]["id"]
    for action, form in (("resend", {}), ("reset-redemption", {"confirm": "yes"})):
        sent = _post(web, tenant, f"/admin/users/{user_id}/{action}", form)
        assert sent.status_code == 303, (action, sent.text)
        before = _counts(sessions, tenant)
        assert web.get(sent.headers["location"]).status_code == 200
        assert web.get(sent.headers["location"]).status_code == 410
        assert _counts(sessions, tenant) == before


def test_create_member_shows_the_password_once(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    data = {"display_name": "Pat", "alias": "pat", "domain": tenant.domain, "enabled": "on"}
    sent = _post(web, tenant, "/admin/users/new", data)
    assert sent.status_code == 303 and "password" not in sent.headers["location"]
    shown = web.get(sent.headers["location"])
    assert shown.status_code == 200 and 'id="new-password"' in shown.text
    again = web.get(sent.headers["location"])
    assert again.status_code == 410 and 'id="new-password"' not in again.text


def test_destructive_actions_ask_for_confirmation(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    user = tenant.new_user()
    body = {"invitedUserEmailAddress": "conf@partner.example", "inviteRedirectUrl": "https://a.example"}
    guest_id = tenant.post("/invitations", json=body).json()["invitedUser"]["id"]
    for target, action in ((user["id"], "block"), (user["id"], "delete"), (guest_id, "reset-redemption")):
        unconfirmed = _post(web, tenant, f"/admin/users/{target}/{action}", {})
        assert unconfirmed.status_code == 303
        assert unconfirmed.headers["location"] == f"/{tenant.domain}/admin/users/{target}/{action}"
        page = web.get(unconfirmed.headers["location"])
        assert page.status_code == 200 and 'name="confirm" value="yes"' in page.text
    assert tenant.get(f"/users/{user['id']}?$select=accountEnabled").json()["accountEnabled"] is True
    invitations = web.get(f"/{tenant.domain}/admin/users/{guest_id}").text
    assert "(reset)" not in invitations
    assert _post(web, tenant, f"/admin/users/{user['id']}/block", {"confirm": "yes"}).status_code == 303
    assert tenant.get(f"/users/{user['id']}?$select=accountEnabled").json()["accountEnabled"] is False
    unblock = _post(web, tenant, f"/admin/users/{user['id']}/unblock", {})
    assert unblock.headers["location"].endswith("/unblock")
    assert web.get(f"/{tenant.domain}/admin/users/{user['id']}/resend").status_code == 404
