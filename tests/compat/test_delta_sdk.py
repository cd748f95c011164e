"""Delta query driven by the official msgraph-sdk against a real Hospes process: every kind of change, each seen
as Graph presents it (full objects, ``@removed`` reasons, ``members@delta`` with ``@odata.type``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder

from hospes.services.tenants import TenantBootstrap
from tests.helpers.live import LiveServer, sdk_user

pytestmark = pytest.mark.live


async def user_round(
    sdk: Any, link: str | None = None, select: list[str] | None = None
) -> tuple[list[Any], str]:
    """Pages of one users delta round, the way an SDK client follows them."""
    if link is None:
        params = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(select=select)
        page = await sdk.users.delta.get(request_configuration=RequestConfiguration(query_parameters=params))
    else:
        page = await sdk.users.delta.with_url(link).get()
    items = list(page.value)
    while page.odata_next_link:
        assert page.odata_delta_link is None
        page = await sdk.users.delta.with_url(page.odata_next_link).get()
        items.extend(page.value)
    assert page.odata_delta_link
    return items, page.odata_delta_link


async def group_round(sdk: Any, link: str | None = None) -> tuple[list[Any], str]:
    page = await (sdk.groups.delta.with_url(link).get() if link else sdk.groups.delta.get())
    items = list(page.value)
    while page.odata_next_link:
        page = await sdk.groups.delta.with_url(page.odata_next_link).get()
        items.extend(page.value)
    return items, page.odata_delta_link


def members_delta(item: Any) -> list[dict[str, Any]]:
    """The SDK keeps members@delta untyped in additional_data (and turns GUID strings into UUIDs)."""
    changes = item.additional_data["members@delta"]
    return sorted(({**m, "id": str(m["id"])} for m in changes), key=lambda m: m["id"])


def removed(item: Any) -> str | None:
    reason = (item.additional_data or {}).get("@removed")
    return reason["reason"] if reason else None


def test_users_delta_every_change(sdk: Any, boot: TenantBootstrap, live_server: LiveServer) -> None:
    async def scenario() -> None:
        alice = await sdk.users.post(sdk_user(boot, "alice"))
        bob = await sdk.users.post(sdk_user(boot, "bob"))
        carol = await sdk.users.post(sdk_user(boot, "carol"))
        items, link = await user_round(sdk)
        assert link.startswith(f"{live_server.graph_url}/users/delta?$deltatoken=")
        assert {i.id for i in items} >= {alice.id, bob.id, carol.id}
        assert all(isinstance(i, User) and removed(i) is None for i in items)
        assert next(i for i in items if i.id == alice.id).user_principal_name == f"alice@{boot.domain}"

        items, link = await user_round(sdk, link)
        assert items == []  # nothing changed

        dave = await sdk.users.post(sdk_user(boot, "dave"))  # create
        await sdk.users.by_user_id(alice.id).patch(User(job_title="Engineer"))  # update, twice
        await sdk.users.by_user_id(alice.id).patch(User(job_title="Lead"))
        await sdk.users.by_user_id(bob.id).delete()  # soft delete
        await sdk.users.by_user_id(carol.id).delete()
        await sdk.directory.deleted_items.by_directory_object_id(carol.id).delete()  # hard delete
        items, link = await user_round(sdk, link)
        seen = {i.id: i for i in items}
        assert set(seen) == {dave.id, alice.id, bob.id, carol.id}
        assert seen[dave.id].display_name == "Dave" and removed(seen[dave.id]) is None
        assert seen[alice.id].job_title == "Lead"  # once, latest state
        assert removed(seen[bob.id]) == "changed"
        assert removed(seen[carol.id]) == "deleted"

        await sdk.directory.deleted_items.by_directory_object_id(bob.id).restore.post()  # restore
        items, link = await user_round(sdk, link)
        assert [i.id for i in items] == [bob.id]
        assert removed(items[0]) is None and items[0].user_principal_name == f"bob@{boot.domain}"

    asyncio.run(scenario())


def test_users_delta_select_tracks_only_selected(sdk: Any, boot: TenantBootstrap) -> None:
    async def scenario() -> None:
        erin = await sdk.users.post(sdk_user(boot, "erin"))
        _, link = await user_round(sdk, select=["displayName", "jobTitle"])
        await sdk.users.by_user_id(erin.id).patch(User(department="Ops"))
        items, link = await user_round(sdk, link)
        assert items == []
        await sdk.users.by_user_id(erin.id).patch(User(job_title="Chief"))
        items, link = await user_round(sdk, link)
        assert [(i.id, i.job_title, i.user_principal_name) for i in items] == [(erin.id, "Chief", None)]

    asyncio.run(scenario())


def test_groups_delta_members_add_and_remove(
    sdk: Any, boot: TenantBootstrap, live_server: LiveServer
) -> None:
    async def scenario() -> None:
        frank = await sdk.users.post(sdk_user(boot, "frank"))
        grace = await sdk.users.post(sdk_user(boot, "grace"))
        group = await sdk.groups.post(
            Group(display_name="Ops", mail_enabled=False, mail_nickname="ops", security_enabled=True)
        )
        ref = ReferenceCreate(odata_id=f"{live_server.graph_url}/directoryObjects/{frank.id}")
        await sdk.groups.by_group_id(group.id).members.ref.post(ref)
        items, link = await group_round(sdk)
        ops = next(i for i in items if i.id == group.id)
        assert isinstance(ops, Group) and ops.display_name == "Ops"
        assert members_delta(ops) == [{"@odata.type": "#microsoft.graph.user", "id": frank.id}]

        ref = ReferenceCreate(odata_id=f"{live_server.graph_url}/directoryObjects/{grace.id}")
        await sdk.groups.by_group_id(group.id).members.ref.post(ref)  # member add
        await sdk.groups.by_group_id(group.id).members.by_directory_object_id(frank.id).ref.delete()  # remove
        items, link = await group_round(sdk, link)
        assert [i.id for i in items] == [group.id]
        assert items[0].members is None  # as Graph: the changes are in the annotation only
        assert members_delta(items[0]) == sorted(
            [
                {"@odata.type": "#microsoft.graph.user", "id": grace.id},
                {"@odata.type": "#microsoft.graph.user", "id": frank.id, "@removed": {"reason": "deleted"}},
            ],
            key=lambda m: m["id"],
        )

        await sdk.groups.by_group_id(group.id).delete()
        items, link = await group_round(sdk, link)
        assert [(i.id, removed(i)) for i in items] == [(group.id, "changed")]

    asyncio.run(scenario())


def test_tampered_link_is_an_odata_error(sdk: Any) -> None:
    async def scenario() -> None:
        _, link = await user_round(sdk)
        with pytest.raises(ODataError) as caught:
            await sdk.users.delta.with_url(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")).get()
        assert caught.value.response_status_code == 400
        assert caught.value.error.code == "Request_BadRequest"

    asyncio.run(scenario())
