"""``/identity/conditionalAccess/policies`` and ``/namedLocations`` over HTTP: shapes, validation in the Graph
envelope, update merging, the legacy alias, permissions, audit and tenant isolation."""

from __future__ import annotations

from typing import Any

from hospes.domain.principals import system_principal
from hospes.services.apps import AppService
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle, fetch_token

POLICIES = "/identity/conditionalAccess/policies"
LOCATIONS = "/identity/conditionalAccess/namedLocations"


def mfa_for_guests(**extra: Any) -> dict[str, Any]:
    return {
        "displayName": "Guests: MFA",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "users": {
                "includeGuestsOrExternalUsers": {
                    "guestOrExternalUserTypes": "b2bCollaborationGuest,b2bCollaborationMember",
                    "externalTenants": {
                        "@odata.type": "#microsoft.graph.conditionalAccessEnumeratedExternalTenants",
                        "membershipKind": "enumerated",
                        "members": ["0b5a1b4e-3c5d-4f65-8f0e-6c1f2a3b4c5d"],
                    },
                }
            },
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["browser"],
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        "sessionControls": {"signInFrequency": {"isEnabled": True, "type": "hours", "value": 8}},
        **extra,
    }


def test_policy_lifecycle(tenant: TenantHandle) -> None:
    created = tenant.post(POLICIES, json=mfa_for_guests())
    assert created.status_code == 201, created.text
    policy = created.json()
    assert policy["@odata.context"].endswith("$metadata#identity/conditionalAccess/policies/$entity")
    assert policy["state"] == "enabledForReportingButNotEnforced" and policy["modifiedDateTime"] is None
    users = policy["conditions"]["users"]
    assert users["includeUsers"] == [] and users["excludeGroups"] == []
    guests = users["includeGuestsOrExternalUsers"]
    assert guests["guestOrExternalUserTypes"] == "b2bCollaborationGuest,b2bCollaborationMember"
    assert guests["externalTenants"]["members"] == ["0b5a1b4e-3c5d-4f65-8f0e-6c1f2a3b4c5d"]
    assert policy["conditions"]["locations"] is None
    assert policy["grantControls"] == {
        "operator": "OR",
        "builtInControls": ["mfa"],
        "customAuthenticationFactors": [],
        "termsOfUse": [],
    }
    frequency = policy["sessionControls"]["signInFrequency"]
    assert frequency["authenticationType"] == "primaryAndSecondaryAuthentication"
    assert frequency["frequencyInterval"] == "timeBased"

    url = f"{POLICIES}/{policy['id']}"
    # An update patches structured values member by member: clientAppTypes changes, users stay.
    patched = tenant.patch(url, json={"state": "enabled", "conditions": {"clientAppTypes": ["all"]}})
    assert patched.status_code == 204, patched.text
    read = tenant.get(url).json()
    assert read["state"] == "enabled" and read["conditions"]["clientAppTypes"] == ["all"]
    assert read["conditions"]["users"] == users and read["modifiedDateTime"] is not None
    assert tenant.get(f"/policies/conditionalAccessPolicies/{policy['id']}").json()["id"] == policy["id"]
    listed = tenant.get(POLICIES).json()
    assert [p["id"] for p in listed["value"]] == [policy["id"]]
    assert [p["id"] for p in tenant.get("/policies/conditionalAccessPolicies").json()["value"]] == [policy["id"]]

    audit = tenant.get("/auditLogs/directoryAudits?$filter=category eq 'Policy'").json()["value"]
    activities = {a["activityDisplayName"] for a in audit}
    assert {"Add conditional access policy", "Update conditional access policy"} <= activities

    assert tenant.delete(url).status_code == 204
    assert_graph_error(tenant.get(url), 404, "Request_ResourceNotFound")
    assert_graph_error(tenant.delete(url), 404, "Request_ResourceNotFound")


def test_policy_validation_errors(tenant: TenantHandle) -> None:
    base = mfa_for_guests()
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "state": "on"}, "state"),
        ({k: v for k, v in base.items() if k != "displayName"}, "displayName"),
        ({k: v for k, v in base.items() if k != "conditions"}, "conditions"),
        ({**base, "shoeSize": 4}, "shoeSize"),
        ({**base, "id": "x"}, "read-only"),
        ({**base, "grantControls": {"operator": "XOR", "builtInControls": ["mfa"]}}, "operator"),
        ({**base, "grantControls": {"operator": "OR", "builtInControls": ["block", "mfa"]}}, "block"),
        ({**base, "grantControls": {"operator": "OR", "builtInControls": ["fingerprint"]}}, "fingerprint"),
        ({**base, "conditions": {**base["conditions"], "clientAppTypes": ["fax"]}}, "fax"),
        ({**base, "conditions": {"applications": {"includeApplications": ["All"]}}}, "users"),
        ({**base, "conditions": {**base["conditions"], "users": {"includeUsers": ["someone"]}}}, "someone"),
        (
            {
                **base,
                "conditions": {
                    **base["conditions"],
                    "locations": {
                        "includeLocations": ["All"],
                        "excludeLocations": ["7f2b5a50-0000-4000-8000-000000000000"],
                    },
                },
            },
            "named location",
        ),
        ({**base, "sessionControls": {"signInFrequency": {"type": "hours", "value": 99}}}, "signInFrequency"),
        (
            {
                **base,
                "conditions": {
                    **base["conditions"],
                    "users": {"includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "aliens"}},
                },
            },
            "aliens",
        ),
        ([base], "JSON object"),
    ]
    for body, fragment in cases:
        error = assert_graph_error(tenant.post(POLICIES, json=body), 400, "Request_BadRequest")
        assert fragment in error["message"], (fragment, error)
    assert tenant.get(POLICIES).json()["value"] == []
    policy = tenant.post(POLICIES, json=base).json()
    error = assert_graph_error(
        tenant.patch(f"{POLICIES}/{policy['id']}", json={"grantControls": None, "sessionControls": None}),
        400,
        "Request_BadRequest",
    )
    assert "grant controls or session controls" in error["message"]


def test_named_locations(tenant: TenantHandle) -> None:
    body = {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "displayName": "Office",
        "isTrusted": True,
        "ipRanges": [
            {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "192.0.2.7/24"},
            {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8::/48"},
        ],
    }
    created = tenant.post(LOCATIONS, json=body)
    assert created.status_code == 201, created.text
    office = created.json()
    assert office["@odata.type"] == "#microsoft.graph.ipNamedLocation" and office["isTrusted"] is True
    assert [r["cidrAddress"] for r in office["ipRanges"]] == ["192.0.2.0/24", "2001:db8::/48"]
    country = tenant.post(
        LOCATIONS,
        json={
            "@odata.type": "#microsoft.graph.countryNamedLocation",
            "displayName": "Home",
            "countriesAndRegions": ["PT", "FR"],
        },
    ).json()
    assert country["countriesAndRegions"] == ["FR", "PT"] and country["countryLookupMethod"] == "clientIpAddress"
    assert [loc["id"] for loc in tenant.get(LOCATIONS).json()["value"]] == [office["id"], country["id"]]

    url = f"{LOCATIONS}/{office['id']}"
    assert (
        tenant.patch(url, json={"@odata.type": "#microsoft.graph.ipNamedLocation", "isTrusted": False}).status_code
        == 204
    )
    assert tenant.get(url).json()["isTrusted"] is False
    for bad, fragment in (
        ({**body, "ipRanges": [{"cidrAddress": "300.1.1.1/24"}]}, "CIDR"),
        (
            {**body, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "10.0.0.0/8"}]},
            "iPv6",
        ),
        ({**body, "ipRanges": []}, "non-empty"),
        ({**body, "@odata.type": "#microsoft.graph.planet"}, "@odata.type"),
        (
            {
                "@odata.type": "#microsoft.graph.countryNamedLocation",
                "displayName": "x",
                "countriesAndRegions": ["Portugal"],
            },
            "two-letter",
        ),
    ):
        error = assert_graph_error(tenant.post(LOCATIONS, json=bad), 400, "Request_BadRequest")
        assert fragment in error["message"], (fragment, error)
    error = assert_graph_error(
        tenant.patch(url, json={"@odata.type": "#microsoft.graph.countryNamedLocation"}), 400, "Request_BadRequest"
    )
    assert "cannot change" in error["message"]

    # A location in use by a policy can't be deleted; once the policy lets go of it, it can.
    policy = tenant.post(
        POLICIES,
        json=mfa_for_guests(
            conditions={
                **mfa_for_guests()["conditions"],
                "locations": {"includeLocations": ["All"], "excludeLocations": [office["id"]]},
            }
        ),
    ).json()
    assert policy["conditions"]["locations"]["excludeLocations"] == [office["id"]]
    error = assert_graph_error(tenant.delete(url), 400, "Request_BadRequest")
    assert "Guests: MFA" in error["message"]
    assert tenant.delete(f"{POLICIES}/{policy['id']}").status_code == 204
    assert tenant.delete(url).status_code == 204
    assert_graph_error(tenant.get(url), 404, "Request_ResourceNotFound")


def test_other_tenant_sees_nothing(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    policy = tenant.post(POLICIES, json=mfa_for_guests()).json()
    location = tenant.post(
        LOCATIONS,
        json={
            "@odata.type": "#microsoft.graph.ipNamedLocation",
            "displayName": "x",
            "ipRanges": [{"cidrAddress": "198.51.100.0/24"}],
        },
    ).json()
    assert other_tenant.get(POLICIES).json()["value"] == []
    assert other_tenant.get(LOCATIONS).json()["value"] == []
    for path in (f"{POLICIES}/{policy['id']}", f"{LOCATIONS}/{location['id']}"):
        assert_graph_error(other_tenant.get(path), 404, "Request_ResourceNotFound")
        assert_graph_error(other_tenant.patch(path, json={"displayName": "mine"}), 404, "Request_ResourceNotFound")
        assert_graph_error(other_tenant.delete(path), 404, "Request_ResourceNotFound")
    # Naming another tenant's location in a policy is an unknown location.
    body = mfa_for_guests()
    body["conditions"]["locations"] = {"includeLocations": [location["id"]]}
    assert_graph_error(other_tenant.post(POLICIES, json=body), 400, "Request_BadRequest")
    assert tenant.get(f"{POLICIES}/{policy['id']}").json()["displayName"] == "Guests: MFA"


def _headers(tenant: TenantHandle, permission: str) -> dict[str, str]:
    sessions = tenant.client.app.state.runtime.sessions  # type: ignore[attr-defined]
    apps = AppService(sessions, system_principal(tenant.id))
    with apps.write("ApplicationManagement", "Add application") as op:
        application = apps.insert_app(op, {"display_name": permission}, {})
        sp = apps.insert_sp(op, application)
        _, secret = apps.insert_secret(op, application, "t")
        apps.grant_permissions(op, sp, [permission])
    return {"Authorization": f"Bearer {fetch_token(tenant.client, tenant.domain, application.app_id, secret)}"}


def test_permissions(tenant: TenantHandle) -> None:
    client = tenant.client
    reader = _headers(tenant, "Policy.Read.All")
    writer = _headers(tenant, "Policy.ReadWrite.ConditionalAccess")
    other = _headers(tenant, "Policy.ReadWrite.Authorization")
    users = _headers(tenant, "User.Read.All")
    created = client.post(f"/v1.0{POLICIES}", headers=writer, json=mfa_for_guests())
    assert created.status_code == 201, created.text
    url = f"/v1.0{POLICIES}/{created.json()['id']}"
    assert client.get(url, headers=reader).status_code == 200
    assert client.get(f"/v1.0{LOCATIONS}", headers=other).status_code == 200
    for headers in (reader, other, users):
        assert_graph_error(
            client.post(f"/v1.0{POLICIES}", headers=headers, json=mfa_for_guests()), 403, "Authorization_RequestDenied"
        )
        assert_graph_error(client.delete(url, headers=headers), 403, "Authorization_RequestDenied")
    assert_graph_error(client.get(url, headers=users), 403, "Authorization_RequestDenied")


def test_answers_are_declared_in_metadata(tenant: TenantHandle) -> None:
    from hospes.domain.schema import CONDITIONAL_ACCESS_POLICY, COUNTRY_NAMED_LOCATION, IP_NAMED_LOCATION
    from tests.functional.test_metadata import _assert_declared, _declared

    types, _ = _declared(tenant.client)
    policy = tenant.post(POLICIES, json=mfa_for_guests()).json()
    _assert_declared(types, CONDITIONAL_ACCESS_POLICY, policy)
    _assert_declared(types, CONDITIONAL_ACCESS_POLICY, tenant.get(POLICIES).json()["value"][0])
    ip = {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "displayName": "x",
        "ipRanges": [{"cidrAddress": "::1/128"}],
    }
    _assert_declared(types, IP_NAMED_LOCATION, tenant.post(LOCATIONS, json=ip).json())
    country = {
        "@odata.type": "#microsoft.graph.countryNamedLocation",
        "displayName": "y",
        "includeUnknownCountriesAndRegions": True,
        "countriesAndRegions": [],
    }
    _assert_declared(types, COUNTRY_NAMED_LOCATION, tenant.post(LOCATIONS, json=country).json())
