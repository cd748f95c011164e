"""``/tenantRelationships/multiTenantOrganization``: an owner creates it and adds tenants, each added tenant joins
with its own admin's call, and joining sets up the cross-tenant access settings that synchronization needs in each
pair of active tenants (partner, automatic redemption both ways, inbound sync allowed)."""

from __future__ import annotations

from typing import Any

from tests.helpers.cross_tenant import PARTNERS, make_config
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle

MTO = "/tenantRelationships/multiTenantOrganization"


def _join(tenant: TenantHandle, owner: TenantHandle) -> Any:
    return tenant.patch(f"{MTO}/joinRequest", json={"addedByTenantId": owner.id})


def _partner(tenant: TenantHandle, other: TenantHandle) -> dict[str, Any]:
    response = tenant.get(f"{PARTNERS}/{other.id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_add_join_sets_up_partner_settings(make_tenant: Any) -> None:
    contoso, fabrikam, tailspin = (make_tenant(n) for n in ("Contoso", "Fabrikam", "Tailspin"))
    before = contoso.get(MTO).json()
    assert before["state"] == "inactive" and before["id"] is None
    assert contoso.patch(MTO, json={"displayName": "Contoso group", "description": "All of us"}).status_code == 204
    made = contoso.get(MTO).json()
    assert made["state"] == "active" and made["displayName"] == "Contoso group" and made["id"]
    assert made["@odata.context"].endswith("$metadata#tenantRelationships/multiTenantOrganization/$entity")
    owners = contoso.get(f"{MTO}/tenants").json()["value"]
    assert [(t["tenantId"], t["role"], t["state"]) for t in owners] == [(contoso.id, "owner", "active")]

    added = contoso.post(f"{MTO}/tenants", json={"tenantId": fabrikam.id})
    assert added.status_code == 201, added.text
    assert added.json()["state"] == "pending" and added.json()["displayName"] == "Fabrikam"
    again = contoso.post(f"{MTO}/tenants", json={"tenantId": fabrikam.id})
    assert_graph_error(again, 409, "Request_MultipleObjectsWithSameKeyValue")
    assert contoso.post(f"{MTO}/tenants", json={"tenantId": tailspin.id, "role": "member"}).status_code == 201

    # the added tenant sees its join request, not the organization, until it joins
    assert fabrikam.get(MTO).json()["state"] == "inactive"
    request = fabrikam.get(f"{MTO}/joinRequest").json()
    assert request["memberState"] == "pending" and request["addedByTenantId"] == contoso.id
    assert fabrikam.get(f"{PARTNERS}/{contoso.id}").status_code == 404  # nothing set up yet
    assert_graph_error(_join(fabrikam, tailspin), 400, "Request_BadRequest")  # not an owner

    assert _join(fabrikam, contoso).status_code == 204
    assert fabrikam.get(f"{MTO}/joinRequest").json()["memberState"] == "active"
    assert fabrikam.get(MTO).json()["id"] == made["id"]
    for tenant, other in ((contoso, fabrikam), (fabrikam, contoso)):
        partner = _partner(tenant, other)
        assert partner["isInMultiTenantOrganization"] is True
        assert partner["automaticUserConsentSettings"] == {"inboundAllowed": True, "outboundAllowed": True}
        sync = tenant.get(f"{PARTNERS}/{other.id}/identitySynchronization").json()
        assert sync["userSyncInbound"] == {"isSyncAllowed": True}
    assert tailspin.get(f"{PARTNERS}/{contoso.id}").status_code == 404  # still pending: nothing for it

    # the settings are what synchronization checks: Fabrikam -> Contoso passes Test Connection at once
    assert make_config(fabrikam, contoso).validate().status_code == 204

    assert _join(tailspin, contoso).status_code == 204
    assert _partner(tailspin, fabrikam)["isInMultiTenantOrganization"] is True
    assert _partner(fabrikam, tailspin)["isInMultiTenantOrganization"] is True
    states = {t["tenantId"]: t["state"] for t in contoso.get(f"{MTO}/tenants").json()["value"]}
    assert states == {contoso.id: "active", fabrikam.id: "active", tailspin.id: "active"}


def test_roles_removal_and_bad_bodies(make_tenant: Any) -> None:
    contoso, fabrikam = make_tenant("Contoso"), make_tenant("Fabrikam")
    assert contoso.patch(MTO, json={"displayName": "Group"}).status_code == 204
    assert contoso.post(f"{MTO}/tenants", json={"tenantId": fabrikam.id}).status_code == 201
    assert _join(fabrikam, contoso).status_code == 204
    # explicit admin choices survive a second join
    partner = f"{PARTNERS}/{contoso.id}"
    assert fabrikam.patch(partner, json={"automaticUserConsentSettings": {"inboundAllowed": False}}).status_code == 204
    assert _join(fabrikam, contoso).status_code == 204
    assert _partner(fabrikam, contoso)["automaticUserConsentSettings"]["inboundAllowed"] is False

    # a member tenant changes nothing but its own membership
    assert_graph_error(fabrikam.patch(MTO, json={"displayName": "Mine"}), 403, "Authorization_RequestDenied")
    assert_graph_error(fabrikam.delete(f"{MTO}/tenants/{contoso.id}"), 403, "Authorization_RequestDenied")
    # the last owner stays an owner while others remain
    demote = contoso.patch(f"{MTO}/tenants/{contoso.id}", json={"role": "member"})
    assert "owner" in assert_graph_error(demote, 400, "Request_BadRequest")["message"]
    for body in ({"tenantId": "not-a-guid"}, {"tenantId": fabrikam.id, "colour": "red"}, {"tenantId": 1}):
        assert_graph_error(contoso.post(f"{MTO}/tenants", json=body), 400, "Request_BadRequest")
    assert_graph_error(contoso.patch(MTO, json={"state": "inactive"}), 400, "Request_BadRequest")
    assert_graph_error(
        contoso.get(f"{MTO}/tenants/{'0' * 8}-0000-0000-0000-{'0' * 12}"), 404, "Request_ResourceNotFound"
    )

    # leaving keeps the partner settings, which no longer say the partner is in the organization
    assert fabrikam.delete(f"{MTO}/tenants/{fabrikam.id}").status_code == 204
    assert fabrikam.get(MTO).json()["state"] == "inactive"
    assert _partner(contoso, fabrikam)["isInMultiTenantOrganization"] is False
    assert [t["tenantId"] for t in contoso.get(f"{MTO}/tenants").json()["value"]] == [contoso.id]
    # the last tenant leaving ends the organization
    assert contoso.delete(f"{MTO}/tenants/{contoso.id}").status_code == 204
    assert contoso.get(MTO).json()["state"] == "inactive"
    assert_graph_error(contoso.get(f"{MTO}/tenants"), 404, "Request_ResourceNotFound")


def test_another_tenant_never_sees_the_organization(make_tenant: Any) -> None:
    contoso, outsider = make_tenant("Contoso"), make_tenant("Outsider")
    assert contoso.patch(MTO, json={"displayName": "Group"}).status_code == 204
    assert outsider.get(MTO).json()["state"] == "inactive"
    assert_graph_error(outsider.get(f"{MTO}/tenants"), 404, "Request_ResourceNotFound")
    assert_graph_error(outsider.delete(f"{MTO}/tenants/{contoso.id}"), 404, "Request_ResourceNotFound")
    assert_graph_error(_join(outsider, contoso), 400, "Request_BadRequest")


def test_metadata_declares_the_organization(client: Any) -> None:
    body = client.get("/v1.0/$metadata").text
    for name in (
        "multiTenantOrganization",
        "multiTenantOrganizationMember",
        "multiTenantOrganizationJoinRequestRecord",
    ):
        assert f'EntityType Name="{name}"' in body


def test_a_tenant_added_without_its_consent_can_decline_and_start_its_own(make_tenant: Any) -> None:
    """Adding is one-sided: another tenant's pending entry must not lock this tenant out of multitenant
    organizations (it could neither join another one nor create its own)."""
    squatter, victim = make_tenant("Squatter"), make_tenant("Victim")
    assert squatter.patch(MTO, json={"displayName": "Not yours"}).status_code == 204
    assert squatter.post(f"{MTO}/tenants", json={"tenantId": victim.id}).status_code == 201
    assert victim.delete(f"{MTO}/tenants/{victim.id}").status_code == 204
    assert victim.get(f"{MTO}/joinRequest").json()["memberState"] is None
    assert victim.patch(MTO, json={"displayName": "Victim group"}).status_code == 204
    assert victim.get(MTO).json()["state"] == "active"
    listed = {t["tenantId"] for t in squatter.get(f"{MTO}/tenants").json()["value"]}
    assert listed == {squatter.id}
    # a pending tenant removes only itself
    other = make_tenant("Other")
    assert squatter.post(f"{MTO}/tenants", json={"tenantId": other.id}).status_code == 201
    assert other.delete(f"{MTO}/tenants/{squatter.id}").status_code == 404
