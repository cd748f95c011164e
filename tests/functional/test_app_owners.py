"""App owners (Graph ``/servicePrincipals/{id}/owners``) manage their own app without a directory role: its page
and assignments in the portal, guests invited straight into it from My Apps, within the tenant's invitation
settings; another app stays out of reach."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers.graph import assert_graph_error
from tests.helpers.portal import csrf_of, sign_in
from tests.helpers.reviews import ref
from tests.helpers.tenants import TenantHandle

DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"


def new_app(tenant: TenantHandle, name: str) -> dict[str, Any]:
    app = tenant.post("/applications", json={"displayName": name}).json()
    sp: dict[str, Any] = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    return sp


def test_owners_on_graph(tenant: TenantHandle) -> None:
    sp = new_app(tenant, "Wiki")
    owner, guest = tenant.new_user(), tenant.new_user(userType="Guest")
    path = f"/servicePrincipals/{sp['id']}/owners"
    assert tenant.post(f"{path}/$ref", json=ref(owner["id"])).status_code == 204
    assert_graph_error(tenant.post(f"{path}/$ref", json=ref(owner["id"])), 400, "Request_BadRequest")
    assert_graph_error(tenant.post(f"{path}/$ref", json=ref(guest["id"])), 400, "Request_BadRequest")
    listed = tenant.get(path).json()["value"]
    assert [(o["@odata.type"], o["id"]) for o in listed] == [("#microsoft.graph.user", owner["id"])]
    assert tenant.delete(f"{path}/{owner['id']}/$ref").status_code == 204
    assert tenant.get(path).json()["value"] == []
    assert_graph_error(tenant.delete(f"{path}/{owner['id']}/$ref"), 404, "Request_ResourceNotFound")


def test_an_app_owner_invites_a_guest_into_their_app_from_my_apps(tenant: TenantHandle, web: TestClient) -> None:
    mine, other = new_app(tenant, "Wiki"), new_app(tenant, "Payroll")
    owner = tenant.new_user()
    assert tenant.post(f"/servicePrincipals/{mine['id']}/owners/$ref", json=ref(owner["id"])).status_code == 204
    assert sign_in(web, tenant.domain, owner["userPrincipalName"]).status_code == 303
    my_apps = web.get(f"/{tenant.domain}/myapps").text
    assert f"/admin/apps/{mine['id']}" in my_apps and 'id="invite-guest"' in my_apps
    assert f"/admin/apps/{other['id']}" not in my_apps
    assert web.get(f"/{tenant.domain}/admin/apps/{mine['id']}").status_code == 200
    assert web.get(f"/{tenant.domain}/admin/apps/{other['id']}").status_code == 403
    assert web.get(f"/{tenant.domain}/admin/users").status_code == 403  # no directory role
    form = web.get(f"/{tenant.domain}/admin/users/invite")
    assert form.status_code == 200 and mine["id"] in form.text and other["id"] not in form.text
    csrf = csrf_of(form.text)

    def invite(email: str, grant: str) -> Any:
        data = {"csrf": csrf, "email": email, "redirect_url": "https://wiki.example", "apps": grant}
        return web.post(f"/{tenant.domain}/admin/users/invite", data=data)

    assert invite("pat@partner.example", f"{other['id']}:{DEFAULT_ACCESS}").status_code == 400
    done = invite("pat@partner.example", f"{mine['id']}:{DEFAULT_ACCESS}")
    assert done.status_code == 303, done.text
    guest = tenant.get("/users", params={"$filter": "mail eq 'pat@partner.example'"}).json()["value"][0]
    assigned = tenant.get(f"/users/{guest['id']}/appRoleAssignments").json()["value"]
    assert [(a["resourceId"], a["appRoleId"]) for a in assigned] == [(mine["id"], DEFAULT_ACCESS)]
    # The owner also assigns an existing guest on the app's page.
    page = web.get(f"/{tenant.domain}/admin/apps/{mine['id']}")
    other_guest = tenant.new_user(userType="Guest")
    assigned = web.post(
        f"/{tenant.domain}/admin/apps/{mine['id']}/assign",
        data={"csrf": csrf_of(page.text), "principal": other_guest["userPrincipalName"], "role": DEFAULT_ACCESS},
    )
    assert assigned.status_code == 303, assigned.text
    # Within the tenant's invitation settings: once only admins and Guest Inviters may invite, the owner may not.
    policy = tenant.patch("/policies/authorizationPolicy", json={"allowInvitesFrom": "adminsAndGuestInviters"})
    assert policy.status_code == 204, policy.text
    refused = invite("kim@partner.example", f"{mine['id']}:{DEFAULT_ACCESS}")
    assert refused.status_code in (400, 403)
    assert tenant.get("/users", params={"$filter": "mail eq 'kim@partner.example'"}).json()["value"] == []
