"""Delegated Graph: a user's token acts with the token's scopes intersected with the user's own rights (directory
roles, member or guest, the tenant's guest access, group ownership); ``/me`` and its relations; app-only tokens on
``/me``; tenant isolation of user tokens."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.delegation import GUESTS_AS_MEMBERS, GUESTS_RESTRICTED
from hospes.domain.principals import GUEST_INVITER, USER_ADMINISTRATOR
from hospes.storage.tables import DirectoryRoleMember
from tests.helpers.delegated import as_scoped, give_role, scoped_token
from tests.helpers.graph import assert_graph_error
from tests.helpers.invitations import as_user, invite
from tests.helpers.tenants import TenantHandle

DEFAULT_USER_PROPS = {
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
}
DENIED = "Insufficient privileges to complete the operation."


def _denied(response: Any) -> None:
    assert assert_graph_error(response, 403, "Authorization_RequestDenied")["message"] == DENIED


def _set_policy(tenant: TenantHandle, **values: Any) -> None:
    assert tenant.patch("/policies/authorizationPolicy", json=values).status_code == 204


def test_member_reads_me_with_user_read(tenant: TenantHandle) -> None:
    ada = tenant.new_user("ada", jobTitle="Engineer")
    me = as_user(tenant, ada["userPrincipalName"])  # the password grant: User.Read + User.Invite.All
    body = me.get("/me").json()
    assert body["@odata.context"] == "http://testserver/v1.0/$metadata#users/$entity"
    assert body["id"] == ada["id"] and body["jobTitle"] == "Engineer"
    assert set(body) - {"@odata.context"} >= DEFAULT_USER_PROPS
    selected = me.get("/me?$select=id,userType,accountEnabled").json()
    assert {k for k in selected if not k.startswith("@")} == {"id", "userType", "accountEnabled"}
    assert selected["userType"] == "Member" and selected["accountEnabled"] is True
    assert_graph_error(me.get("/me?$select=shoeSize"), 400, "Request_BadRequest")
    # The own object by id or UPN is the same right; anybody else's is not.
    assert me.get(f"/users/{ada['id']}").status_code == 200
    assert me.get(f"/users/{ada['userPrincipalName'].upper()}").status_code == 200
    other = tenant.new_user("bob")
    _denied(me.get(f"/users/{other['id']}"))
    _denied(me.get("/users"))
    _denied(me.get("/users/delta"))


def test_guest_reads_me(tenant: TenantHandle) -> None:
    guest = tenant.new_user("gail", userType="Guest")
    body = as_user(tenant, guest["userPrincipalName"]).get("/me?$select=id,userType,displayName").json()
    assert body["id"] == guest["id"] and body["userType"] == "Guest" and body["displayName"] == "Gail"


def test_guests_see_less_per_the_guest_access_setting(tenant: TenantHandle) -> None:
    member = tenant.new_user("mia")
    guest = tenant.new_user("gus", userType="Guest")
    team = tenant.new_group("Team")
    owned = tenant.new_group("Owned")
    other = tenant.new_group("Other")
    tenant.post(f"/groups/{team['id']}/members/$ref", json={"@odata.id": f"x/{guest['id']}"})
    tenant.post(f"/groups/{owned['id']}/owners/$ref", json={"@odata.id": f"x/{guest['id']}"})
    scopes = ("User.Read.All", "Group.Read.All", "Application.Read.All", "Directory.Read.All")
    as_member, as_guest = as_scoped(tenant, member, *scopes), as_scoped(tenant, guest, *scopes)
    for path in ("/users", "/groups", "/applications", "/servicePrincipals", f"/users/{guest['id']}"):
        assert as_member.get(path).status_code == 200, path

    # Default (Guest User, limited): no listing, no other user; their own object, groups they own or belong to.
    for path in ("/users", "/groups", "/applications", "/servicePrincipals", f"/users/{member['id']}"):
        _denied(as_guest.get(path))
    _denied(as_guest.get(f"/groups/{other['id']}"))
    _denied(as_guest.get("/directoryRoles"))
    assert as_guest.get("/me").status_code == 200
    assert as_guest.get(f"/users/{guest['id']}").status_code == 200
    assert as_guest.get(f"/groups/{owned['id']}").status_code == 200
    assert as_guest.get(f"/groups/{team['id']}/members").status_code == 200

    # Restricted Guest User: groups they own only.
    _set_policy(tenant, guestUserRoleId=GUESTS_RESTRICTED)
    _denied(as_guest.get(f"/groups/{team['id']}"))
    assert as_guest.get(f"/groups/{owned['id']}").status_code == 200

    # User: guests see what members see.
    _set_policy(tenant, guestUserRoleId=GUESTS_AS_MEMBERS)
    for path in ("/users", "/groups", "/applications", f"/users/{member['id']}", f"/groups/{other['id']}"):
        assert as_guest.get(path).status_code == 200, path
    assert_graph_error(
        tenant.patch("/policies/authorizationPolicy", json={"guestUserRoleId": "not-a-role"}),
        400,
        "Request_BadRequest",
    )


def test_members_blocked_from_reading_other_users(tenant: TenantHandle) -> None:
    member = tenant.new_user("max")
    reader = as_scoped(tenant, member, "User.ReadBasic.All")
    assert reader.get("/users").status_code == 200
    _set_policy(tenant, defaultUserRolePermissions={"allowedToReadOtherUsers": False})
    _denied(reader.get("/users"))
    assert reader.get("/me").status_code == 200


def test_scope_without_user_read_is_refused_on_me(tenant: TenantHandle) -> None:
    user = tenant.new_user("ivy")
    for scopes in (("User.Invite.All",), ("Group.Read.All", "Application.Read.All"), ("Mail.Read",), ()):
        _denied(as_scoped(tenant, user, *scopes).get("/me"))
    for scopes in (("User.Read",), ("User.ReadBasic.All",), ("User.Read.All",), ("Directory.Read.All",)):
        assert as_scoped(tenant, user, *scopes).get("/me").status_code == 200, scopes


@pytest.mark.parametrize("path", ["/me", "/me/memberOf", "/me/transitiveMemberOf", "/me/appRoleAssignments"])
def test_app_token_on_me_is_a_bad_request(tenant: TenantHandle, path: str) -> None:
    error = assert_graph_error(tenant.get(path), 400, "BadRequest")
    assert error["message"] == "/me request is only valid with delegated authentication flow."


def test_scopes_never_exceed_the_users_roles(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    member = tenant.new_user("moe")
    admin = tenant.new_user("una")
    give_role(sessions, tenant, admin, USER_ADMINISTRATOR)
    target = tenant.new_user("tom")
    body = {"jobTitle": "Changed"}
    # Directory.ReadWrite.All and Group.ReadWrite.All are not delegated scopes Hospes acts on: they grant nothing.
    broad = ("User.ReadWrite.All", "Directory.ReadWrite.All", "Group.ReadWrite.All", "Policy.ReadWrite.Authorization")
    as_member = as_scoped(tenant, member, *broad)
    _denied(as_member.patch(f"/users/{target['id']}", json=body))
    _denied(as_member.delete(f"/users/{target['id']}"))
    _denied(as_member.post("/groups", json={"displayName": "X", "mailEnabled": False, "mailNickname": "x"}))
    _denied(as_member.patch("/policies/authorizationPolicy", json={"allowInvitesFrom": "none"}))
    _denied(as_member.get("/directory/deletedItems/microsoft.graph.user"))
    assert as_scoped(tenant, admin, *broad).patch(f"/users/{target['id']}", json=body).status_code == 204
    # The role is read per request: removing it takes effect with the same token.
    admin_token = as_scoped(tenant, admin, "User.ReadWrite.All")
    with sessions.begin() as session:
        session.execute(delete(DirectoryRoleMember).where(DirectoryRoleMember.principal_id == admin["id"]))
    _denied(admin_token.patch(f"/users/{target['id']}", json=body))
    assert tenant.get(f"/users/{target['id']}?$select=jobTitle").json()["jobTitle"] == "Changed"


def test_disabled_or_deleted_users_tokens_stop(tenant: TenantHandle) -> None:
    user = tenant.new_user("dan")
    me = as_scoped(tenant, user, "User.Read")
    assert me.get("/me").status_code == 200
    tenant.patch(f"/users/{user['id']}", json={"accountEnabled": False})
    assert_graph_error(me.get("/me"), 401, "InvalidAuthenticationToken")
    tenant.patch(f"/users/{user['id']}", json={"accountEnabled": True})
    assert me.get("/me").status_code == 200
    tenant.delete(f"/users/{user['id']}")
    assert_graph_error(me.get("/me"), 401, "InvalidAuthenticationToken")


def test_my_groups_and_what_the_scope_shows_of_them(tenant: TenantHandle) -> None:
    user = tenant.new_user("gwen")
    inner, outer, owned = tenant.new_group("Inner"), tenant.new_group("Outer"), tenant.new_group("Mine")
    tenant.post(f"/groups/{inner['id']}/members/$ref", json={"@odata.id": f"x/{user['id']}"})
    tenant.post(f"/groups/{outer['id']}/members/$ref", json={"@odata.id": f"x/{inner['id']}"})
    tenant.post(f"/groups/{owned['id']}/owners/$ref", json={"@odata.id": f"x/{user['id']}"})

    full = as_scoped(tenant, user, "User.Read", "GroupMember.Read.All")
    direct = full.get("/me/memberOf").json()
    assert direct["@odata.context"].endswith("$metadata#directoryObjects")
    assert [(g["@odata.type"], g["displayName"]) for g in direct["value"]] == [("#microsoft.graph.group", "Inner")]
    transitive = full.get("/me/transitiveMemberOf").json()["value"]
    assert sorted(g["displayName"] for g in transitive) == ["Inner", "Outer"]
    assert [g["displayName"] for g in full.get("/me/ownedObjects").json()["value"]] == ["Mine"]
    # One code path: /users/{id}/... answers the same.
    assert full.get(f"/users/{user['id']}/transitiveMemberOf").json()["value"] == transitive

    # User.Read alone: the groups are listed, but only their type and id (Graph's limited information).
    limited = as_scoped(tenant, user, "User.Read").get("/me/memberOf").json()["value"]
    assert limited == [
        {
            "@odata.type": "#microsoft.graph.group",
            **dict.fromkeys(limited[0].keys() - {"@odata.type", "id"}, None),
            "id": inner["id"],
        }
    ]
    assert limited[0]["displayName"] is None


def test_my_app_role_assignments(tenant: TenantHandle) -> None:
    user, other = tenant.new_user("alan"), tenant.new_user("olga")
    app = tenant.post("/applications", json={"displayName": "Payroll"}).json()
    sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    default = "00000000-0000-0000-0000-000000000000"
    for who in (user, other):
        body = {"principalId": who["id"], "resourceId": sp["id"], "appRoleId": default}
        assert tenant.post(f"/users/{who['id']}/appRoleAssignments", json=body).status_code == 201
    me = as_scoped(tenant, user, "User.Read")
    mine = me.get("/me/appRoleAssignments").json()["value"]
    assert [(a["principalId"], a["resourceDisplayName"], a["appRoleId"]) for a in mine] == [
        (user["id"], "Payroll", default)
    ]
    _denied(me.get(f"/users/{other['id']}/appRoleAssignments"))


def test_invitations_take_the_callers_inviter_rights(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    member, guest, inviter = tenant.new_user("mel"), tenant.new_user("gil", userType="Guest"), tenant.new_user("ira")
    give_role(sessions, tenant, inviter, GUEST_INVITER)
    admin = tenant.get(f"/users/{tenant.boot.admin_user_principal_name}").json()
    # Without User.Invite.All (or User.ReadWrite.All) nobody invites, the Global Administrator included.
    for user in (admin, member):
        _denied(invite(as_scoped(tenant, user, "User.Read", "Directory.Read.All"), f"no-{user['id'][:6]}@p.example"))
    # With it, the tenant's allowInvitesFrom decides, with the user's roles and type.
    _set_policy(tenant, allowInvitesFrom="adminsGuestInvitersAndAllMembers")
    assert invite(as_scoped(tenant, member, "User.Invite.All"), "m1@p.example").status_code == 201
    assert invite(as_scoped(tenant, member, "User.ReadWrite.All"), "m2@p.example").status_code == 201
    refused = invite(as_scoped(tenant, guest, "User.Invite.All"), "g1@p.example")
    assert "Guest invitations not allowed" in assert_graph_error(refused, 403, "Authorization_RequestDenied")["message"]
    _set_policy(tenant, allowInvitesFrom="adminsAndGuestInviters")
    assert invite(as_scoped(tenant, member, "User.Invite.All"), "m3@p.example").status_code == 403
    assert invite(as_scoped(tenant, inviter, "User.Invite.All"), "i1@p.example").status_code == 201
    _set_policy(tenant, allowInvitesFrom="everyone")
    assert invite(as_scoped(tenant, guest, "User.Invite.All"), "g2@p.example").status_code == 201


def test_user_tokens_never_see_another_tenant(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    mine = tenant.new_user("amy")
    theirs = other_tenant.new_user("ben")
    their_group = other_tenant.new_group("Theirs")
    scopes = ("User.Read.All", "Group.Read.All", "Directory.Read.All", "Application.Read.All")
    me = as_scoped(tenant, mine, *scopes)
    assert me.get("/me").json()["id"] == mine["id"]
    for path in (f"/users/{theirs['id']}", f"/users/{theirs['userPrincipalName']}", f"/groups/{their_group['id']}"):
        assert_graph_error(me.get(path), 404, "Request_ResourceNotFound")
    assert_graph_error(me.get(f"/users/{theirs['id']}/memberOf"), 404, "Request_ResourceNotFound")
    listed = {u["id"] for u in me.get("/users?$top=999").json()["value"]}
    assert mine["id"] in listed and theirs["id"] not in listed
    assert their_group["id"] not in {g["id"] for g in me.get("/groups").json()["value"]}
    # A token naming this tenant but the other tenant's user (as no issuer of ours mints) is refused outright.
    forged = scoped_token(tenant, theirs, "User.Read")
    assert_graph_error(
        tenant.client.get("/v1.0/me", headers={"Authorization": f"Bearer {forged}"}), 401, "InvalidAuthenticationToken"
    )
    # The other tenant's user, with a token of their own tenant, reads only their own.
    assert as_scoped(other_tenant, theirs, "User.Read").get("/me").json()["id"] == theirs["id"]
