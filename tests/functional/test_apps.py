"""Applications, service principals and app role assignments of users and groups."""

from __future__ import annotations

from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle

ROLE_ID = "2f2a5d2c-0c0f-4a2a-9d6c-2a6a0b8e7c11"


def make_app(tenant: TenantHandle) -> tuple[dict[str, object], dict[str, object]]:
    roles = [
        {
            "id": ROLE_ID,
            "value": "Reader",
            "displayName": "Reader",
            "allowedMemberTypes": ["User"],
            "description": "Reads",
            "isEnabled": True,
        }
    ]
    app = tenant.post("/applications", json={"displayName": "8x8", "appRoles": roles})
    assert app.status_code == 201, app.text
    sp = tenant.post("/servicePrincipals", json={"appId": app.json()["appId"]})
    assert sp.status_code == 201, sp.text
    return app.json(), sp.json()


def test_application_and_service_principal(tenant: TenantHandle) -> None:
    app, sp = make_app(tenant)
    assert sp["appRoles"][0]["id"] == ROLE_ID  # type: ignore[index]
    assert sp["displayName"] == "8x8"
    duplicate = tenant.post("/servicePrincipals", json={"appId": app["appId"]})
    assert_graph_error(duplicate, 409, "Request_MultipleObjectsWithSameKeyValue")
    assert_graph_error(tenant.post("/servicePrincipals", json={"appId": "nope"}), 400, "Request_BadRequest")
    assert tenant.patch(f"/applications/{app['id']}", json={"displayName": "8x8 Work"}).status_code == 204
    assert tenant.get(f"/servicePrincipals/{sp['id']}").json()["displayName"] == "8x8 Work"
    listed = tenant.get("/applications?$filter=startswith(displayName,'8x8')").json()["value"]
    assert [a["id"] for a in listed] == [app["id"]]
    bad_roles = tenant.post("/applications", json={"displayName": "x", "appRoles": [{"id": "not-a-guid"}]})
    assert_graph_error(bad_roles, 400, "Request_BadRequest")


def test_app_role_assignments_for_users_and_groups(tenant: TenantHandle) -> None:
    _, sp = make_app(tenant)
    user = tenant.new_user("carol")
    group = tenant.new_group("Sales")
    body = {"principalId": user["id"], "resourceId": sp["id"], "appRoleId": ROLE_ID}
    created = tenant.post(f"/users/{user['id']}/appRoleAssignments", json=body)
    assert created.status_code == 201, created.text
    assignment = created.json()
    assert assignment["principalType"] == "User"
    assert assignment["principalDisplayName"] == "Carol"
    assert assignment["resourceDisplayName"] == "8x8"
    assert_graph_error(tenant.post(f"/users/{user['id']}/appRoleAssignments", json=body), 400, "Request_BadRequest")

    default = {"principalId": group["id"], "resourceId": sp["id"], "appRoleId": "00000000-0000-0000-0000-000000000000"}
    assert tenant.post(f"/servicePrincipals/{sp['id']}/appRoleAssignedTo", json=default).status_code == 201
    unknown_role = {**body, "appRoleId": "11111111-1111-1111-1111-111111111111"}
    assert_graph_error(
        tenant.post(f"/users/{user['id']}/appRoleAssignments", json=unknown_role), 400, "Request_BadRequest"
    )
    mismatch = {**body, "principalId": group["id"]}
    assert_graph_error(tenant.post(f"/users/{user['id']}/appRoleAssignments", json=mismatch), 400, "Request_BadRequest")

    assigned = tenant.get(f"/servicePrincipals/{sp['id']}/appRoleAssignedTo").json()["value"]
    assert sorted(a["principalType"] for a in assigned) == ["Group", "User"]
    assert tenant.delete(f"/users/{user['id']}/appRoleAssignments/{assignment['id']}").status_code == 204
    assert tenant.get(f"/users/{user['id']}/appRoleAssignments").json()["value"] == []
    assert_graph_error(
        tenant.delete(f"/users/{user['id']}/appRoleAssignments/{assignment['id']}"), 404, "Request_ResourceNotFound"
    )
