"""Admin portal through the ASGI app: role checks on every screen, CSRF and origin checks on every form,
validation errors next to their field, nothing half-saved, escaping, tenant isolation, bulk invite."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hospes.domain.principals import GLOBAL_ADMINISTRATOR, GUEST_INVITER, USER_ADMINISTRATOR
from tests.helpers.portal import alerts, csrf_of, enrol_totp, sign_in, sign_in_as_admin
from tests.helpers.tenants import TenantHandle

PAGES = [
    "/admin",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/invite",
    "/admin/users/bulk",
    "/admin/groups",
    "/admin/groups/new",
    "/admin/apps",
    "/admin/apps/new",
    "/admin/settings/collaboration",
    "/admin/settings/organization",
    "/admin/audit",
    "/admin/outbox",
]
# Which of PAGES each kind of person may open (the others answer 403).
ALLOWED = {
    "global": set(PAGES),
    "user_admin": {
        "/admin",
        "/admin/users",
        "/admin/users/new",
        "/admin/users/invite",
        "/admin/users/bulk",
        "/admin/groups",
        "/admin/groups/new",
    },
    "guest_inviter": {"/admin", "/admin/users/invite", "/admin/users/bulk"},
    "group_owner": {"/admin", "/admin/users/invite", "/admin/groups"},
    "member": set(),
}


def _form_error(text: str) -> str:
    found = re.search(r'id="form-error">([^<]*)<', text)
    return found.group(1) if found else ""


def _grant(tenant: TenantHandle, role: str, user_id: str) -> None:
    body = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"}
    assert tenant.post(f"/directoryRoles/{role}/members/$ref", json=body).status_code == 204


def _person(tenant: TenantHandle, kind: str) -> dict[str, Any]:
    user = tenant.new_user()
    if kind == "user_admin":
        _grant(tenant, USER_ADMINISTRATOR, user["id"])
    elif kind == "guest_inviter":
        _grant(tenant, GUEST_INVITER, user["id"])
    elif kind == "global":
        _grant(tenant, GLOBAL_ADMINISTRATOR, user["id"])
    elif kind == "group_owner":
        tenant.new_group("Owned", **{"owners@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{user['id']}"]})
    return user


def _signed_in(web: TestClient, tenant: TenantHandle, kind: str) -> dict[str, Any]:
    user = _person(tenant, kind)
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    return user


def _csrf(web: TestClient, tenant: TenantHandle, path: str = "/admin") -> str:
    page = web.get(f"/{tenant.domain}{path}")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, Any], csrf: str | None = None) -> Any:
    return web.post(f"/{tenant.domain}{path}", data={"csrf": csrf or _csrf(web, tenant), **data})


def _users_with_mail(tenant: TenantHandle, address: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tenant.get("/users", params={"$filter": f"mail eq '{address}'"}).json()["value"]
    return found


# --- access ------------------------------------------------------------------------------------------------------


def test_signed_out_goes_to_sign_in(web: TestClient, tenant: TenantHandle) -> None:
    response = web.get(f"/{tenant.domain}/admin/users")
    assert response.status_code == 303
    assert response.headers["location"] == f"/{tenant.domain}/login?next=%2F{tenant.domain}%2Fadmin%2Fusers"


@pytest.mark.parametrize("kind", sorted(ALLOWED))
def test_role_matrix(web: TestClient, tenant: TenantHandle, kind: str) -> None:
    _signed_in(web, tenant, kind)
    for path in PAGES:
        response = web.get(f"/{tenant.domain}{path}")
        expected = 200 if path in ALLOWED[kind] else 403
        assert response.status_code == expected, (kind, path, response.status_code)
        if expected == 403:
            assert "You don&#39;t have access to this page" in response.text
            assert "Content-Security-Policy" in response.headers


def test_navigation_shows_only_permitted_screens(web: TestClient, tenant: TenantHandle) -> None:
    user = _signed_in(web, tenant, "guest_inviter")
    page = web.get(f"/{tenant.domain}/admin").text
    assert user["displayName"] in page and "Contoso" in page and "Sign out" in page
    assert "/admin/users/invite" in page and "/admin/apps" not in page and "/admin/audit" not in page


def test_a_role_removed_takes_effect_at_once(web: TestClient, tenant: TenantHandle) -> None:
    user = _signed_in(web, tenant, "user_admin")
    assert web.get(f"/{tenant.domain}/admin/users").status_code == 200
    assert tenant.delete(f"/directoryRoles/{USER_ADMINISTRATOR}/members/{user['id']}/$ref").status_code == 204
    assert web.get(f"/{tenant.domain}/admin/users").status_code == 403


def test_other_tenant_is_isolated(web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    stranger = other_tenant.new_user()
    assert web.get(f"/{tenant.domain}/admin/users/{stranger['id']}").status_code == 404
    # A session of this tenant means nothing on another tenant's portal.
    assert web.get(f"/{other_tenant.domain}/admin").status_code == 303
    listing = web.get(f"/{tenant.domain}/admin/users", params={"q": stranger["displayName"]}).text
    assert stranger["userPrincipalName"] not in listing


# --- CSRF and origin ---------------------------------------------------------------------------------------------

FORMS = [
    ("/admin/users/invite", {"email": "csrf@partner.example", "redirect_url": "https://example.com"}),
    ("/admin/users/new", {"display_name": "Csrf", "alias": "csrf", "domain": "x"}),
    ("/admin/groups/new", {"name": "Csrf group"}),
    ("/admin/apps/new", {"name": "Csrf app"}),
    ("/admin/settings/collaboration", {"allow_invites_from": "none"}),
    ("/admin/settings/organization", {"name": "Csrf Inc"}),
]


@pytest.mark.parametrize(("path", "data"), FORMS)
def test_forms_refuse_a_bad_token(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, str]) -> None:
    sign_in_as_admin(web, tenant)
    before = tenant.get("/policies/authorizationPolicy").json()["allowInvitesFrom"]
    response = _post(web, tenant, path, data, csrf="forged")
    assert response.status_code == 403
    assert "The form has expired or did not come from this site" in response.text
    assert _users_with_mail(tenant, "csrf@partner.example") == []
    assert tenant.get("/policies/authorizationPolicy").json()["allowInvitesFrom"] == before
    assert tenant.get("/organization").json()["value"][0]["displayName"] == "Contoso"


@pytest.mark.parametrize(("path", "data"), FORMS)
def test_forms_refuse_another_origin(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, str]) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    response = web.post(
        f"/{tenant.domain}{path}", data={"csrf": token, **data}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert "sent from another site" in response.text


def test_user_actions_need_the_token(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    victim = tenant.new_user()
    for action in ("block", "delete", "reset-redemption", "resend"):
        response = _post(web, tenant, f"/admin/users/{victim['id']}/{action}", {}, csrf="nope")
        assert response.status_code == 403
    assert tenant.get(f"/users/{victim['id']}?$select=accountEnabled").json()["accountEnabled"] is True


def test_get_changes_nothing(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    victim = tenant.new_user()
    confirm = web.get(f"/{tenant.domain}/admin/users/{victim['id']}/block")
    assert confirm.status_code == 200 and 'name="confirm" value="yes"' in confirm.text
    assert tenant.get(f"/users/{victim['id']}?$select=accountEnabled").json()["accountEnabled"] is True


# --- users -------------------------------------------------------------------------------------------------------


def test_invite_without_email_shows_the_link_and_adds_groups(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    group = tenant.new_group("Partners")
    response = _post(
        web,
        tenant,
        "/admin/users/invite",
        {
            "email": "Ann@Partner.example",
            "display_name": "Ann <b>Partner</b>",
            "redirect_url": "https://apps.example/start",
            "message": "Welcome",
            "groups": group["id"],
        },
    )
    assert response.status_code == 303, response.text
    response = web.get(response.headers["location"])
    assert response.status_code == 200, response.text
    link = re.search(r'id="redeem-link" type="text" readonly value="([^"]+)"', response.text)
    assert link and "/redeem?tenant=" in link.group(1)
    assert "Ann &lt;b&gt;Partner&lt;/b&gt;" in response.text
    guest = _users_with_mail(tenant, "Ann@partner.example")[0]
    members = tenant.get(f"/groups/{group['id']}/members").json()["value"]
    assert [m["id"] for m in members] == [guest["id"]]
    detail = web.get(f"/{tenant.domain}/admin/users/{guest['id']}").text
    assert "Pending acceptance" in detail and "Partners" in detail and "Ann &lt;b&gt;Partner&lt;/b&gt;" in detail


def test_invite_validation_errors_are_next_to_the_field(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    bad_email = _post(
        web, tenant, "/admin/users/invite", {"email": "not-an-address", "redirect_url": "https://a.example"}, token
    )
    assert bad_email.status_code == 400
    assert alerts(bad_email.text)["email"] == "This isn&#39;t an email address."  # plain words, no property name
    assert 'value="not-an-address"' in bad_email.text  # the form keeps what was typed
    bad_url = _post(
        web, tenant, "/admin/users/invite", {"email": "x@partner.example", "redirect_url": "javascript:alert(1)"}, token
    )
    assert bad_url.status_code == 400
    assert alerts(bad_url.text)["redirect_url"].startswith("Enter a web address starting with https://")
    assert _users_with_mail(tenant, "x@partner.example") == []


def test_invite_is_all_or_nothing(web: TestClient, tenant: TenantHandle) -> None:
    """The group vanishes between showing the form and sending it: no guest is left behind."""
    sign_in_as_admin(web, tenant)
    group = tenant.new_group("Short lived")
    token = _csrf(web, tenant, "/admin/users/invite")
    assert tenant.delete(f"/groups/{group['id']}").status_code == 204
    response = _post(
        web,
        tenant,
        "/admin/users/invite",
        {"email": "atomic@partner.example", "redirect_url": "https://a.example", "groups": group["id"]},
        token,
    )
    assert response.status_code == 400
    assert _users_with_mail(tenant, "atomic@partner.example") == []


def test_invite_policy_refusal_is_shown(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    assert (
        _post(
            web,
            tenant,
            "/admin/settings/collaboration",
            {"allow_invites_from": "everyone", "domain_mode": "block", "domains": "blocked.example"},
        ).status_code
        == 303
    )
    response = _post(
        web, tenant, "/admin/users/invite", {"email": "a@blocked.example", "redirect_url": "https://a.example"}
    )
    assert response.status_code == 400 and _form_error(response.text) == (
        "Your organization doesn&#39;t allow invitations to addresses at blocked.example."
    )


def test_create_member_and_its_errors(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    data = {"display_name": "Carol", "alias": "carol", "domain": tenant.domain, "enabled": "on"}
    created = _post(web, tenant, "/admin/users/new", data, token)
    assert created.status_code == 303
    created = web.get(created.headers["location"])
    assert created.status_code == 200
    password = re.search(r'id="new-password">([^<]+)<', created.text)
    assert password  # generated, shown once
    assert (
        sign_in(
            TestClient(web.app, follow_redirects=False), tenant.domain, f"carol@{tenant.domain}", password.group(1)
        ).status_code
        == 303
    )
    again = _post(web, tenant, "/admin/users/new", data, token)
    assert again.status_code == 400
    assert alerts(again.text)["upn"] == "Another user already has this user name. Choose another one."
    empty = _post(web, tenant, "/admin/users/new", {"alias": "", "domain": "other.example"}, token)
    assert empty.status_code == 400 and {"display_name", "upn"} <= set(alerts(empty.text))
    weak = _post(web, tenant, "/admin/users/new", {**data, "alias": "dave", "password": "short"}, token)
    assert weak.status_code == 400 and "password" in alerts(weak.text)
    assert tenant.get(f"/users/dave@{tenant.domain}").status_code == 404


def test_user_list_filters_search_and_paging(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    for i in range(27):
        tenant.new_user(f"zz{i:02d}", displayName=f"Zed {i:02d}")
    tenant.post(
        "/invitations",
        json={"invitedUserEmailAddress": "pending@partner.example", "inviteRedirectUrl": "https://a.example"},
    )
    first = web.get(f"/{tenant.domain}/admin/users", params={"q": "zed", "filter": "members"}).text
    assert "27 users" in first and "Page 1 of 2" in first and "Zed 00" in first and "Zed 26" not in first
    second = web.get(f"/{tenant.domain}/admin/users", params={"q": "zed", "filter": "members", "page": "2"}).text
    assert "Zed 26" in second and "Zed 00" not in second
    guests = web.get(f"/{tenant.domain}/admin/users", params={"filter": "pending"}).text
    assert "pending_partner.example#EXT#" in guests and "Zed" not in guests
    assert (
        web.get(f"/{tenant.domain}/admin/users", params={"q": "%", "filter": "bogus", "page": "x"}).status_code == 200
    )
    for page in ("²", "1²", "9" * 5000):  # str.isdigit() is true of '²', which int() refuses
        for screen in ("users", "groups", "apps", "audit", "outbox"):
            assert web.get(f"/{tenant.domain}/admin/{screen}", params={"page": page}).status_code == 200


def test_block_delete_restore(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    user = tenant.new_user()
    token = _csrf(web, tenant)
    yes = {"confirm": "yes"}
    assert _post(web, tenant, f"/admin/users/{user['id']}/block", yes, token).status_code == 303
    assert tenant.get(f"/users/{user['id']}?$select=accountEnabled").json()["accountEnabled"] is False
    assert _post(web, tenant, f"/admin/users/{user['id']}/delete", yes, token).status_code == 303
    assert tenant.get(f"/users/{user['id']}").status_code == 404
    deleted = web.get(f"/{tenant.domain}/admin/users", params={"filter": "deleted"}).text
    assert user["userPrincipalName"] in deleted
    assert _post(web, tenant, f"/admin/users/{user['id']}/restore", {}, token).status_code == 303
    assert tenant.get(f"/users/{user['id']}").status_code == 200


def test_user_admin_cannot_touch_a_global_admin(web: TestClient, tenant: TenantHandle) -> None:
    _signed_in(web, tenant, "user_admin")
    admin_id = tenant.get(f"/users/{tenant.boot.admin_user_principal_name}").json()["id"]
    assert _post(web, tenant, f"/admin/users/{admin_id}/block", {}).status_code == 403
    assert tenant.get(f"/users/{admin_id}?$select=accountEnabled").json()["accountEnabled"] is True


def test_resend_and_reset_redemption(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    invited = tenant.post(
        "/invitations", json={"invitedUserEmailAddress": "re@partner.example", "inviteRedirectUrl": "https://a.example"}
    ).json()
    user_id = invited["invitedUser"]["id"]
    token = _csrf(web, tenant)
    resent = _post(web, tenant, f"/admin/users/{user_id}/resend", {}, token)
    assert resent.status_code == 303
    resent = web.get(resent.headers["location"])
    assert resent.status_code == 200 and "An invitation email to re@partner.example is on its way." in resent.text
    reset = _post(web, tenant, f"/admin/users/{user_id}/reset-redemption", {"confirm": "yes"}, token)
    assert reset.status_code == 303 and "/admin/users/invite/done?result=" in reset.headers["location"]
    history = web.get(f"/{tenant.domain}/admin/users/{user_id}").text
    assert history.count("re@partner.example</td>") == 3 and "(reset)" in history
    member = tenant.new_user()
    refused = _post(web, tenant, f"/admin/users/{member['id']}/resend", {}, token)
    assert refused.status_code == 400 and "no invitation" in refused.text


# --- groups ------------------------------------------------------------------------------------------------------


def test_group_owner_manages_their_guests_only(web: TestClient, tenant: TenantHandle) -> None:
    owner = _signed_in(web, tenant, "group_owner")
    owned = next(g for g in tenant.get("/groups").json()["value"] if g["displayName"] == "Owned")
    other = tenant.new_group("Not mine")
    colleague = tenant.new_user()
    assert web.get(f"/{tenant.domain}/admin/groups/{other['id']}").status_code == 403
    token = _csrf(web, tenant, f"/admin/groups/{owned['id']}")
    invited = _post(
        web,
        tenant,
        "/admin/users/invite",
        {"email": "guest@partner.example", "redirect_url": "https://a.example", "groups": owned["id"]},
        token,
    )
    assert invited.status_code == 303, invited.text
    assert web.get(invited.headers["location"]).status_code == 200
    members = {m["id"] for m in tenant.get(f"/groups/{owned['id']}/members").json()["value"]}
    guest = _users_with_mail(tenant, "guest@partner.example")[0]
    assert members == {guest["id"]}
    # Not into someone else's group, and not without a group.
    into_other = _post(
        web,
        tenant,
        "/admin/users/invite",
        {"email": "g2@partner.example", "redirect_url": "https://a.example", "groups": other["id"]},
        token,
    )
    assert into_other.status_code == 400 and "groups" in into_other.text
    no_group = _post(
        web, tenant, "/admin/users/invite", {"email": "g3@partner.example", "redirect_url": "https://a.example"}, token
    )
    assert no_group.status_code == 400
    assert _users_with_mail(tenant, "g2@partner.example") == _users_with_mail(tenant, "g3@partner.example") == []
    # Members of the organization are not theirs to add; owners are not theirs to change.
    add_member = _post(
        web, tenant, f"/admin/groups/{owned['id']}/members/add", {"member": colleague["userPrincipalName"]}, token
    )
    assert add_member.status_code == 400 and "guest users only" in alerts(add_member.text)["member"]
    assert (
        _post(
            web, tenant, f"/admin/groups/{owned['id']}/owners/add", {"owner": colleague["userPrincipalName"]}, token
        ).status_code
        == 403
    )
    removed = _post(web, tenant, f"/admin/groups/{owned['id']}/members/{guest['id']}/remove", {}, token)
    assert removed.status_code == 303
    assert tenant.get(f"/groups/{owned['id']}/members").json()["value"] == []
    group_page = web.get(f"/{tenant.domain}/admin/groups/{owned['id']}")
    assert group_page.status_code == 200 and owner["userPrincipalName"] in group_page.text
    # Seed 001: the owner reaches this from My Apps too.
    my_apps = web.get(f"/{tenant.domain}/myapps").text
    assert 'id="manage-groups"' in my_apps and f"/{tenant.domain}/admin/groups" in my_apps


def test_my_apps_offers_no_administration_to_a_plain_member(web: TestClient, tenant: TenantHandle) -> None:
    _signed_in(web, tenant, "member")
    my_apps = web.get(f"/{tenant.domain}/myapps")
    assert my_apps.status_code == 200
    assert 'id="manage-groups"' not in my_apps.text and 'id="open-portal"' not in my_apps.text


def test_group_create_members_and_errors(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    empty = _post(web, tenant, "/admin/groups/new", {"name": ""}, token)
    assert empty.status_code == 400 and "name" in alerts(empty.text)
    created = _post(web, tenant, "/admin/groups/new", {"name": "Sales <team>", "owner_me": "on"}, token)
    assert created.status_code == 303
    group_path = created.headers["location"].split("?")[0].removeprefix(f"/{tenant.domain}")
    page = web.get(f"/{tenant.domain}{group_path}").text
    assert "Sales &lt;team&gt;" in page and "Sales <team>" not in page
    user = tenant.new_user()
    assert (
        _post(web, tenant, f"{group_path}/members/add", {"member": user["userPrincipalName"]}, token).status_code == 303
    )
    dup = _post(web, tenant, f"{group_path}/members/add", {"member": user["userPrincipalName"]}, token)
    assert dup.status_code == 400 and alerts(dup.text)["member"] == "Already in the group."
    unknown = _post(web, tenant, f"{group_path}/members/add", {"member": "nobody@nowhere.example"}, token)
    assert unknown.status_code == 400 and "No user" in alerts(unknown.text)["member"]


# --- apps, settings, logs ----------------------------------------------------------------------------------------


def test_app_create_and_assign(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    bad = _post(web, tenant, "/admin/apps/new", {"name": "Wiki", "roles": "has space"}, token)
    assert bad.status_code == 400 and "roles" in alerts(bad.text)
    assert not [a for a in tenant.get("/applications").json()["value"] if a["displayName"] == "Wiki"]
    created = _post(web, tenant, "/admin/apps/new", {"name": "Wiki", "roles": "Reader\nEditor"}, token)
    assert created.status_code == 303
    app_path = created.headers["location"].split("?")[0].removeprefix(f"/{tenant.domain}")
    page = web.get(f"/{tenant.domain}{app_path}").text
    roles = dict(
        (name, rid) for rid, name in re.findall(r'<option value="([0-9a-f-]{36})"[^>]*>([^<]+)</option>', page)
    )
    user = tenant.new_user()
    assigned = _post(
        web, tenant, f"{app_path}/assign", {"principal": user["userPrincipalName"], "role": roles["Editor"]}, token
    )
    assert assigned.status_code == 303
    rows = tenant.get(f"/users/{user['id']}/appRoleAssignments").json()["value"]
    assert [r["appRoleId"] for r in rows] == [roles["Editor"]]
    unknown = _post(web, tenant, f"{app_path}/assign", {"principal": "ghost", "role": roles["Editor"]}, token)
    assert unknown.status_code == 400 and "principal" in alerts(unknown.text)
    bad_role = _post(web, tenant, f"{app_path}/assign", {"principal": user["userPrincipalName"], "role": "x"}, token)
    assert bad_role.status_code == 400 and "role" in alerts(bad_role.text)


def test_collaboration_settings(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    saved = _post(
        web,
        tenant,
        "/admin/settings/collaboration",
        {
            "allow_invites_from": "adminsAndGuestInviters",
            "domain_mode": "allow",
            "domains": "partner.example\n*.friends.example",
        },
        token,
    )
    assert saved.status_code == 303
    assert tenant.get("/policies/authorizationPolicy").json()["allowInvitesFrom"] == "adminsAndGuestInviters"
    policies = tenant.get("/policies/b2bManagementPolicies").json()["value"]
    assert "partner.example" in policies[0]["definition"][0] and "AllowedDomains" in policies[0]["definition"][0]
    bad = _post(
        web,
        tenant,
        "/admin/settings/collaboration",
        {"allow_invites_from": "none", "domain_mode": "allow", "domains": "bad domain!"},
        token,
    )
    assert bad.status_code == 400 and "domains" in alerts(bad.text)
    # Nothing of the refused form was saved, not even the valid radio button.
    assert tenant.get("/policies/authorizationPolicy").json()["allowInvitesFrom"] == "adminsAndGuestInviters"
    empty_allow = _post(
        web,
        tenant,
        "/admin/settings/collaboration",
        {"allow_invites_from": "everyone", "domain_mode": "allow", "domains": ""},
        token,
    )
    assert empty_allow.status_code == 400 and "at least one domain" in alerts(empty_allow.text)["domains"]


def test_organization_properties(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant)
    bad = _post(
        web, tenant, "/admin/settings/organization", {"name": "", "privacy_url": "ftp://x", "language": "xx"}, token
    )
    assert bad.status_code == 400 and {"name", "language"} <= set(alerts(bad.text))
    bad_url = _post(web, tenant, "/admin/settings/organization", {"name": "Contoso", "privacy_url": "ftp://x"}, token)
    assert bad_url.status_code == 400 and "privacy_url" in alerts(bad_url.text)
    ok = _post(
        web,
        tenant,
        "/admin/settings/organization",
        {"name": "Contoso Ltd", "privacy_url": "https://contoso.example/privacy", "language": "fr-FR"},
        token,
    )
    assert ok.status_code == 303
    org = tenant.get("/organization").json()["value"][0]
    assert (
        org["displayName"] == "Contoso Ltd"
        and org["privacyProfile"]["statementUrl"] == "https://contoso.example/privacy"
    )


def test_audit_and_outbox(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    tenant.post(
        "/invitations",
        json={
            "invitedUserEmailAddress": "mail@partner.example",
            "inviteRedirectUrl": "https://a.example",
            "sendInvitationMessage": True,
        },
    )
    audit = web.get(f"/{tenant.domain}/admin/audit", params={"q": "invite", "result": "success"}).text
    assert "Invite external user" in audit and "mail_partner.example#EXT#" in audit
    outbox = web.get(f"/{tenant.domain}/admin/outbox").text
    assert "mail@partner.example" in outbox and "Waiting" in outbox


def _bulk_worker(web: TestClient) -> Any:
    """The background worker of the bulk-invite jobs (the in-process test app runs no background threads)."""
    from hospes.auth.crypto import secret_box
    from hospes.services.invitations.jobs_worker import BulkJobWorker

    state = web.app.state.runtime  # type: ignore[attr-defined]
    box = secret_box(state.settings.secret_key, state.settings.data_dir)
    return BulkJobWorker(state.database, state.settings, box, state.keys.seal)


def _run_bulk_jobs(web: TestClient) -> None:
    worker = _bulk_worker(web)
    while worker.work_once() is not None:
        pass


def _age_bulk_job(web: TestClient, job_id: str) -> None:
    from datetime import timedelta

    from hospes.storage.tables_bulk import BulkInviteJob

    with web.app.state.runtime.sessions.begin() as s:  # type: ignore[attr-defined]
        job = s.get(BulkInviteJob, job_id)
        job.created_at -= timedelta(minutes=1)


def test_bulk_invite_csv(web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    _run_bulk_jobs(web)  # jobs an earlier test may have left
    sign_in_as_admin(web, tenant)
    token = _csrf(web, tenant, "/admin/users/bulk")
    rows = "email,display name\n" + "".join(f"b{i}@partner.example,Bulk {i}\n" for i in range(5)) + "nope,Bad\n"
    response = web.post(
        f"/{tenant.domain}/admin/users/bulk",
        data={"csrf": token, "redirect_url": "https://a.example"},
        files={"file": ("guests.csv", rows, "text/csv")},
    )
    assert response.status_code == 303
    job, read_as = response.headers["location"].split("?", 1)
    assert read_as == "read=utf-8&sep=comma"
    waiting = web.get(job).text
    assert 'data-finished="false"' in waiting and "Waiting for the background worker" in waiting
    assert 'http-equiv="refresh"' in waiting and 'id="bulk-stalled"' not in waiting
    _age_bulk_job(web, job.rsplit("/", 1)[-1])
    assert 'id="bulk-stalled"' in web.get(job).text  # no worker took it in 30 s: the page says so
    _run_bulk_jobs(web)
    deadline = time.monotonic() + 30
    while 'data-finished="true"' not in (page := web.get(job).text):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "Finished: 5 invited, 1 failed, of 6 rows." in page
    assert 'http-equiv="refresh"' not in page
    results = web.get(f"{job}/results.csv")
    assert results.headers["content-type"].startswith("text/csv")
    lines = results.text.strip().splitlines()
    assert lines[0].startswith("row,email,result") and len(lines) == 7
    assert lines[-1].startswith("7,nope,error")
    assert all("/redeem?" in line for line in lines[1:6])  # no email sent: the links are in the file
    # Someone else cannot read these results (they hold redemption links).
    other = TestClient(web.app, follow_redirects=False)
    sign_in_as_admin(other, tenant)
    assert other.get(job).status_code == 200  # the same admin in another browser
    _signed_in(other, tenant, "guest_inviter")
    assert other.get(job).status_code == 404
    assert other.get(f"{job}/results.csv").status_code == 404
    global_admin = TestClient(web.app, follow_redirects=False)
    _signed_in(global_admin, tenant, "global")
    assert global_admin.get(f"{job}/results.csv").status_code == 200  # a Global Administrator sees every job
    elsewhere = TestClient(web.app, follow_redirects=False)
    sign_in_as_admin(elsewhere, other_tenant)
    job_id = job.rsplit("/", 1)[-1]
    assert elsewhere.get(f"/{other_tenant.domain}/admin/users/bulk/{job_id}").status_code == 404
    bad = web.post(
        f"/{tenant.domain}/admin/users/bulk",
        data={"csrf": token, "redirect_url": "https://a.example"},
        files={"file": ("x.csv", "name\nx\n", "text/csv")},
    )
    assert bad.status_code == 400 and "email" in alerts(bad.text)["file"]
    forged = web.post(
        f"/{tenant.domain}/admin/users/bulk",
        data={"csrf": "forged", "redirect_url": "https://a.example"},
        files={"file": ("x.csv", rows, "text/csv")},
    )
    assert forged.status_code == 403


def test_unreadable_input_gets_a_page(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    as_json = web.post(f"/{tenant.domain}/admin/users/invite", json={"email": "x"})
    assert as_json.status_code == 400 and "could not be read" in as_json.text
    huge = web.post(
        f"/{tenant.domain}/admin/users/invite",
        content=b"a=" + b"x" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 400
    assert web.get(f"/{tenant.domain}/admin/groups/not-a-guid").status_code == 404
    assert web.get(f"/{tenant.domain}/admin/apps/{'0' * 36}").status_code == 404


def test_guest_sign_in_settings(web: TestClient, tenant: TenantHandle, sessions: Any) -> None:
    from hospes.domain.principals import system_principal
    from hospes.services.guest_policy import GuestPolicyService

    sign_in_as_admin(web, tenant)
    saved = _post(
        web,
        tenant,
        "/admin/settings/collaboration",
        {"allow_invites_from": "everyone", "domain_mode": "", "require_guest_mfa": "on", "trust_home_mfa": "on"},
    )
    assert saved.status_code == 303
    policy = GuestPolicyService(sessions, system_principal(tenant.id)).get()
    assert (policy.email_otp, policy.require_guest_mfa, policy.trust_home_mfa) == (False, True, True)
    page = web.get(f"/{tenant.domain}/admin/settings/collaboration").text
    assert 'name="require_guest_mfa" checked' in page and 'name="email_otp_enabled" checked' not in page
    again = _post(
        web, tenant, "/admin/settings/collaboration", {"allow_invites_from": "everyone", "email_otp_enabled": "on"}
    )
    assert again.status_code == 303
    policy = GuestPolicyService(sessions, system_principal(tenant.id)).get()
    assert (policy.email_otp, policy.require_guest_mfa, policy.trust_home_mfa) == (True, False, False)


def test_reset_two_step_verification(web: TestClient, tenant: TenantHandle) -> None:

    user = tenant.new_user()
    phone = TestClient(web.app, follow_redirects=False, client=("10.9.8.7", 50000))
    assert sign_in(phone, tenant.domain, user["userPrincipalName"]).status_code == 303
    enrol_totp(phone, tenant.domain)
    assert phone.get(f"/{tenant.domain}/me").status_code == 200
    sign_in_as_admin(web, tenant)
    detail = web.get(f"/{tenant.domain}/admin/users/{user['id']}").text
    assert 'id="mfa-state">On<' in detail
    assert _post(web, tenant, f"/admin/users/{user['id']}/reset-mfa", {}, csrf="forged").status_code == 403
    assert _post(web, tenant, f"/admin/users/{user['id']}/reset-mfa", {}).status_code == 303
    assert 'id="mfa-state">Off<' in web.get(f"/{tenant.domain}/admin/users/{user['id']}").text
    assert phone.get(f"/{tenant.domain}/me").status_code == 303  # the session ended with the authenticator
    again = sign_in(phone, tenant.domain, user["userPrincipalName"])
    assert again.headers["location"] == f"/{tenant.domain}/me"  # no second factor asked any more


def test_one_bulk_upload_at_a_time_per_person(web: TestClient, tenant: TenantHandle) -> None:
    _run_bulk_jobs(web)
    _signed_in(web, tenant, "guest_inviter")
    token = _csrf(web, tenant, "/admin/users/bulk")

    def upload(client: TestClient, csrf: str, name: str) -> Any:
        return client.post(
            f"/{tenant.domain}/admin/users/bulk",
            data={"csrf": csrf, "redirect_url": "https://a.example"},
            files={"file": ("x.csv", f"email\n{name}@partner.example\n", "text/csv")},
        )

    assert upload(web, token, "first").status_code == 303
    second = upload(web, token, "second")
    assert second.status_code == 409
    assert "still being processed" in alerts(second.text)["file"]
    other = TestClient(web.app, follow_redirects=False)
    _signed_in(other, tenant, "guest_inviter")
    assert upload(other, _csrf(other, tenant, "/admin/users/bulk"), "third").status_code == 303  # someone else
    _run_bulk_jobs(web)
    assert upload(web, token, "second").status_code == 303  # the first one finished
    _run_bulk_jobs(web)


def test_guest_inviter_invites_without_groups(web: TestClient, tenant: TenantHandle) -> None:
    _signed_in(web, tenant, "guest_inviter")
    form = web.get(f"/{tenant.domain}/admin/users/invite").text
    assert 'name="groups"' not in form and 'name="apps"' not in form  # nothing but the invitation itself
    done = _post(
        web, tenant, "/admin/users/invite", {"email": "gi@partner.example", "redirect_url": "https://a.example"}
    )
    assert done.status_code == 303
    done = web.get(done.headers["location"])
    assert done.status_code == 200 and "Invitation created" in done.text
    assert "Open the user" not in done.text  # Guest Inviters do not open user pages
    assert len(_users_with_mail(tenant, "gi@partner.example")) == 1
    group = tenant.new_group("Not for inviters")
    refused = _post(
        web,
        tenant,
        "/admin/users/invite",
        {"email": "gi2@partner.example", "redirect_url": "https://a.example", "groups": group["id"]},
    )
    assert refused.status_code == 400 and _users_with_mail(tenant, "gi2@partner.example") == []


def test_an_expired_session_on_a_form_comes_back_to_the_overview(web: TestClient, tenant: TenantHandle) -> None:
    response = web.post(f"/{tenant.domain}/admin/users/invite", data={"csrf": "x", "email": "a@b.example"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/{tenant.domain}/login?next=%2F{tenant.domain}%2Fadmin"
