"""Conditional access decides guests' sign-ins: redemption asks the policies (MFA for one guest, a block with its
reason, report-only letting the guest in), and the "require MFA for guests" setting is a policy of its own."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import Principal
from hospes.services.guest_mfa_policy import GUEST_MFA_POLICY_NAME, guest_mfa_policy_id
from hospes.services.guest_policy import GuestPolicyService
from tests.helpers.redemption import invite, latest_code, open_link, send_code, submit_code
from tests.helpers.tenants import TenantHandle

POLICIES = "/identity/conditionalAccess/policies"


def _policy(tenant: TenantHandle, users: dict[str, Any], controls: list[str], state: str = "enabled") -> str:
    created = tenant.post(
        POLICIES,
        json={
            "displayName": f"Guests: {'+'.join(controls)}",
            "state": state,
            "conditions": {"users": users, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": controls},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _verified(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> tuple[str, Any]:
    """A new guest invited and past the email passcode: where the flow goes next."""
    address = f"g-{uuid.uuid4().hex[:6]}@partner.example"
    invitation = invite(tenant, address)
    open_link(web, invitation["inviteRedeemUrl"])
    send_code(web, tenant.id)
    verified = submit_code(web, tenant.id, latest_code(sessions, address))
    assert verified.status_code == 303, verified.text
    return invitation["invitedUser"]["id"], web.get(verified.headers["location"])


def test_a_policy_for_one_guest_asks_that_guest_only_for_mfa(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    address = f"ana-{uuid.uuid4().hex[:6]}@partner.example"
    ana = invite(tenant, address)
    _policy(tenant, {"includeUsers": [ana["invitedUser"]["id"]]}, ["mfa"])
    _, other = _verified(web, tenant, sessions)
    assert other.headers["location"].endswith("/redeem/consent")
    web.cookies.clear()
    open_link(web, ana["inviteRedeemUrl"])
    send_code(web, tenant.id)
    verified = submit_code(web, tenant.id, latest_code(sessions, address))
    assert web.get(verified.headers["location"]).headers["location"].endswith("/redeem/mfa")


def test_a_blocked_guest_sees_the_reason(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    _policy(tenant, {"includeUsers": ["GuestsOrExternalUsers"]}, ["block"])
    _, blocked = _verified(web, tenant, sessions)
    assert blocked.status_code == 403
    assert "AADSTS53003" in blocked.text and "conditional access policy" in blocked.text
    assert web.get(f"/{tenant.id}/myapps").status_code == 303  # not signed in
    logged = tenant.get("/auditLogs/signIns?$filter=status/errorCode eq 53003").json()["value"]
    assert [(r["userType"], r["conditionalAccessStatus"]) for r in logged] == [("Guest", "failure")]
    assert logged[0]["appliedConditionalAccessPolicies"][0]["result"] == "failure"


def test_report_only_lets_the_guest_in(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    _policy(tenant, {"includeUsers": ["GuestsOrExternalUsers"]}, ["block"], state="enabledForReportingButNotEnforced")
    _, step = _verified(web, tenant, sessions)
    assert step.headers["location"].endswith("/redeem/consent")


def test_an_excluded_guest_is_not_asked(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    address = f"bo-{uuid.uuid4().hex[:6]}@partner.example"
    bo = invite(tenant, address)
    _policy(tenant, {"includeUsers": ["GuestsOrExternalUsers"], "excludeUsers": [bo["invitedUser"]["id"]]}, ["block"])
    open_link(web, bo["inviteRedeemUrl"])
    send_code(web, tenant.id)
    verified = submit_code(web, tenant.id, latest_code(sessions, address))
    assert web.get(verified.headers["location"]).headers["location"].endswith("/redeem/consent")


def test_the_guest_mfa_setting_is_a_policy(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    service = GuestPolicyService(sessions, Principal(tenant.id, "system", "", "test"))
    url = f"{POLICIES}/{guest_mfa_policy_id(tenant.id)}"
    assert tenant.get(url).status_code == 404  # never turned on: no policy
    assert service.update(require_guest_mfa=False).require_guest_mfa is False
    assert tenant.get(url).status_code == 404
    assert service.update(require_guest_mfa=True).require_guest_mfa is True
    policy = tenant.get(url).json()
    assert policy["displayName"] == GUEST_MFA_POLICY_NAME and policy["state"] == "enabled"
    assert policy["conditions"]["users"]["includeUsers"] == ["GuestsOrExternalUsers"]
    assert policy["grantControls"]["builtInControls"] == ["mfa"]
    assert service.update(require_guest_mfa=False).require_guest_mfa is False
    assert tenant.get(url).json()["state"] == "disabled"  # kept, with whatever an administrator changed in it
    # Enabling the policy through Graph turns the setting on.
    assert tenant.patch(url, json={"state": "enabled"}).status_code == 204
    assert service.get().require_guest_mfa is True


def test_mfa_at_a_trusted_partner_satisfies_the_policy(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    from tests.functional.test_redemption_home import _home_round_trip
    from tests.helpers.portal import enrol_totp, sign_in
    from tests.helpers.redemption import path_of

    partner = tenant.post(
        "/policies/crossTenantAccessPolicy/partners",
        json={"tenantId": other_tenant.id, "inboundTrust": {"isMfaAccepted": True}},
    )
    assert partner.status_code == 201, partner.text
    _policy(tenant, {"includeUsers": ["GuestsOrExternalUsers"]}, ["mfa"])
    alice = other_tenant.new_user("alice")
    assert sign_in(web, other_tenant.domain, alice["userPrincipalName"]).status_code == 303
    totp, _codes = enrol_totp(web, other_tenant.domain)
    invitation = invite(tenant, alice["userPrincipalName"])
    assert open_link(web, invitation["inviteRedeemUrl"]).status_code == 303
    back = _home_round_trip(web, tenant, alice["userPrincipalName"], totp)
    returned = web.get(path_of(back.headers["location"]))
    went = web.get(returned.headers["location"])
    assert went.headers["location"].endswith("/redeem/consent")  # MFA done at the trusted partner counts
    # Once the partner is no longer trusted for MFA, the guest is asked here.
    assert (
        tenant.patch(
            f"/policies/crossTenantAccessPolicy/partners/{other_tenant.id}",
            json={"inboundTrust": {"isMfaAccepted": False}},
        ).status_code
        == 204
    )
    assert web.get(f"/{tenant.id}/redeem/continue").headers["location"].endswith("/redeem/mfa")
