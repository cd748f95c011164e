"""``/groups`` and membership through the ASGI app."""

from __future__ import annotations

from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle


def ref(object_id: str) -> dict[str, str]:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{object_id}"}


def test_group_crud_and_members(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice")
    group = tenant.new_group("Partners", description="External partners")
    assert group["groupTypes"] == [] and group["securityEnabled"] is True

    assert tenant.post(f"/groups/{group['id']}/members/$ref", json=ref(alice["id"])).status_code == 204
    duplicate = assert_graph_error(
        tenant.post(f"/groups/{group['id']}/members/$ref", json=ref(alice["id"])), 400, "Request_BadRequest"
    )
    assert duplicate["message"] == (
        "One or more added object references already exist for the following modified properties: 'members'."
    )
    members = tenant.get(f"/groups/{group['id']}/members").json()["value"]
    assert [(m["@odata.type"], m["id"]) for m in members] == [("#microsoft.graph.user", alice["id"])]
    member_of = tenant.get(f"/users/{alice['id']}/memberOf").json()["value"]
    assert [g["id"] for g in member_of] == [group["id"]]

    assert tenant.delete(f"/groups/{group['id']}/members/{alice['id']}/$ref").status_code == 204
    missing = assert_graph_error(
        tenant.delete(f"/groups/{group['id']}/members/{alice['id']}/$ref"), 400, "Request_BadRequest"
    )
    assert "do not exist" in missing["message"]
    assert tenant.get(f"/groups/{group['id']}/members").json()["value"] == []

    assert tenant.patch(f"/groups/{group['id']}", json={"description": "Changed"}).status_code == 204
    assert tenant.get(f"/groups/{group['id']}?$select=description").json()["description"] == "Changed"
    assert tenant.delete(f"/groups/{group['id']}").status_code == 204
    assert_graph_error(tenant.get(f"/groups/{group['id']}"), 404, "Request_ResourceNotFound")


def test_nested_groups_owners_and_binds(tenant: TenantHandle) -> None:
    bob = tenant.new_user("bob")
    inner = tenant.new_group("Inner")
    outer = tenant.new_group(
        "Outer",
        **{
            "members@odata.bind": [f"https://graph.microsoft.com/v1.0/directoryObjects/{inner['id']}"],
            "owners@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{bob['id']}"],
        },
    )
    owners = tenant.get(f"/groups/{outer['id']}/owners").json()["value"]
    assert [o["id"] for o in owners] == [bob["id"]]
    nested = tenant.get(f"/groups/{outer['id']}/members").json()["value"]
    assert nested[0]["@odata.type"] == "#microsoft.graph.group"
    # A cycle (inner contains outer, which contains inner) is refused.
    cycle = tenant.post(f"/groups/{inner['id']}/members/$ref", json=ref(outer["id"]))
    assert_graph_error(cycle, 400, "Request_BadRequest")
    self_member = tenant.post(f"/groups/{inner['id']}/members/$ref", json=ref(inner["id"]))
    assert_graph_error(self_member, 400, "Request_BadRequest")
    unknown = tenant.post(f"/groups/{inner['id']}/members/$ref", json=ref("00000000-0000-0000-0000-000000000001"))
    assert_graph_error(unknown, 404, "Request_ResourceNotFound")
    assert_graph_error(
        tenant.post(f"/groups/{inner['id']}/members/$ref", json={"@odata.id": 5}), 400, "Request_BadRequest"
    )


def test_member_paging(tenant: TenantHandle) -> None:
    group = tenant.new_group("Big")
    ids = sorted(tenant.new_user(f"m{i}")["id"] for i in range(5))
    for user_id in ids:
        tenant.post(f"/groups/{group['id']}/members/$ref", json=ref(user_id))
    seen, url = [], f"/groups/{group['id']}/members?$top=2"
    while url:
        body = tenant.get(url).json()
        seen += [m["id"] for m in body["value"]]
        url = body.get("@odata.nextLink", "")
    assert seen == ids


def test_group_required_properties(tenant: TenantHandle) -> None:
    error = assert_graph_error(tenant.post("/groups", json={"displayName": "X"}), 400, "Request_BadRequest")
    assert "mailNickname" in error["message"]
