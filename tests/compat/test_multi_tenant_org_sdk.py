"""The official msgraph-sdk against a real Hospes process: a multitenant organization created by one tenant,
another added and joining, and the partner settings the join set up, read back through the SDK's models."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from msgraph.generated.models.multi_tenant_organization import MultiTenantOrganization
from msgraph.generated.models.multi_tenant_organization_join_request_record import (
    MultiTenantOrganizationJoinRequestRecord,
)
from msgraph.generated.models.multi_tenant_organization_member import MultiTenantOrganizationMember
from msgraph.generated.models.multi_tenant_organization_member_role import MultiTenantOrganizationMemberRole
from msgraph.generated.models.multi_tenant_organization_member_state import MultiTenantOrganizationMemberState
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import TenantBootstrap, create_tenant
from tests.helpers.live import LiveServer, graph_client


def test_create_add_join_with_the_sdk(
    sdk: Any, boot: TenantBootstrap, live_server: LiveServer, sessions: sessionmaker[Session]
) -> None:
    other = create_tenant(sessions, "Fabrikam", f"fabrikam-{uuid.uuid4().hex[:8]}.example")
    fabrikam = graph_client(live_server, other.domain, other.client_id, other.client_secret)

    async def scenario() -> None:
        mto = sdk.tenant_relationships.multi_tenant_organization
        await mto.patch(MultiTenantOrganization(display_name="Contoso group"))
        made = await mto.get()
        assert made.display_name == "Contoso group" and made.id
        added = await mto.tenants.post(MultiTenantOrganizationMember(tenant_id=other.tenant_id))
        assert added.state == MultiTenantOrganizationMemberState.Pending
        assert added.role == MultiTenantOrganizationMemberRole.Member
        with pytest.raises(ODataError) as caught:
            await mto.tenants.post(MultiTenantOrganizationMember(tenant_id=other.tenant_id))
        assert caught.value.response_status_code == 409

        theirs = fabrikam.tenant_relationships.multi_tenant_organization
        await theirs.join_request.patch(MultiTenantOrganizationJoinRequestRecord(added_by_tenant_id=boot.tenant_id))
        record = await theirs.join_request.get()
        assert record.member_state == MultiTenantOrganizationMemberState.Active
        members = await mto.tenants.get()
        assert {m.tenant_id: m.state for m in members.value} == {
            boot.tenant_id: MultiTenantOrganizationMemberState.Active,
            other.tenant_id: MultiTenantOrganizationMemberState.Active,
        }
        partners = sdk.policies.cross_tenant_access_policy.partners
        partner = await partners.by_cross_tenant_access_policy_configuration_partner_tenant_id(other.tenant_id).get()
        assert partner.is_in_multi_tenant_organization is True
        assert partner.automatic_user_consent_settings.inbound_allowed is True
        sync = await partners.by_cross_tenant_access_policy_configuration_partner_tenant_id(
            other.tenant_id
        ).identity_synchronization.get()
        assert sync.user_sync_inbound.is_sync_allowed is True

    asyncio.run(scenario())
