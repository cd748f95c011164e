"""Who may invite (``allowInvitesFrom`` x caller kind, with delegated ROPC tokens) and whom (domain allow/deny
lists through ``b2bManagementPolicies``); the authorizationPolicy resource itself; the password grant."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import GUEST_INVITER, USER_ADMINISTRATOR
from hospes.storage.tables import DirectoryRoleMember
from tests.helpers.graph import assert_graph_error
from tests.helpers.invitations import as_user, invite, user_token
from tests.helpers.tenants import ADMIN_PASSWORD, TenantHandle

CALLERS = ("globalAdmin", "userAdmin", "guestInviter", "member", "guest", "app")
ALLOWED = {
    "none": set(),
    "adminsAndGuestInviters": {"globalAdmin", "userAdmin", "guestInviter", "app"},
    "adminsGuestInvitersAndAllMembers": {"globalAdmin", "userAdmin", "guestInviter", "member", "app"},
    "everyone": set(CALLERS),
}
NOT_ALLOWED = "Guest invitations not allowed for your company. Contact your company administrator for more details."


def _callers(tenant: TenantHandle, sessions: sessionmaker[Session]) -> dict[str, TenantHandle]:
    roles = {"userAdmin": USER_ADMINISTRATOR, "guestInviter": GUEST_INVITER}
    handles = {"app": tenant, "globalAdmin": as_user(tenant, tenant.boot.admin_user_principal_name, ADMIN_PASSWORD)}
    for kind in ("userAdmin", "guestInviter", "member", "guest"):
        extra = {"userType": "Guest"} if kind == "guest" else {}
        user = tenant.new_user(kind.lower(), **extra)
        if kind in roles:
            with sessions.begin() as session:
                session.add(
                    DirectoryRoleMember(
                        tenant_id=tenant.id,
                        role_template_id=roles[kind],
                        principal_id=user["id"],
                        principal_type="user",
                    )
                )
        handles[kind] = as_user(tenant, user["userPrincipalName"])
    return handles


def test_allow_invites_from_matrix(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    callers = _callers(tenant, sessions)
    assert tenant.get("/policies/authorizationPolicy").json()["allowInvitesFrom"] == "everyone"
    for setting, allowed in ALLOWED.items():
        assert tenant.patch("/policies/authorizationPolicy", json={"allowInvitesFrom": setting}).status_code == 204
        for kind, handle in callers.items():
            response = invite(handle, f"{kind}-{setting}@partner.example".lower())
            if kind in allowed:
                assert response.status_code == 201, (setting, kind, response.text)
            else:
                error = assert_graph_error(response, 403, "Authorization_RequestDenied")
                assert error["message"] == NOT_ALLOWED, (setting, kind)


def test_member_type_needs_an_admin(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    callers = _callers(tenant, sessions)
    assert invite(callers["member"], "m1@partner.example", invitedUserType="Member").status_code == 403
    assert invite(callers["guestInviter"], "m2@partner.example", invitedUserType="Member").status_code == 403
    assert invite(callers["userAdmin"], "m3@partner.example", invitedUserType="Member").status_code == 201
    # resetRedemption: administrators only for delegated callers
    guest = invite(tenant, "r@partner.example").json()
    body = {"invitedUser": {"id": guest["invitedUser"]["id"]}, "resetRedemption": True}
    assert invite(callers["guestInviter"], "r@partner.example", **body).status_code == 403
    assert invite(callers["userAdmin"], "r@partner.example", **body).status_code == 201


def test_user_inviter_is_default_sponsor_and_reply_to(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    callers = _callers(tenant, sessions)
    body = invite(callers["member"], "s@partner.example").json()
    sponsors = tenant.get(f"/users/{body['invitedUser']['id']}/sponsors").json()["value"]
    assert [s["userPrincipalName"] for s in sponsors] == [f"member@{tenant.domain}"]


def test_delegated_tokens_are_narrow(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    admin = as_user(tenant, tenant.boot.admin_user_principal_name, ADMIN_PASSWORD)
    # Even a Global Administrator's ROPC token only carries User.Invite.All / User.Read: no directory writes.
    assert_graph_error(admin.get("/users"), 403, "Authorization_RequestDenied")
    assert_graph_error(
        admin.patch("/policies/authorizationPolicy", json={"allowInvitesFrom": "none"}),
        403,
        "Authorization_RequestDenied",
    )


def test_password_grant_errors(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    def grant(**fields: Any) -> tuple[int, str]:
        data = {
            "grant_type": "password",
            "client_id": tenant.boot.client_id,
            "username": tenant.boot.admin_user_principal_name,
            "password": ADMIN_PASSWORD,
            "scope": "https://graph.microsoft.com/.default",
            **fields,
        }
        response = tenant.client.post(f"/{tenant.domain}/oauth2/v2.0/token", data=data)
        return response.status_code, response.json().get("error", "")

    assert grant()[0] == 200
    assert grant(password="wrong-password") == (400, "invalid_grant")
    assert grant(username=f"nobody@{tenant.domain}") == (400, "invalid_grant")
    assert grant(username=other_tenant.boot.admin_user_principal_name) == (400, "invalid_grant")
    assert grant(client_id=other_tenant.boot.client_id) == (400, "unauthorized_client")
    assert grant(client_secret="bad") == (401, "invalid_client")
    assert grant(client_secret=tenant.boot.client_secret)[0] == 200
    assert grant(username="") == (400, "invalid_request")
    guest = tenant.new_user("g" + uuid.uuid4().hex[:6], userType="Guest")
    token = user_token(tenant.client, tenant, guest["userPrincipalName"], "Correct-Horse-9")
    assert token
    tenant.patch(f"/users/{guest['id']}", json={"accountEnabled": False})
    assert grant(username=guest["userPrincipalName"], password="Correct-Horse-9") == (400, "invalid_grant")


def test_authorization_policy_resource(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    policy = tenant.get("/policies/authorizationPolicy").json()
    assert policy["@odata.context"].endswith("$metadata#policies/authorizationPolicy/$entity")
    assert policy["id"] == "authorizationPolicy"
    assert policy["guestUserRoleId"] == "10dae51f-b6af-4016-8d66-8c2a99b929b3"
    assert policy["defaultUserRolePermissions"]["allowedToReadOtherUsers"] is True
    patch = {"allowInvitesFrom": "adminsAndGuestInviters", "allowEmailVerifiedUsersToJoinOrganization": True}
    assert tenant.patch("/policies/authorizationPolicy", json=patch).status_code == 204
    after = tenant.get("/policies/authorizationPolicy").json()
    assert after["allowInvitesFrom"] == "adminsAndGuestInviters"
    assert after["allowEmailVerifiedUsersToJoinOrganization"] is True
    assert other_tenant.get("/policies/authorizationPolicy").json()["allowInvitesFrom"] == "everyone"
    assert_graph_error(
        tenant.patch("/policies/authorizationPolicy", json={"allowInvitesFrom": "all"}), 400, "Request_BadRequest"
    )
    assert_graph_error(tenant.patch("/policies/authorizationPolicy", json={"bogus": 1}), 400, "Request_BadRequest")


def _definition(allowed: list[str] | None = None, blocked: list[str] | None = None) -> list[str]:
    inner = {"AllowedDomains": allowed or [], "BlockedDomains": blocked or []}
    return [json.dumps({"B2BManagementPolicy": {"InvitationsAllowedAndBlockedDomainsPolicy": inner}})]


def test_deny_list(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    created = tenant.post(
        "/policies/b2bManagementPolicies",
        json={"displayName": "Deny", "definition": _definition(blocked=["live.example", "*.rivals.example"])},
    )
    assert created.status_code == 201, created.text
    policy = created.json()
    assert policy["@odata.type"] == "#microsoft.graph.b2bManagementPolicy" and policy["isOrganizationDefault"]
    error = assert_graph_error(invite(tenant, "a@live.example"), 400, "BadRequest")
    assert "'live.example'" in error["message"] and "blocked domain rule 'live.example'" in error["message"]
    error = assert_graph_error(invite(tenant, "a@eu.rivals.example"), 400, "BadRequest")
    assert "'*.rivals.example'" in error["message"]
    assert invite(tenant, "a@rivals.example").status_code == 201  # the wildcard covers subdomains only
    assert invite(tenant, "a@notlive.example").status_code == 201
    assert invite(other_tenant, "a@live.example").status_code == 201  # another tenant's policy does not apply
    # one policy per organization
    second = tenant.post("/policies/b2bManagementPolicies", json={"definition": _definition(blocked=["x.example"])})
    assert second.status_code == 409
    listed = tenant.get("/policies/b2bManagementPolicies").json()["value"]
    assert [p["id"] for p in listed] == [policy["id"]]
    assert tenant.delete(f"/policies/b2bManagementPolicies/{policy['id']}").status_code == 204
    assert invite(tenant, "b@live.example").status_code == 201


def test_allow_list(tenant: TenantHandle) -> None:
    policy = tenant.post(
        "/policies/b2bManagementPolicies",
        json={"definition": _definition(allowed=["partner.example", "*.ally.example"])},
    ).json()
    assert invite(tenant, "a@partner.example").status_code == 201
    assert invite(tenant, "a@x.ally.example").status_code == 201
    error = assert_graph_error(invite(tenant, "a@sub.partner.example"), 400, "BadRequest")
    assert "not on the allowed domains list" in error["message"] and policy["id"] in error["message"]
    # switch to a deny list with PATCH
    patch = {"definition": _definition(blocked=["partner.example"])}
    assert tenant.patch(f"/policies/b2bManagementPolicies/{policy['id']}", json=patch).status_code == 204
    assert invite(tenant, "b@partner.example").status_code == 400
    assert invite(tenant, "b@sub.partner.example").status_code == 201
    got = tenant.get(f"/policies/b2bManagementPolicies/{policy['id']}").json()
    assert json.loads(got["definition"][0])["B2BManagementPolicy"]["InvitationsAllowedAndBlockedDomainsPolicy"] == {
        "AllowedDomains": [],
        "BlockedDomains": ["partner.example"],
    }


@pytest.mark.parametrize(
    "definition",
    [
        ["not json"],
        [],
        "x",
        _definition(allowed=["a.example"], blocked=["b.example"]),
        _definition(blocked=["not a domain"]),
        [
            json.dumps(
                {
                    "B2BManagementPolicy": {
                        "InvitationsAllowedAndBlockedDomainsPolicy": {"BlockedDomains": ["a.example" * 3000]}
                    }
                }
            )
        ],
    ],
)
def test_bad_definitions(tenant: TenantHandle, definition: Any) -> None:
    response = tenant.post("/policies/b2bManagementPolicies", json={"definition": definition})
    assert_graph_error(response, 400, "Request_BadRequest")


def test_reinviting_an_existing_guest_does_not_make_the_caller_its_sponsor(
    tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    """A sponsor may block their guest and schedule its deletion (the sponsored guests page), so an invitation,
    which any user may send under ``everyone``, must not make its sender the sponsor of a guest that already
    exists: sponsors of an existing guest are changed by administrators."""
    callers = _callers(tenant, sessions)
    guest = invite(tenant, "kept@partner.example").json()["invitedUser"]["id"]
    first = tenant.new_user("first-sponsor")
    assert tenant.post(f"/users/{guest}/sponsors/$ref", json={"@odata.id": f"users/{first['id']}"}).status_code == 204
    member_id = tenant.get(f"/users/member@{tenant.domain}").json()["id"]
    assert invite(callers["member"], "kept@partner.example").status_code == 201  # a re-invite is still allowed
    explicit = {"invitedUserSponsors": [{"id": member_id}]}
    assert_graph_error(
        invite(callers["member"], "kept@partner.example", **explicit), 403, "Authorization_RequestDenied"
    )
    assert invite(callers["guest"], "kept@partner.example").status_code == 201
    sponsors = {s["id"] for s in tenant.get(f"/users/{guest}/sponsors").json()["value"]}
    assert sponsors == {first["id"]}
    # an administrator's invitation still names sponsors of an existing guest
    assert invite(callers["userAdmin"], "kept@partner.example", **explicit).status_code == 201
    sponsors = {s["id"] for s in tenant.get(f"/users/{guest}/sponsors").json()["value"]}
    assert sponsors == {first["id"], member_id}
    # a new guest still gets its inviter as sponsor
    fresh = invite(callers["member"], "fresh@partner.example").json()["invitedUser"]["id"]
    assert [s["id"] for s in tenant.get(f"/users/{fresh}/sponsors").json()["value"]] == [member_id]
