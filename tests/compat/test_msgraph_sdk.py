"""The official msgraph-sdk against a real Hospes process: users, groups and members, OData, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from hospes.services.tenants import TenantBootstrap
from tests.helpers.live import LiveServer, sdk_user


def test_users_crud(sdk: Any, boot: TenantBootstrap) -> None:
    async def scenario() -> None:
        created = await sdk.users.post(sdk_user(boot, "grace"))
        assert created.id and created.user_principal_name == f"grace@{boot.domain}"
        await sdk.users.by_user_id(created.id).patch(User(job_title="Admiral"))
        got = await sdk.users.by_user_id(f"grace@{boot.domain}").get()
        assert got.job_title == "Admiral"
        await sdk.users.by_user_id(created.id).delete()
        with pytest.raises(ODataError) as caught:
            await sdk.users.by_user_id(created.id).get()
        assert caught.value.response_status_code == 404
        assert caught.value.error.code == "Request_ResourceNotFound"

    asyncio.run(scenario())


def test_duplicate_upn_surfaces_as_odata_error(sdk: Any, boot: TenantBootstrap) -> None:
    async def scenario() -> None:
        await sdk.users.post(sdk_user(boot, "dup"))
        with pytest.raises(ODataError) as caught:
            await sdk.users.post(sdk_user(boot, "dup"))
        assert caught.value.response_status_code == 400
        assert "already exists" in caught.value.error.message

    asyncio.run(scenario())


def test_groups_and_members_by_ref(sdk: Any, boot: TenantBootstrap, live_server: LiveServer) -> None:
    async def scenario() -> None:
        user = await sdk.users.post(sdk_user(boot, "linus"))
        group = await sdk.groups.post(
            Group(display_name="Kernel", mail_enabled=False, mail_nickname="kernel", security_enabled=True)
        )
        ref = ReferenceCreate(odata_id=f"{live_server.graph_url}/directoryObjects/{user.id}")
        await sdk.groups.by_group_id(group.id).members.ref.post(ref)
        with pytest.raises(ODataError) as caught:
            await sdk.groups.by_group_id(group.id).members.ref.post(ref)
        assert "already exist" in caught.value.error.message
        members = await sdk.groups.by_group_id(group.id).members.get()
        assert [type(m).__name__ for m in members.value] == ["User"]
        assert members.value[0].id == user.id
        await sdk.groups.by_group_id(group.id).members.by_directory_object_id(user.id).ref.delete()
        members = await sdk.groups.by_group_id(group.id).members.get()
        assert members.value == []

    asyncio.run(scenario())


def test_filter_select_top_paging_to_the_end(sdk: Any, boot: TenantBootstrap) -> None:
    async def scenario() -> None:
        for i in range(5):
            await sdk.users.post(sdk_user(boot, f"page{i}"))
        params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="startswith(userPrincipalName,'page')",
            select=["id", "userPrincipalName", "accountEnabled"],
            top=2,
        )
        page = await sdk.users.get(request_configuration=RequestConfiguration(query_parameters=params))
        names = [u.user_principal_name for u in page.value]
        assert all(u.account_enabled is True for u in page.value)
        while page.odata_next_link:
            page = await sdk.users.with_url(page.odata_next_link).get()
            names += [u.user_principal_name for u in page.value]
        assert sorted(names) == [f"page{i}@{boot.domain}" for i in range(5)]

        config = RequestConfiguration(
            query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                filter="mailNickname ne 'x'", count=True
            )
        )
        with pytest.raises(ODataError) as caught:
            await sdk.users.get(request_configuration=config)
        assert caught.value.error.code == "Request_UnsupportedQuery"
        config.headers.add("ConsistencyLevel", "eventual")
        result = await sdk.users.get(request_configuration=config)
        assert result.odata_count == 6

    asyncio.run(scenario())
