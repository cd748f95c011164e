"""Cross-tenant access settings decide which guests homed in another tenant of this deployment may sign in: the
resource tenant's inbound B2B collaboration setting (partner, else default) and the home tenant's outbound one.
A refused guest sees why (AADSTS500213 / 500212), the sign-in log says it, and nothing else changes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.tables_sso import SignIn
from tests.functional.test_redemption_home import _home_round_trip
from tests.helpers.portal import sign_in
from tests.helpers.redemption import invite, open_link, path_of
from tests.helpers.tenants import TenantHandle

PARTNERS = "/policies/crossTenantAccessPolicy/partners"


def _b2b(access: str, people: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "usersAndGroups": {"accessType": access, "targets": [{"target": t, "targetType": k} for t, k in people]},
        "applications": {"accessType": access, "targets": [{"target": "AllApplications", "targetType": "application"}]},
    }


def _redeem_from_home(web: TestClient, resource: TenantHandle, home: TenantHandle, upn: str) -> Any:
    """Invite ``upn`` (a member of ``home``) to ``resource`` and come back from signing in at home: the answer of
    the step after the home sign-in."""
    assert sign_in(web, home.domain, upn).status_code == 303
    invitation = invite(resource, upn)
    assert open_link(web, invitation["inviteRedeemUrl"]).status_code == 303
    back = _home_round_trip(web, resource, upn, None)
    returned = web.get(path_of(back.headers["location"]))
    return web.get(returned.headers["location"])


def _codes(sessions: sessionmaker[Session], tenant_id: str) -> list[int]:
    with sessions() as session:
        rows = session.scalars(select(SignIn).where(SignIn.tenant_id == tenant_id).order_by(SignIn.created_at))
        return [row.error_code for row in rows]


def test_the_resource_tenants_inbound_setting_refuses_a_partners_users(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    alice = other_tenant.new_user("alice")
    blocked = tenant.patch(
        "/policies/crossTenantAccessPolicy/default",
        json={"b2bCollaborationInbound": _b2b("blocked", [("AllUsers", "user")])},
    )
    assert blocked.status_code == 204, blocked.text
    refused = _redeem_from_home(web, tenant, other_tenant, alice["userPrincipalName"])
    assert refused.status_code == 403 and "AADSTS500213" in refused.text
    assert "cross-tenant access settings" in refused.text
    assert 500213 in _codes(sessions, tenant.id)


def test_a_partner_allows_one_home_group_while_the_default_blocks(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    alice, bob = other_tenant.new_user("alice"), other_tenant.new_user("bob")
    team = other_tenant.new_group("Partners team")
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{alice['id']}"}
    assert other_tenant.post(f"/groups/{team['id']}/members/$ref", json=ref).status_code == 204
    tenant.patch(
        "/policies/crossTenantAccessPolicy/default",
        json={"b2bCollaborationInbound": _b2b("blocked", [("AllUsers", "user")])},
    )
    partner = {"tenantId": other_tenant.id, "b2bCollaborationInbound": _b2b("allowed", [(team["id"], "group")])}
    assert tenant.post(PARTNERS, json=partner).status_code == 201
    allowed = _redeem_from_home(web, tenant, other_tenant, alice["userPrincipalName"])
    assert allowed.status_code == 303 and allowed.headers["location"].endswith("/redeem/consent")
    web.cookies.clear()
    refused = _redeem_from_home(web, tenant, other_tenant, bob["userPrincipalName"])
    assert refused.status_code == 403 and "AADSTS500213" in refused.text


def test_the_home_tenants_outbound_setting_keeps_its_users_home(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    alice = other_tenant.new_user("alice")
    outbound = {"tenantId": tenant.id, "b2bCollaborationOutbound": _b2b("blocked", [(alice["id"], "user")])}
    assert other_tenant.post(PARTNERS, json=outbound).status_code == 201
    refused = _redeem_from_home(web, tenant, other_tenant, alice["userPrincipalName"])
    assert refused.status_code == 403 and "AADSTS500212" in refused.text
    assert 500212 in _codes(sessions, tenant.id)
    # Lifting the block lets the same guest through at the next try.
    assert other_tenant.delete(f"{PARTNERS}/{tenant.id}").status_code == 204
    web.cookies.clear()
    allowed = _redeem_from_home(web, tenant, other_tenant, alice["userPrincipalName"])
    assert allowed.status_code == 303 and allowed.headers["location"].endswith("/redeem/consent")
