"""Redemption through the pages (TestClient): the link, the email one-time passcode, consent, the Graph state
afterwards, decline, just-in-time redemption and My Apps."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables import ChangeLog
from tests.helpers.portal import csrf_of
from tests.helpers.redemption import (
    accept,
    follow,
    invite,
    latest_code,
    open_link,
    otp_mail_count,
    redeem_with_otp,
    send_code,
    submit_code,
)
from tests.helpers.tenants import TenantHandle


def _address() -> str:
    return f"guest-{uuid.uuid4().hex[:8]}@partner.example"


def _state(tenant: TenantHandle, invitation: dict[str, Any]) -> dict[str, Any]:
    select_ = "externalUserState,externalUserStateChangeDateTime,identities"
    response = tenant.get(f"/users/{invitation['invitedUser']['id']}?$select={select_}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_link_get_changes_nothing_and_otp_redemption_accepts(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    invitation = invite(tenant, address)
    url = invitation["inviteRedeemUrl"]
    for _ in range(3):  # a mail scanner following the link
        assert web.get(url.removeprefix("http://testserver")).status_code == 200
    assert _state(tenant, invitation)["externalUserState"] == "PendingAcceptance"

    done = redeem_with_otp(web, sessions, url, tenant.id, address)
    assert done.status_code == 303
    assert done.headers["location"] == "https://apps.example.com/welcome"
    assert "form-action 'self' https://apps.example.com" in done.headers["content-security-policy"]

    user = _state(tenant, invitation)
    assert user["externalUserState"] == "Accepted"
    assert user["externalUserStateChangeDateTime"]
    assert {"signInType": "federated", "issuer": "mail", "issuerAssignedId": address} in user["identities"]
    with sessions() as session:
        changes = list(
            session.scalars(
                select(ChangeLog).where(
                    ChangeLog.tenant_id == tenant.id, ChangeLog.object_id == invitation["invitedUser"]["id"]
                )
            )
        )
    assert any("externalUserState" in c.properties for c in changes)
    # Signed in as the guest now: My Apps opens.
    assert web.get(f"/{tenant.id}/myapps").status_code == 200


def test_decline_changes_nothing_and_the_link_still_works(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    invitation = invite(tenant, address)
    url = invitation["inviteRedeemUrl"]
    declined = redeem_with_otp_decline(web, sessions, url, tenant.id, address)
    assert declined.status_code == 200
    assert "Invitation declined" in declined.text
    assert "Open the link in the invitation email again" in declined.text
    assert _state(tenant, invitation)["externalUserState"] == "PendingAcceptance"
    assert web.get(f"/{tenant.id}/myapps").status_code == 303  # not signed in
    fresh = TestClient(web.app, follow_redirects=False, client=("10.9.9.9", 1))
    assert redeem_with_otp(fresh, sessions, url, tenant.id, address).status_code == 303
    assert _state(tenant, invitation)["externalUserState"] == "Accepted"


def redeem_with_otp_decline(
    web: TestClient, sessions: sessionmaker[Session], url: str, tenant_id: str, address: str
) -> Any:
    assert open_link(web, url).status_code == 303
    assert send_code(web, tenant_id).status_code == 303
    assert submit_code(web, tenant_id, latest_code(sessions, address)).status_code == 303
    return accept(web, tenant_id, decision="decline")


def test_consent_page_shows_org_domain_data_and_privacy(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    url = invite(tenant, address)["inviteRedeemUrl"]
    assert open_link(web, url).status_code == 303
    send_code(web, tenant.id)
    submit_code(web, tenant.id, latest_code(sessions, address))
    page = web.get(f"/{tenant.id}/redeem/consent")
    assert page.status_code == 200
    assert "Review permissions" in page.text
    assert tenant.domain in page.text and "Contoso" in page.text
    assert "Read your name, email address and photo" in page.text
    assert 'id="no-privacy"' in page.text
    org = tenant.get("/organization").json()["value"][0]
    assert (
        tenant.patch(
            f"/organization/{org['id']}", json={"privacyProfile": {"statementUrl": "https://contoso.example/privacy"}}
        ).status_code
        == 204
    )
    page = web.get(f"/{tenant.id}/redeem/consent")
    assert 'id="privacy" href="https://contoso.example/privacy"' in page.text


def test_just_in_time_redemption_from_my_apps(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    invitation = invite(tenant, address)
    went = web.get(f"/{tenant.domain}/myapps")
    assert went.status_code == 303 and went.headers["location"].startswith(f"/{tenant.domain}/guest?next=")
    form = web.get(went.headers["location"])
    assert form.status_code == 200
    for typo in ("zoë@partner.example", "two words@partner.example"):  # a readable page, never a 500
        refused = web.post(f"/{tenant.domain}/guest", data={"csrf": csrf_of(form.text), "email": typo})
        assert refused.status_code == 400 and "Enter an email address." in refused.text
    started = web.post(
        f"/{tenant.domain}/guest",
        data={"csrf": csrf_of(form.text), "email": address.upper(), "next": f"/{tenant.domain}/myapps"},
    )
    assert started.status_code == 303
    assert send_code(web, tenant.domain).status_code == 303
    assert submit_code(web, tenant.domain, latest_code(sessions, address)).headers["location"].endswith("/continue")
    done = accept(web, tenant.domain)
    assert done.status_code == 303 and done.headers["location"] == f"/{tenant.domain}/myapps"
    assert _state(tenant, invitation)["externalUserState"] == "Accepted"
    page = web.get(f"/{tenant.domain}/myapps")
    assert page.status_code == 200 and "My Apps" in page.text
    # The emailed link is spent by the just-in-time redemption.
    link = web.get(invitation["inviteRedeemUrl"].removeprefix("http://testserver"))
    assert link.status_code == 410

    # Later, a new browser: the accepted guest signs in with a code and goes straight to the page (no consent).
    later = TestClient(web.app, follow_redirects=False, client=("10.9.9.8", 1))
    form = later.get(f"/{tenant.domain}/guest?next=/{tenant.domain}/myapps")
    later.post(
        f"/{tenant.domain}/guest",
        data={"csrf": csrf_of(form.text), "email": address, "next": f"/{tenant.domain}/myapps"},
    )
    send_code(later, tenant.domain)
    signed = follow(later, submit_code(later, tenant.domain, latest_code(sessions, address)))
    assert signed.status_code == 200 and "My Apps" in signed.text


def test_my_apps_lists_direct_and_group_assignments_with_launch_links(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    invitation = invite(tenant, address)
    guest_id = invitation["invitedUser"]["id"]
    apps = []
    for name in ("Payroll", "Wiki", "Hidden"):
        app = tenant.post("/applications", json={"displayName": name}).json()
        sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
        assert (
            tenant.patch(
                f"/servicePrincipals/{sp['id']}", json={"loginUrl": f"https://{name.lower()}.example/"}
            ).status_code
            == 204
        )
        apps.append(sp)
    outer = tenant.new_group("Outer")
    inner = tenant.new_group("Inner")
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{guest_id}"}
    assert tenant.post(f"/groups/{inner['id']}/members/$ref", json=ref).status_code == 204
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{inner['id']}"}
    assert tenant.post(f"/groups/{outer['id']}/members/$ref", json=ref).status_code == 204
    zero = "00000000-0000-0000-0000-000000000000"
    direct = {"principalId": guest_id, "resourceId": apps[0]["id"], "appRoleId": zero}
    assert tenant.post(f"/servicePrincipals/{apps[0]['id']}/appRoleAssignedTo", json=direct).status_code == 201
    nested = {"principalId": outer["id"], "resourceId": apps[1]["id"], "appRoleId": zero}
    assert tenant.post(f"/servicePrincipals/{apps[1]['id']}/appRoleAssignedTo", json=nested).status_code == 201

    assert redeem_with_otp(web, sessions, invitation["inviteRedeemUrl"], tenant.id, address).status_code == 303
    page = web.get(f"/{tenant.id}/myapps")
    assert "Payroll" in page.text and "Wiki" in page.text and "Hidden" not in page.text
    launched = web.get(f"/{tenant.id}/myapps/launch/{apps[1]['id']}")
    assert launched.status_code == 303 and launched.headers["location"] == "https://wiki.example/"
    assert web.get(f"/{tenant.id}/myapps/launch/{apps[2]['id']}").status_code == 404  # not assigned

    # Just-in-time through an app's launch URL: a new browser lands on the app after signing in.
    later = TestClient(web.app, follow_redirects=False, client=("10.9.9.7", 1))
    went = later.get(f"/{tenant.id}/myapps/launch/{apps[0]['id']}")
    assert went.status_code == 303 and "/guest?next=" in went.headers["location"]
    form = later.get(went.headers["location"])
    target = f"/{tenant.id}/myapps/launch/{apps[0]['id']}"
    later.post(f"/{tenant.id}/guest", data={"csrf": csrf_of(form.text), "email": address, "next": target})
    send_code(later, tenant.id)
    landed = follow(later, submit_code(later, tenant.id, latest_code(sessions, address)))
    assert landed.status_code == 303 and landed.headers["location"] == "https://payroll.example/"


def test_email_method_configuration_turns_passcodes_off(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    path = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email"
    body = tenant.get(path).json()
    assert body["@odata.type"] == "#microsoft.graph.emailAuthenticationMethodConfiguration"
    assert body["id"] == "Email" and body["allowExternalIdToUseEmailOtp"] == "default"
    assert tenant.patch(path, json={"allowExternalIdToUseEmailOtp": "sometimes"}).status_code == 400
    assert tenant.patch(path, json={"allowExternalIdToUseEmailOtp": "disabled"}).status_code == 204
    assert tenant.get(path).json()["allowExternalIdToUseEmailOtp"] == "disabled"
    address = _address()
    url = invite(tenant, address)["inviteRedeemUrl"]
    assert open_link(web, url).status_code == 303
    page = web.get(f"/{tenant.id}/redeem/signin")
    assert "does not allow signing in with a code sent by email" in page.text
    assert "/redeem/code/send" not in page.text
    # A hand-made POST gets no code either.
    token = csrf_of(web.get(f"/{tenant.id}/guest").text)  # the same browser's token, from another form
    assert web.post(f"/{tenant.id}/redeem/code/send", data={"csrf": token}).status_code == 303
    assert otp_mail_count(sessions, address) == 0
    assert tenant.patch(path, json={"allowExternalIdToUseEmailOtp": "enabled"}).status_code == 204


def test_pages_in_every_email_language_and_switching_keeps_the_link(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = _address()
    url = invite(tenant, address)["inviteRedeemUrl"]
    path = url.removeprefix("http://testserver")
    expected = {
        "fr": "Vous êtes invité par Contoso",
        "de": "Sie sind zu Contoso eingeladen",
        "es": "Está invitado a Contoso",
        "ja": "Contoso に招待されています",
    }
    for code, heading in expected.items():
        page = web.get(path + f"&lang={code}")
        assert page.status_code == 200 and heading in page.text, code
        assert f'<html lang="{code}">' in page.text
    # The switcher keeps tenant, invitation and ticket (the link would break otherwise).
    assert "ticket=" in page.text.split('hreflang="de"')[0].rsplit("<a href=", 1)[1]
    # A passcode email follows the invitee's language (messageLanguage of the invitation).
    other = _address()
    url = invite(tenant, other, invitedUserMessageInfo={"messageLanguage": "de-DE"})["inviteRedeemUrl"]
    fresh = TestClient(web.app, follow_redirects=False, client=("10.9.9.6", 1))
    open_link(fresh, url)
    send_code(fresh, tenant.id)
    from hospes.storage.tables import OutboxMessage

    with sessions() as session:
        subjects = [
            m.subject
            for m in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "otp"))
            if other in m.recipients
        ]
    assert subjects == ["Ihr Bestätigungscode für Contoso"]


def test_one_switch_for_passcodes_graph_and_portal(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    from sqlalchemy import update

    from hospes.storage.tables import B2BPolicy

    path = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email"
    assert tenant.patch(path, json={"allowExternalIdToUseEmailOtp": "disabled"}).status_code == 204
    with sessions.begin() as session:  # what the admin portal's switch does
        session.execute(update(B2BPolicy).where(B2BPolicy.tenant_id == tenant.id).values(email_otp_enabled=True))
    assert tenant.get(path).json()["allowExternalIdToUseEmailOtp"] == "enabled"
