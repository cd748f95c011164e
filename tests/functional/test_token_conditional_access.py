"""Conditional access at the token endpoint: a refresh is refused when a policy added after the sign-in blocks
(invalid_grant, AADSTS53003), wants a second factor the session never gave (interaction_required, 50076) or a
sign-in frequency ran out (invalid_grant, 70043); a report-only policy never refuses; the password grant is
decided the same way. Each decision is in the sign-in log with the policies and their results."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.storage.tables_sso import RefreshToken, SignIn
from tests.helpers.oidc import RelyingParty, admin_consent, answer_of, register_rp
from tests.helpers.portal import sign_in
from tests.helpers.tenants import ADMIN_PASSWORD, TenantHandle

POLICIES = "/identity/conditionalAccess/policies"


@pytest.fixture
def rp(tenant: TenantHandle) -> RelyingParty:
    party = register_rp(tenant)
    admin_consent(party)
    return party


def _policy(tenant: TenantHandle, users: dict[str, Any], apps: list[str], **body: Any) -> str:
    created = tenant.post(
        POLICIES,
        json={
            "displayName": body.pop("displayName", "token policy"),
            "state": body.pop("state", "enabled"),
            "conditions": {"users": users, "applications": {"includeApplications": apps}},
            **body,
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _tokens(tenant: TenantHandle, web: TestClient, rp: RelyingParty) -> tuple[dict[str, Any], str]:
    """A member signed in with a password, and the refresh token their browser sign-in gave the app."""
    user = tenant.new_user(mail=None)
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "response_type": "code",
        "scope": "openid profile offline_access",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = web.get(f"/{tenant.id}/oauth2/v2.0/authorize?{urlencode(query)}")
    assert response.status_code == 302, response.text[:300]
    code = answer_of(response.headers["location"])["code"]
    redeemed = tenant.client.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": rp.client_id,
            "client_secret": rp.secret,
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier,
        },
    )
    assert redeemed.status_code == 200, redeemed.text
    return user, str(redeemed.json()["refresh_token"])


def _refresh(rp: RelyingParty, token: str) -> Any:
    data = {
        "grant_type": "refresh_token",
        "client_id": rp.client_id,
        "client_secret": rp.secret,
        "refresh_token": token,
    }
    return rp.tenant.client.post(f"/{rp.tenant.id}/oauth2/v2.0/token", data=data)


def _rows(sessions: sessionmaker[Session], tenant_id: str, protocol: str) -> list[SignIn]:
    with sessions() as session:
        query = select(SignIn).where(SignIn.tenant_id == tenant_id, SignIn.protocol == protocol)
        return list(session.scalars(query.order_by(SignIn.created_at)))


def _applied(row: SignIn, policy_id: str) -> dict[str, Any]:
    [found] = [p for p in row.details["appliedConditionalAccessPolicies"] if p["id"] == policy_id]
    return dict(found)


def test_a_block_added_after_the_sign_in_stops_the_refresh(
    tenant: TenantHandle, web: TestClient, rp: RelyingParty, sessions: sessionmaker[Session]
) -> None:
    user, token = _tokens(tenant, web, rp)
    fine = _refresh(rp, token)
    assert fine.status_code == 200
    policy = _policy(
        tenant,
        {"includeUsers": [user["id"]]},
        [rp.client_id],
        grantControls={"operator": "OR", "builtInControls": ["block"]},
    )
    refused = _refresh(rp, fine.json()["refresh_token"])
    assert refused.status_code == 400
    assert (refused.json()["error"], refused.json()["error_codes"]) == ("invalid_grant", [53003])
    ok, blocked = _rows(sessions, tenant.id, "refreshToken")
    assert (ok.error_code, ok.conditional_access_status) == (0, "notApplied")
    assert (blocked.error_code, blocked.conditional_access_status, blocked.user_id) == (53003, "failure", user["id"])
    assert _applied(blocked, policy) == {
        "id": policy,
        "displayName": "token policy",
        "enforcedGrantControls": ["block"],
        "enforcedSessionControls": [],
        "result": "failure",
    }
    # The refused token was not spent: removing the policy lets it refresh again.
    assert tenant.delete(f"{POLICIES}/{policy}").status_code == 204
    assert _refresh(rp, fine.json()["refresh_token"]).status_code == 200


def test_mfa_the_session_never_gave_asks_for_interaction_and_report_only_never_refuses(
    tenant: TenantHandle, web: TestClient, rp: RelyingParty, sessions: sessionmaker[Session]
) -> None:
    user, token = _tokens(tenant, web, rp)
    watched = _policy(
        tenant,
        {"includeUsers": ["All"]},
        ["All"],
        state="enabledForReportingButNotEnforced",
        displayName="would block",
        grantControls={"operator": "OR", "builtInControls": ["block"]},
    )
    allowed = _refresh(rp, token)
    assert allowed.status_code == 200
    [row] = _rows(sessions, tenant.id, "refreshToken")
    assert (row.error_code, row.conditional_access_status) == (0, "notApplied")
    assert _applied(row, watched)["result"] == "reportOnlyFailure"
    mfa = _policy(
        tenant,
        {"includeUsers": [user["id"]]},
        [rp.client_id],
        grantControls={"operator": "OR", "builtInControls": ["mfa"]},
    )
    asked = _refresh(rp, allowed.json()["refresh_token"])
    assert (asked.json()["error"], asked.json()["error_codes"]) == ("interaction_required", [50076])
    last = _rows(sessions, tenant.id, "refreshToken")[-1]
    assert (last.error_code, last.conditional_access_status) == (50076, "failure")
    assert _applied(last, mfa)["result"] == "failure" and _applied(last, watched)["result"] == "reportOnlyFailure"


def test_an_expired_sign_in_frequency_ends_the_refresh_tokens(
    tenant: TenantHandle, web: TestClient, rp: RelyingParty, sessions: sessionmaker[Session]
) -> None:
    user, token = _tokens(tenant, web, rp)
    _policy(
        tenant,
        {"includeUsers": [user["id"]]},
        ["All"],
        sessionControls={"signInFrequency": {"isEnabled": True, "type": "hours", "value": 1}},
    )
    fresh = _refresh(rp, token)
    assert fresh.status_code == 200, fresh.text
    with sessions.begin() as session:  # the browser sign-in was two hours ago
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user["id"])
            .values(auth_time=utcnow() - timedelta(hours=2))
        )
    stale = _refresh(rp, fresh.json()["refresh_token"])
    assert (stale.json()["error"], stale.json()["error_codes"]) == ("invalid_grant", [70043])
    assert _rows(sessions, tenant.id, "refreshToken")[-1].error_code == 70043


def _ropc(client: TestClient, tenant: TenantHandle, username: str) -> Any:
    data = {
        "grant_type": "password",
        "client_id": tenant.boot.client_id,
        "username": username,
        "password": ADMIN_PASSWORD,
        "scope": "https://graph.microsoft.com/.default",
    }
    return client.post(f"/{tenant.domain}/oauth2/v2.0/token", data=data)


def test_the_password_grant_is_decided_and_logged(
    tenant: TenantHandle, client: TestClient, sessions: sessionmaker[Session]
) -> None:
    admin = tenant.boot.admin_user_principal_name
    assert _ropc(client, tenant, admin).status_code == 200
    assert _rows(sessions, tenant.id, "ropc") == []  # no policy: nothing to decide
    mfa = _policy(
        tenant, {"includeUsers": ["All"]}, ["All"], grantControls={"operator": "OR", "builtInControls": ["mfa"]}
    )
    asked = _ropc(client, tenant, admin)
    assert (asked.json()["error"], asked.json()["error_codes"]) == ("interaction_required", [50076])
    tenant.patch(f"{POLICIES}/{mfa}", json={"conditions": {"clientAppTypes": ["browser"]}})
    assert _ropc(client, tenant, admin).status_code == 200  # a native client's grant is out of the policy
    refused, allowed = _rows(sessions, tenant.id, "ropc")
    assert (refused.error_code, refused.conditional_access_status) == (50076, "failure")
    assert (allowed.error_code, allowed.conditional_access_status) == (0, "notApplied")
    assert _applied(allowed, mfa)["result"] == "notApplied"
