"""Redemption through the pages (TestClient): the link, the email one-time passcode, consent, the Graph state
afterwards, decline, just-in-time redemption and My Apps."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables import ChangeLog
from tests.conftest import TenantHandle
from tests.functional.redeemflow import (
    accept,
    follow,
    invite,
    latest_code,
    open_link,
    redeem_with_otp,
    send_code,
    submit_code,
)
from tests.functional.webpages import csrf_of


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
