"""The Groups screen: security and Microsoft 365 groups, edit (errors under their fields), delete through a
confirmation page, members and owners chosen by name (a picker, resolved by the server without the script)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers.portal import alerts, csrf_of, sign_in, sign_in_as_admin
from tests.helpers.tenants import TenantHandle


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, str]) -> Any:
    token = csrf_of(web.get(f"/{tenant.domain}/admin").text)
    return web.post(f"/{tenant.domain}{path}", data={"csrf": token, **data})


def _created_id(response: Any) -> str:
    assert response.status_code == 303, response.text
    found = re.search(r"/admin/groups/([0-9a-f-]{36})\?done=created$", response.headers["location"])
    assert found
    return found.group(1)


def _members(tenant: TenantHandle, group_id: str, relation: str = "members") -> list[str]:
    return sorted(m.get("displayName") for m in tenant.get(f"/groups/{group_id}/{relation}").json()["value"])


def test_security_and_microsoft_365_groups(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    m365 = _created_id(_post(web, tenant, "/admin/groups/new", {"name": "Project Falcon", "kind": "m365"}))
    body = tenant.get(f"/groups/{m365}").json()
    assert body["groupTypes"] == ["Unified"] and body["mailEnabled"] is True and body["securityEnabled"] is False
    assert body["mail"] == f"ProjectFalcon@{tenant.domain}"
    security = _created_id(_post(web, tenant, "/admin/groups/new", {"name": "Auditors", "kind": "security"}))
    body = tenant.get(f"/groups/{security}").json()
    assert body["groupTypes"] == [] and body["securityEnabled"] is True and body["mailEnabled"] is False
    listing = web.get(f"/{tenant.domain}/admin/groups").text
    assert re.search(r"Project Falcon</a></td><td[^>]*>Microsoft 365<", listing)
    assert re.search(r"Auditors</a></td><td[^>]*>Security<", listing)
    bad = _post(web, tenant, "/admin/groups/new", {"name": "X", "kind": "distribution"})
    assert bad.status_code == 400 and alerts(bad.text) == {"kind": "Choose a group type."}


def test_edit_a_group(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    group = tenant.new_group("Finance")
    path = f"/admin/groups/{group['id']}/edit"
    assert 'value="Finance"' in web.get(f"/{tenant.domain}{path}").text
    bad = _post(web, tenant, path, {"name": "", "description": "d" * 1025})
    assert bad.status_code == 400
    assert alerts(bad.text) == {"name": "Enter a name.", "description": "This is too long: at most 1024 characters."}
    assert tenant.get(f"/groups/{group['id']}").json()["displayName"] == "Finance"
    saved = _post(web, tenant, path, {"name": "Finance & Control", "description": "Month-end <close>"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("?done=saved")
    body = tenant.get(f"/groups/{group['id']}").json()
    assert body["displayName"] == "Finance & Control" and body["description"] == "Month-end <close>"
    page = web.get(f"/{tenant.domain}/admin/groups/{group['id']}?done=saved").text
    assert "The changes were saved." in page and "Month-end &lt;close&gt;" in page


def test_delete_a_group_after_confirming(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    group = tenant.new_group("Temporary")
    path = f"/admin/groups/{group['id']}/delete"
    unconfirmed = _post(web, tenant, path, {})
    assert unconfirmed.status_code == 303 and unconfirmed.headers["location"].endswith(path)
    assert tenant.get(f"/groups/{group['id']}").status_code == 200
    page = web.get(f"/{tenant.domain}{path}").text
    assert "Delete this group?" in page and 'name="confirm" value="yes"' in page
    done = _post(web, tenant, path, {"confirm": "yes"})
    assert done.status_code == 303 and done.headers["location"].endswith("/admin/groups?done=deleted")
    assert tenant.get(f"/groups/{group['id']}").status_code == 404
    assert tenant.get(f"/directory/deletedItems/{group['id']}").status_code == 200
    assert "The group was deleted." in web.get(done.headers["location"]).text
    assert web.get(f"/{tenant.domain}/admin/groups/{group['id']}").status_code == 404


def test_members_and_owners_are_picked_by_name(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    team = tenant.new_group("Team Blue")
    nested = tenant.new_group("Contractors")
    m365 = _created_id(_post(web, tenant, "/admin/groups/new", {"name": "Falcon", "kind": "m365"}))
    tenant.new_user("nina", displayName="Nina Verdi")
    tenant.new_user("nico", displayName="Nico Verdi")
    found = web.get(f"/{tenant.domain}/admin/pick", params={"kind": "groups", "q": "contract"}).json()["results"]
    assert [(r["kind"], r["name"]) for r in found] == [("group", "Contractors")]
    add = f"/admin/groups/{team['id']}/members/add"
    assert alerts(_post(web, tenant, add, {"member": "verdi"}).text)["member"].startswith("Several match")
    assert _post(web, tenant, add, {"member": "Nina"}).status_code == 303
    assert _post(web, tenant, add, {"member": "contractors"}).status_code == 303  # a group into a security group
    assert _members(tenant, team["id"]) == ["Contractors", "Nina Verdi"]
    assert alerts(_post(web, tenant, add, {"member": "Team Blue"}).text) == {
        "member": "A group can&#39;t be a member of itself."
    }
    # A Microsoft 365 group holds users only: a group's name finds nothing there.
    refused = _post(web, tenant, f"/admin/groups/{m365}/members/add", {"member": "Contractors"})
    assert alerts(refused.text) == {"member": "No user matches “Contractors”."}
    assert _post(web, tenant, f"/admin/groups/{team['id']}/owners/add", {"owner": "Nico"}).status_code == 303
    assert _members(tenant, team["id"], "owners") == ["Nico Verdi"]
    page = web.get(f"/{tenant.domain}/admin/groups/{team['id']}").text
    assert 'data-pick-url="/' in page and "kind=principals" in page
    assert nested["id"] in tenant.get(f"/groups/{team['id']}/members").text


def test_a_group_owner_adds_guests_by_name_only(web: TestClient, tenant: TenantHandle) -> None:
    owner = tenant.new_user("own")
    group = tenant.new_group(
        "Owned", **{"owners@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{owner['id']}"]}
    )
    tenant.new_user("olga", displayName="Olga Member")
    invite = {"invitedUserEmailAddress": "olga.guest@partner.example", "inviteRedirectUrl": "https://a.example"}
    assert tenant.post("/invitations", json=invite).status_code == 201
    assert sign_in(web, tenant.domain, owner["userPrincipalName"]).status_code == 303
    add = f"/admin/groups/{group['id']}/members/add"
    member = _post(web, tenant, add, {"member": f"olga@{tenant.domain}"})
    assert alerts(member.text) == {"member": "As a group owner you can add guest users only."}
    assert _post(web, tenant, add, {"member": "olga"}).status_code == 303  # the one guest named Olga
    assert [m.get("mail") for m in tenant.get(f"/groups/{group['id']}/members").json()["value"]] == [
        "olga.guest@partner.example"
    ]
    assert web.get(f"/{tenant.domain}/admin/groups/{group['id']}/edit").status_code == 403
    assert _post(web, tenant, f"/admin/groups/{group['id']}/delete", {"confirm": "yes"}).status_code == 403
    assert tenant.get(f"/groups/{group['id']}").status_code == 200
