"""The official msgraph-sdk against a real Hospes process: conditional-access policies and named locations
created, listed, updated and read back in the SDK's own models; sign-in logs listed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from msgraph.generated.models.conditional_access_applications import ConditionalAccessApplications
from msgraph.generated.models.conditional_access_client_app import ConditionalAccessClientApp
from msgraph.generated.models.conditional_access_condition_set import ConditionalAccessConditionSet
from msgraph.generated.models.conditional_access_grant_control import ConditionalAccessGrantControl
from msgraph.generated.models.conditional_access_grant_controls import ConditionalAccessGrantControls
from msgraph.generated.models.conditional_access_guest_or_external_user_types import (
    ConditionalAccessGuestOrExternalUserTypes,
)
from msgraph.generated.models.conditional_access_guests_or_external_users import (
    ConditionalAccessGuestsOrExternalUsers,
)
from msgraph.generated.models.conditional_access_locations import ConditionalAccessLocations
from msgraph.generated.models.conditional_access_policy import ConditionalAccessPolicy
from msgraph.generated.models.conditional_access_policy_state import ConditionalAccessPolicyState
from msgraph.generated.models.conditional_access_users import ConditionalAccessUsers
from msgraph.generated.models.i_pv4_cidr_range import IPv4CidrRange
from msgraph.generated.models.ip_named_location import IpNamedLocation
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from hospes.services.tenants import TenantBootstrap


def test_policies_and_named_locations(sdk: Any, boot: TenantBootstrap) -> None:
    async def scenario() -> None:
        ca = sdk.identity.conditional_access
        office = await ca.named_locations.post(
            IpNamedLocation(
                odata_type="#microsoft.graph.ipNamedLocation",
                display_name="Office",
                is_trusted=True,
                ip_ranges=[IPv4CidrRange(odata_type="#microsoft.graph.iPv4CidrRange", cidr_address="192.0.2.0/24")],
            )
        )
        assert isinstance(office, IpNamedLocation) and office.is_trusted is True
        assert office.ip_ranges[0].cidr_address == "192.0.2.0/24"
        guests = ConditionalAccessGuestsOrExternalUsers(
            guest_or_external_user_types=ConditionalAccessGuestOrExternalUserTypes.B2bCollaborationGuest
        )
        policy = ConditionalAccessPolicy(
            display_name="Guests: MFA outside the office",
            state=ConditionalAccessPolicyState.EnabledForReportingButNotEnforced,
            conditions=ConditionalAccessConditionSet(
                users=ConditionalAccessUsers(include_guests_or_external_users=guests),
                applications=ConditionalAccessApplications(include_applications=["All"]),
                client_app_types=[ConditionalAccessClientApp.Browser],
                locations=ConditionalAccessLocations(include_locations=["All"], exclude_locations=[office.id]),
            ),
            grant_controls=ConditionalAccessGrantControls(
                operator="OR", built_in_controls=[ConditionalAccessGrantControl.Mfa]
            ),
        )
        created = await ca.policies.post(policy)
        assert created.id and created.state == ConditionalAccessPolicyState.EnabledForReportingButNotEnforced
        assert created.conditions.locations.exclude_locations == [office.id]
        kinds = created.conditions.users.include_guests_or_external_users.guest_or_external_user_types
        assert kinds == [ConditionalAccessGuestOrExternalUserTypes.B2bCollaborationGuest]  # a flags enum
        await ca.policies.by_conditional_access_policy_id(created.id).patch(
            ConditionalAccessPolicy(state=ConditionalAccessPolicyState.Enabled)
        )
        listed = await ca.policies.get()
        assert [(p.id, p.state) for p in listed.value] == [(created.id, ConditionalAccessPolicyState.Enabled)]
        assert listed.value[0].grant_controls.built_in_controls == [ConditionalAccessGrantControl.Mfa]
        with pytest.raises(ODataError) as caught:
            await ca.policies.post(ConditionalAccessPolicy(display_name="no conditions", state="enabled"))
        assert caught.value.response_status_code == 400 and caught.value.error.code == "Request_BadRequest"
        await ca.policies.by_conditional_access_policy_id(created.id).delete()
        assert (await ca.policies.get()).value == []
        signins = await sdk.audit_logs.sign_ins.get()
        assert signins.value == []

    asyncio.run(scenario())
