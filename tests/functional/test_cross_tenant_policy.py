"""``/policies/crossTenantAccessPolicy``: the policy, its default configuration, partners with automatic
redemption and ``identitySynchronization``, as Graph's cross-tenant synchronization setup calls them; errors,
permission and tenant isolation; the answers match ``$metadata``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.tokens import GRAPH_AUDIENCE
from hospes.domain.schema import (
    Resource,
)
from hospes.domain.schema_cross_tenant import (
    CROSS_TENANT_ACCESS_POLICY,
    CROSS_TENANT_DEFAULT,
    CROSS_TENANT_PARTNER,
    CROSS_TENANT_SYNC_POLICY,
)
from hospes.services.cross_tenant_policy import NO_AUTO_REDEEM, NO_INBOUND_SYNC, sync_refusal
from tests.functional.test_metadata import _assert_declared, _declared
from tests.helpers.cross_tenant import allow_sync
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle

BASE = "/policies/crossTenantAccessPolicy"
PARTNERS = BASE + "/partners"


def _with_roles(tenant: TenantHandle, *roles: str) -> TenantHandle:
    issuer = tenant.client.app.state.runtime.issuer  # type: ignore[attr-defined]
    app_id = tenant.boot.client_id
    sp_id = tenant.get(f"/servicePrincipals?$filter=appId eq '{app_id}'").json()["value"][0]["id"]
    token, _ = issuer.issue_app_token(tenant.id, app_id, sp_id, "limited", list(roles), GRAPH_AUDIENCE)
    return TenantHandle(tenant.boot, tenant.client, token)


def test_partner_create_answers_graphs_shape_and_refuses_a_duplicate(tenant: TenantHandle) -> None:
    partner_id = str(uuid.uuid4())
    created = tenant.post(PARTNERS, json={"tenantId": partner_id})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["@odata.context"].endswith("$metadata#policies/crossTenantAccessPolicy/partners/$entity")
    assert body["tenantId"] == partner_id
    assert body["automaticUserConsentSettings"] == {"inboundAllowed": None, "outboundAllowed": None}
    for key in ("isServiceProvider", "inboundTrust", "b2bCollaborationInbound", "b2bDirectConnectOutbound"):
        assert body[key] is None
    again = tenant.post(PARTNERS, json={"tenantId": partner_id.upper()})
    error = assert_graph_error(again, 409, "Request_MultipleObjectsWithSameKeyValue")
    assert "same value for property tenantId" in error["message"]
    listed = tenant.get(PARTNERS).json()["value"]
    assert [p["tenantId"] for p in listed] == [partner_id]


def test_partner_update_and_delete(tenant: TenantHandle) -> None:
    partner_id = str(uuid.uuid4())
    tenant.post(PARTNERS, json={"tenantId": partner_id})
    b2b = {"usersAndGroups": {"accessType": "blocked", "targets": [{"target": "AllUsers", "targetType": "user"}]}}
    patch = {
        "inboundTrust": {"isMfaAccepted": True},
        "b2bCollaborationInbound": b2b,
        "automaticUserConsentSettings": {"inboundAllowed": True},
    }
    assert tenant.patch(f"{PARTNERS}/{partner_id}", json=patch).status_code == 204
    outbound = {"automaticUserConsentSettings": {"outboundAllowed": True}}
    assert tenant.patch(f"{PARTNERS}/{partner_id}", json=outbound).status_code == 204
    got = tenant.get(f"{PARTNERS}/{partner_id}").json()
    assert got["automaticUserConsentSettings"] == {"inboundAllowed": True, "outboundAllowed": True}
    assert got["inboundTrust"]["isMfaAccepted"] is True and got["inboundTrust"]["isCompliantDeviceAccepted"] is False
    assert got["b2bCollaborationInbound"] == b2b
    assert tenant.delete(f"{PARTNERS}/{partner_id}").status_code == 204
    assert_graph_error(tenant.get(f"{PARTNERS}/{partner_id}"), 404, "Request_ResourceNotFound")
    assert_graph_error(tenant.delete(f"{PARTNERS}/{partner_id}"), 404, "Request_ResourceNotFound")


def test_identity_synchronization_put_creates_then_patch_get_delete(tenant: TenantHandle) -> None:
    partner_id = str(uuid.uuid4())
    sync = f"{PARTNERS}/{partner_id}/identitySynchronization"
    body = {"displayName": "Fabrikam", "userSyncInbound": {"isSyncAllowed": True}}
    assert_graph_error(tenant.request("PUT", sync, json=body), 404, "Request_ResourceNotFound")  # no partner yet
    tenant.post(PARTNERS, json={"tenantId": partner_id})
    assert_graph_error(tenant.get(sync), 404, "Request_ResourceNotFound")
    assert_graph_error(tenant.patch(sync, json=body), 404, "Request_ResourceNotFound")  # PATCH does not create
    assert tenant.request("PUT", sync, json=body).status_code == 204
    got = tenant.get(sync).json()
    assert got["tenantId"] == partner_id and got["displayName"] == "Fabrikam"
    assert got["userSyncInbound"] == {"isSyncAllowed": True}
    assert got["@odata.context"].endswith(f"partners('{partner_id}')/identitySynchronization/$entity")
    assert tenant.patch(sync, json={"userSyncInbound": {"isSyncAllowed": False}}).status_code == 204
    assert tenant.get(sync).json() == {**got, "userSyncInbound": {"isSyncAllowed": False}}
    assert tenant.request("PUT", sync, json={"userSyncInbound": {"isSyncAllowed": True}}).status_code == 204
    assert tenant.get(sync).json()["displayName"] is None  # PUT replaces the whole object
    assert tenant.delete(sync).status_code == 204
    assert_graph_error(tenant.get(sync), 404, "Request_ResourceNotFound")


def test_default_configuration_and_the_policy(tenant: TenantHandle) -> None:
    default = tenant.get(f"{BASE}/default").json()
    assert default["isServiceDefault"] is True
    assert default["automaticUserConsentSettings"] == {"inboundAllowed": False, "outboundAllowed": False}
    assert default["b2bCollaborationInbound"]["usersAndGroups"]["accessType"] == "allowed"
    assert default["b2bDirectConnectInbound"]["applications"]["accessType"] == "blocked"
    trust = {"inboundTrust": {"isMfaAccepted": True, "isCompliantDeviceAccepted": False}}
    assert tenant.patch(f"{BASE}/default", json=trust).status_code == 204
    changed = tenant.get(f"{BASE}/default").json()
    assert changed["isServiceDefault"] is False and changed["inboundTrust"]["isMfaAccepted"] is True
    refused = tenant.patch(f"{BASE}/default", json={"automaticUserConsentSettings": {"inboundAllowed": True}})
    assert_graph_error(refused, 400, "Request_BadRequest")
    assert tenant.post(f"{BASE}/default/resetToSystemDefault").status_code == 204
    assert tenant.get(f"{BASE}/default").json() == default
    policy = tenant.get(BASE).json()
    assert policy["displayName"] == "CrossTenantAccessPolicy" and policy["allowedCloudEndpoints"] == []
    assert tenant.patch(BASE, json={"allowedCloudEndpoints": ["microsoftonline.us"]}).status_code == 204
    assert tenant.get(BASE).json()["allowedCloudEndpoints"] == ["microsoftonline.us"]


def test_bad_input_is_a_400_never_a_500(tenant: TenantHandle) -> None:
    partner_id = str(uuid.uuid4())
    bad_creates: list[Any] = [
        {},
        {"tenantId": "not-a-guid"},
        {"tenantId": tenant.id},  # itself
        {"tenantId": partner_id, "unknown": 1},
        {"tenantId": partner_id, "automaticUserConsentSettings": {"inboundAllowed": "yes"}},
        {"tenantId": partner_id, "b2bCollaborationInbound": {"usersAndGroups": {"accessType": "maybe"}}},
        {"tenantId": partner_id, "identitySynchronization": {}},
        [],
    ]
    for body in bad_creates:
        assert_graph_error(tenant.post(PARTNERS, json=body), 400, "Request_BadRequest")
    tenant.post(PARTNERS, json={"tenantId": partner_id})
    sync = f"{PARTNERS}/{partner_id}/identitySynchronization"
    for body in ({"userSyncInbound": {"isSyncAllowed": 1}}, {"userSyncInbound": []}, {"other": True}, "x"):
        assert_graph_error(tenant.request("PUT", sync, json=body), 400, "Request_BadRequest")
    assert_graph_error(tenant.patch(BASE, json={"allowedCloudEndpoints": ["example.com"]}), 400, "Request_BadRequest")
    assert_graph_error(tenant.patch(f"{BASE}/default", json={"isolated": True}), 400, "Request_BadRequest")


def test_needs_the_cross_tenant_permission(tenant: TenantHandle) -> None:
    reader = _with_roles(tenant, "Policy.Read.All")
    assert reader.get(PARTNERS).status_code == 200
    denied = reader.post(PARTNERS, json={"tenantId": str(uuid.uuid4())})
    assert_graph_error(denied, 403, "Authorization_RequestDenied")
    authorization_only = _with_roles(tenant, "Policy.ReadWrite.Authorization")
    assert_graph_error(authorization_only.patch(BASE, json={}), 403, "Authorization_RequestDenied")
    writer = _with_roles(tenant, "Policy.ReadWrite.CrossTenantAccess")
    assert writer.post(PARTNERS, json={"tenantId": str(uuid.uuid4())}).status_code == 201


def test_tenants_see_only_their_own_partners(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    partner_id = str(uuid.uuid4())
    tenant.post(PARTNERS, json={"tenantId": partner_id})
    assert other_tenant.get(PARTNERS).json()["value"] == []
    assert_graph_error(other_tenant.get(f"{PARTNERS}/{partner_id}"), 404, "Request_ResourceNotFound")
    assert_graph_error(other_tenant.delete(f"{PARTNERS}/{partner_id}"), 404, "Request_ResourceNotFound")
    assert other_tenant.post(PARTNERS, json={"tenantId": partner_id}).status_code == 201  # its own, separate


def test_sync_needs_inbound_sync_and_automatic_redemption_on_both_sides(
    tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    source, target = tenant, other_tenant

    def refusal() -> str | None:
        with sessions() as session:
            return sync_refusal(session, source.id, target.id)

    assert refusal() == NO_INBOUND_SYNC
    allow_sync(target, source)
    assert refusal() is None
    source.patch(f"{PARTNERS}/{target.id}", json={"automaticUserConsentSettings": {"outboundAllowed": False}})
    assert refusal() == NO_AUTO_REDEEM
    source.patch(f"{PARTNERS}/{target.id}", json={"automaticUserConsentSettings": {"outboundAllowed": True}})
    target.patch(f"{PARTNERS}/{source.id}/identitySynchronization", json={"userSyncInbound": {"isSyncAllowed": False}})
    assert refusal() == NO_INBOUND_SYNC
    with sessions() as session:  # the permission is directional
        assert sync_refusal(session, target.id, source.id) == NO_INBOUND_SYNC


def test_answers_are_declared_in_metadata(client: TestClient, tenant: TenantHandle) -> None:
    types, _ = _declared(client)
    partner_id = str(uuid.uuid4())
    created = tenant.post(PARTNERS, json={"tenantId": partner_id}).json()
    tenant.request("PUT", f"{PARTNERS}/{partner_id}/identitySynchronization", json={"displayName": "P"})
    answers: list[tuple[Resource, dict[str, Any]]] = [
        (CROSS_TENANT_ACCESS_POLICY, tenant.get(BASE).json()),
        (CROSS_TENANT_DEFAULT, tenant.get(f"{BASE}/default").json()),
        (CROSS_TENANT_PARTNER, created),
        (CROSS_TENANT_PARTNER, tenant.get(f"{PARTNERS}/{partner_id}").json()),
        (CROSS_TENANT_SYNC_POLICY, tenant.get(f"{PARTNERS}/{partner_id}/identitySynchronization").json()),
    ]
    for resource, body in answers:
        _assert_declared(types, resource, body)
