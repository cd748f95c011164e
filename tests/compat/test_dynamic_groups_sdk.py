"""Dynamic groups through the official msgraph-sdk: the rule properties round-trip, an invalid rule and a manual
member add surface as ODataError with Graph's codes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate

from hospes.services.tenants import TenantBootstrap
from tests.helpers.live import LiveServer, sdk_user


def test_dynamic_group_properties_and_errors(sdk: Any, boot: TenantBootstrap, live_server: LiveServer) -> None:
    async def scenario() -> None:
        body = {"display_name": "Sales", "mail_enabled": False, "mail_nickname": "sales", "security_enabled": True}
        group = await sdk.groups.post(
            Group(
                **body,
                group_types=["DynamicMembership"],
                membership_rule='user.department -eq "Sales"',
                membership_rule_processing_state="On",
            )
        )
        read = await sdk.groups.by_group_id(group.id).get()
        assert read.group_types == ["DynamicMembership"]
        assert read.membership_rule == 'user.department -eq "Sales"'
        assert read.membership_rule_processing_state == "On"
        await sdk.groups.by_group_id(group.id).patch(Group(membership_rule_processing_state="Paused"))
        assert (await sdk.groups.by_group_id(group.id).get()).membership_rule_processing_state == "Paused"

        with pytest.raises(ODataError) as bad:
            await sdk.groups.post(
                Group(**{**body, "mail_nickname": "bad"}, group_types=["DynamicMembership"], membership_rule="x")
            )
        assert bad.value.response_status_code == 400
        assert bad.value.error.code == "Request_BadRequest"
        assert bad.value.error.message == "Dynamic membership rule validation error: Invalid object type. (position 1)"

        user = await sdk.users.post(sdk_user(boot, "dyn"))
        ref = ReferenceCreate(odata_id=f"{live_server.graph_url}/directoryObjects/{user.id}")
        with pytest.raises(ODataError) as refused:
            await sdk.groups.by_group_id(group.id).members.ref.post(ref)
        assert refused.value.response_status_code == 403
        assert refused.value.error.code == "Authorization_RequestDenied"

    asyncio.run(scenario())
