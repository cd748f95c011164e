"""The official msgraph-sdk signed in as a user (a delegated token from the password grant) against a real Hospes
process: ``me``, ``me.member_of``, ``me.app_role_assignments``; and ``me`` with an app-only token."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from hospes.services.tenants import TenantBootstrap
from tests.helpers.live import LiveServer, sdk_user, user_graph_client
from tests.helpers.tenants import PASSWORD

DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"


def test_me_through_the_sdk(sdk: Any, boot: TenantBootstrap, live_server: LiveServer) -> None:
    async def scenario() -> None:
        ada = await sdk.users.post(sdk_user(boot, "ada"))
        await sdk.users.post(sdk_user(boot, "bob"))
        group = await sdk.groups.post(
            Group(display_name="Analysts", mail_enabled=False, mail_nickname="analysts", security_enabled=True)
        )
        ref = ReferenceCreate(odata_id=f"{live_server.graph_url}/directoryObjects/{ada.id}")
        await sdk.groups.by_group_id(group.id).members.ref.post(ref)
        sp = (await sdk.service_principals.get()).value[0]
        await sdk.users.by_user_id(ada.id).app_role_assignments.post(
            AppRoleAssignment(principal_id=ada.id, resource_id=sp.id, app_role_id=DEFAULT_ACCESS)
        )

        me = user_graph_client(live_server, boot.domain, boot.client_id, ada.user_principal_name, PASSWORD)
        got = await me.me.get()
        assert (got.id, got.display_name, got.user_principal_name) == (ada.id, "Ada", ada.user_principal_name)
        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=["id", "userType"])
        selected = await me.me.get(RequestConfiguration(query_parameters=query))
        assert (selected.id, selected.user_type, selected.display_name) == (ada.id, "Member", None)

        groups = await me.me.member_of.get()
        assert [(type(g).__name__, g.id) for g in groups.value] == [("Group", group.id)]
        assert groups.value[0].display_name is None  # User.Read alone: Graph's limited information

        assignments = await me.me.app_role_assignments.get()
        assert [(str(a.principal_id), str(a.resource_id), str(a.app_role_id)) for a in assignments.value] == [
            (ada.id, sp.id, DEFAULT_ACCESS)
        ]

        with pytest.raises(ODataError) as denied:  # the token's User.Read does not reach other users
            await me.users.get()
        assert (denied.value.response_status_code, denied.value.error.code) == (403, "Authorization_RequestDenied")

        with pytest.raises(ODataError) as app_only:
            await sdk.me.get()
        assert (app_only.value.response_status_code, app_only.value.error.code) == (400, "BadRequest")
        assert app_only.value.error.message == "/me request is only valid with delegated authentication flow."

    asyncio.run(scenario())
