"""Tenant isolation: a token of one tenant gets 404/403 for every object of another, never its data."""

from __future__ import annotations

from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle, fetch_token


def test_other_tenant_objects_are_invisible(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    user = tenant.new_user("secret")
    group = tenant.new_group("Secret")
    tenant.post(f"/groups/{group['id']}/members/$ref", json={"@odata.id": f"x/{user['id']}"})
    app = tenant.post("/applications", json={"displayName": "Secret app"}).json()
    sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    tenant.delete(f"/users/{user['id']}")

    reads = [
        f"/users/{user['id']}",
        f"/users/secret@{tenant.domain}",
        f"/groups/{group['id']}",
        f"/groups/{group['id']}/members",
        f"/applications/{app['id']}",
        f"/servicePrincipals/{sp['id']}",
        f"/servicePrincipals/{sp['id']}/appRoleAssignedTo",
        f"/directory/deletedItems/{user['id']}",
        f"/organization/{tenant.id}",
        f"/directoryObjects/{group['id']}",
    ]
    for path in reads:
        assert_graph_error(other_tenant.get(path), 404, "Request_ResourceNotFound")
    writes = [
        ("PATCH", f"/groups/{group['id']}", {"description": "pwned"}),
        ("DELETE", f"/groups/{group['id']}", None),
        ("POST", f"/groups/{group['id']}/members/$ref", {"@odata.id": f"x/{user['id']}"}),
        ("POST", f"/directory/deletedItems/{user['id']}/restore", None),
        ("DELETE", f"/directory/deletedItems/{user['id']}", None),
        ("PATCH", f"/applications/{app['id']}", {"displayName": "pwned"}),
        ("POST", f"/applications/{app['id']}/addPassword", {}),
        ("PATCH", f"/organization/{tenant.id}", {"displayName": "pwned"}),
    ]
    for method, path, body in writes:
        response = (
            other_tenant.request(method, path, json=body) if body is not None else other_tenant.request(method, path)
        )
        assert_graph_error(response, 404, "Request_ResourceNotFound")

    listed = [u["id"] for u in other_tenant.get("/users?$top=999").json()["value"]] + [
        g["id"] for g in other_tenant.get("/groups").json()["value"]
    ]
    assert user["id"] not in listed and group["id"] not in listed
    audits = other_tenant.get("/auditLogs/directoryAudits?$top=999").json()["value"]
    assert all(a["targetResources"] == [] or a["targetResources"][0]["id"] != group["id"] for a in audits)
    # The other tenant's paging token cannot be replayed by this tenant.
    for i in range(3):
        tenant.new_user(f"p{i}")
    link = tenant.get("/users?$top=1").json()["@odata.nextLink"]
    assert_graph_error(other_tenant.get(link), 400, "Request_BadRequest")


def test_token_of_one_tenant_only_works_for_it(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    response = tenant.client.post(
        f"/{other_tenant.domain}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.boot.client_id,
            "client_secret": tenant.boot.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert fetch_token(tenant.client, tenant.id, tenant.boot.client_id, tenant.boot.client_secret)
