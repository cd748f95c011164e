"""Conditional access in the admin portal: a policy built on the editor is the one Graph reads back (and a Graph
policy opens in the editor unchanged); wrong input is shown under its field and nothing is saved; named locations;
the what-if tool answers as Graph's evaluate; deleting asks first. Global Administrators only."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers.portal import alerts, csrf_of, sign_in, sign_in_as_admin
from tests.helpers.tenants import TenantHandle

POLICIES = "/identity/conditionalAccess/policies"
LOCATIONS = "/identity/conditionalAccess/namedLocations"
PARTNER = "0f8b6a5e-1c2d-4e3f-9a8b-7c6d5e4f3a2b"


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, Any]) -> Any:
    token = csrf_of(web.get(f"/{tenant.domain}/admin").text)
    return web.post(f"/{tenant.domain}/admin{path}", data={"csrf": token, **data})


def _policies(tenant: TenantHandle) -> list[dict[str, Any]]:
    return list(tenant.get(POLICIES).json()["value"])


def test_a_policy_made_on_the_page_is_the_one_graph_reads(web: TestClient, tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice")
    group = tenant.new_group("Contractors")
    app = tenant.post("/applications", json={"displayName": "Payroll"}).json()
    assert tenant.post("/servicePrincipals", json={"appId": app["appId"]}).status_code == 201
    sign_in_as_admin(web, tenant)
    editor = web.get(f"/{tenant.domain}/admin/conditional-access/policies/new")
    assert editor.status_code == 200 and "Payroll" in editor.text
    form = {
        "name": "MFA for Payroll",
        "state": "enabled",
        "users_scope": "select",
        "include_users": alice["userPrincipalName"],
        "include_groups": "Contractors",
        "include_guests": "on",
        "include_guest_types": ["b2bCollaborationGuest", "b2bCollaborationMember"],
        "include_tenants_mode": "listed",
        "include_tenants": PARTNER,
        "apps_scope": "select",
        "include_apps": app["appId"],
        "client_types": ["browser"],
        "loc_scope": "any",
        "grant": "grant",
        "controls": ["mfa"],
        "operator": "OR",
        "frequency": "on",
        "frequency_kind": "timeBased",
        "frequency_value": "8",
        "frequency_unit": "hours",
    }
    saved = _post(web, tenant, "/conditional-access/policies/new", form)
    assert saved.status_code == 303, saved.text
    [policy] = _policies(tenant)
    users = policy["conditions"]["users"]
    assert policy["displayName"] == "MFA for Payroll" and policy["state"] == "enabled"
    assert users["includeUsers"] == [alice["id"]] and users["includeGroups"] == [group["id"]]
    guests = users["includeGuestsOrExternalUsers"]
    assert guests["guestOrExternalUserTypes"] == "b2bCollaborationGuest,b2bCollaborationMember"
    assert guests["externalTenants"]["members"] == [PARTNER]
    assert policy["conditions"]["applications"]["includeApplications"] == [app["appId"]]
    assert policy["conditions"]["clientAppTypes"] == ["browser"]
    assert policy["grantControls"]["builtInControls"] == ["mfa"]
    assert policy["sessionControls"]["signInFrequency"]["value"] == 8
    # Opened again and saved without a change, the policy stays the same.
    page = web.get(saved.headers["location"])
    assert page.status_code == 200 and "The policy was saved." in page.text
    assert alice["userPrincipalName"] in page.text and f"Contractors ({group['id']})" in page.text
    again = _post(web, tenant, f"/conditional-access/policies/{policy['id']}", form)
    assert again.status_code == 303
    [same] = _policies(tenant)
    assert same["conditions"] == policy["conditions"] and same["grantControls"] == policy["grantControls"]
    listing = web.get(f"/{tenant.domain}/admin/conditional-access").text
    assert "MFA for Payroll" in listing and "Require multifactor authentication" in listing


def test_wrong_input_is_shown_under_its_field_and_nothing_is_saved(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    form = {
        "name": "",
        "state": "enabled",
        "users_scope": "select",
        "include_users": "nobody@nowhere.example",
        "apps_scope": "select",
        "grant": "grant",
        "frequency": "on",
        "frequency_kind": "timeBased",
        "frequency_value": "99",
        "frequency_unit": "hours",
    }
    refused = _post(web, tenant, "/conditional-access/policies/new", form)
    assert refused.status_code == 400
    found = alerts(refused.text)
    assert found["name"] == "Enter a name."
    assert "nobody@nowhere.example" in found["include_users"]
    assert found["apps_scope"] == "Choose at least one application."
    assert found["grant"] == "Choose at least one control to require."
    assert found["frequency_value"] == "Enter a whole number from 1 to 23."
    assert 'value="nobody@nowhere.example"' in refused.text or "nobody@nowhere.example</textarea>" in refused.text
    assert _policies(tenant) == []
    # A rule only the service checks (a listed tenant must be a tenant id) comes back under its field too.
    service_refusal = _post(
        web,
        tenant,
        "/conditional-access/policies/new",
        {
            **form,
            "name": "x",
            "include_users": "",
            "include_guests": "on",
            "include_guest_types": "b2bCollaborationGuest",
            "include_tenants_mode": "listed",
            "include_tenants": "not-a-tenant",
            "apps_scope": "all",
            "controls": "mfa",
            "frequency": "",
        },
    )
    assert service_refusal.status_code == 400, service_refusal.text
    assert "not-a-tenant" in alerts(service_refusal.text)["include_guests"]
    assert _policies(tenant) == []


def test_a_graph_policy_opens_in_the_editor_and_is_deleted_after_confirming(
    web: TestClient, tenant: TenantHandle
) -> None:
    body = {
        "displayName": "Block guests off the portal",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "users": {
                "includeUsers": ["GuestsOrExternalUsers"],
                "excludeRoles": ["62e90394-69f5-4237-9190-012177145e10"],
            },
            "applications": {"includeApplications": ["MicrosoftAdminPortals"]},
            "clientAppTypes": ["all"],
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }
    created = tenant.post(POLICIES, json=body).json()
    sign_in_as_admin(web, tenant)
    page = web.get(f"/{tenant.domain}/admin/conditional-access/policies/{created['id']}").text
    assert 'id="grant-block" name="grant" value="block" checked' in page
    assert 'value="enabledForReportingButNotEnforced" checked' in page
    assert 'name="exclude_roles" value="62e90394-69f5-4237-9190-012177145e10" checked' in page
    confirm = web.get(f"/{tenant.domain}/admin/conditional-access/policies/{created['id']}/delete")
    assert confirm.status_code == 200 and "Delete this policy?" in confirm.text
    # Without the confirmation the post only leads back to the question.
    unconfirmed = _post(web, tenant, f"/conditional-access/policies/{created['id']}/delete", {})
    assert unconfirmed.status_code == 303 and unconfirmed.headers["location"].endswith("/delete")
    assert len(_policies(tenant)) == 1
    done = _post(web, tenant, f"/conditional-access/policies/{created['id']}/delete", {"confirm": "yes"})
    assert done.status_code == 303 and _policies(tenant) == []
    assert web.get(f"/{tenant.domain}/admin/conditional-access/policies/{created['id']}").status_code == 404


def test_named_locations(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    bad = _post(web, tenant, "/conditional-access/locations/new", {"kind": "ip", "name": "HQ", "ranges": "10.0/99"})
    assert bad.status_code == 400 and "10.0/99" in alerts(bad.text)["ranges"]
    made = _post(
        web,
        tenant,
        "/conditional-access/locations/new",
        {"kind": "ip", "name": "HQ", "ranges": "192.0.2.0/24\n2001:db8::/48", "trusted": "on"},
    )
    assert made.status_code == 303
    [hq] = tenant.get(LOCATIONS).json()["value"]
    assert hq["isTrusted"] is True and [r["cidrAddress"] for r in hq["ipRanges"]] == ["192.0.2.0/24", "2001:db8::/48"]
    countries = _post(
        web,
        tenant,
        "/conditional-access/locations/new",
        {"kind": "country", "name": "Nordics", "countries": ["SE", "NO"]},
    )
    assert countries.status_code == 303
    nordics = [x for x in tenant.get(LOCATIONS).json()["value"] if x["displayName"] == "Nordics"][0]
    assert nordics["countriesAndRegions"] == ["NO", "SE"]
    # A location a policy uses can't go.
    tenant.post(
        POLICIES,
        json={
            "displayName": "Outside HQ",
            "state": "enabled",
            "conditions": {
                "users": {"includeUsers": ["All"]},
                "applications": {"includeApplications": ["All"]},
                "locations": {"includeLocations": ["All"], "excludeLocations": [hq["id"]]},
            },
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        },
    )
    kept = _post(web, tenant, f"/conditional-access/locations/{hq['id']}/delete", {"confirm": "yes"})
    assert kept.status_code == 400 and "Outside HQ" in kept.text
    gone = _post(web, tenant, f"/conditional-access/locations/{nordics['id']}/delete", {"confirm": "yes"})
    assert gone.status_code == 303 and len(tenant.get(LOCATIONS).json()["value"]) == 1


def test_what_if_answers_as_graph_evaluate(web: TestClient, tenant: TenantHandle) -> None:
    bob = tenant.new_user("bob")
    tenant.post(
        POLICIES,
        json={
            "displayName": "MFA everywhere",
            "state": "enabled",
            "conditions": {"users": {"includeUsers": [bob["id"]]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        },
    )
    tenant.post(
        POLICIES,
        json={
            "displayName": "Block mobile",
            "state": "enabled",
            "conditions": {
                "users": {"includeUsers": ["All"]},
                "applications": {"includeApplications": ["All"]},
                "clientAppTypes": ["mobileAppsAndDesktopClients"],
            },
            "grantControls": {"operator": "OR", "builtInControls": ["block"]},
        },
    )
    sign_in_as_admin(web, tenant)
    url = f"/{tenant.domain}/admin/conditional-access/what-if"
    browser = web.get(
        url, params={"user": bob["userPrincipalName"], "app": "MicrosoftAdminPortals", "client": "browser"}
    )
    assert browser.status_code == 200 and "Asked for: mfa" in browser.text
    graph = tenant.post(
        "/identity/conditionalAccess/evaluate",
        json={
            "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": bob["id"]},
            "signInContext": {"includeApplications": ["MicrosoftAdminPortals"]},
            "signInConditions": {"clientAppType": "browser"},
        },
    ).json()["value"]
    for row in graph:
        shown = "Yes</span>" if row["policyApplies"] else "<td>No</td>"
        assert f'data-policy="{row["id"]}"' in browser.text
        assert shown in browser.text.split(f'data-policy="{row["id"]}"')[1].split("</tr>")[0]
    mobile = web.get(url, params={"user": bob["userPrincipalName"], "client": "mobileAppsAndDesktopClients"})
    assert "Blocked" in mobile.text
    unknown = web.get(url, params={"user": "ghost@nowhere.example", "ip": "not-an-ip"})
    assert unknown.status_code == 400 and set(alerts(unknown.text)) == {"user", "ip"}


def test_only_global_administrators(web: TestClient, tenant: TenantHandle) -> None:
    helper = tenant.new_user("helper")
    role = "fe930be7-5e62-47db-91af-98c3a49a38b1"  # User Administrator
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{helper['id']}"}
    assert tenant.post(f"/directoryRoles/{role}/members/$ref", json=ref).status_code == 204
    assert sign_in(web, tenant.domain, helper["userPrincipalName"]).status_code == 303
    assert web.get(f"/{tenant.domain}/admin/users").status_code == 200  # the role is real
    for path in ("conditional-access", "conditional-access/what-if", "settings/cross-tenant"):
        assert web.get(f"/{tenant.domain}/admin/{path}").status_code == 403
