"""``/users/delta`` and ``/groups/delta`` through the ASGI app: rounds, paging, $select, members@delta, tokens."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from hospes.domain.changes import ObjectType
from hospes.domain.clock import utcnow
from hospes.runtime import Runtime
from hospes.services.directory import prune_change_log
from hospes.storage import changelog
from hospes.storage.tables import ChangeLog
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle


def run_round(tenant: TenantHandle, url: str, **kw: Any) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the deltaLink: (items, deltaLink, pages)."""
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        response = tenant.get(url, **kw)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert ("@odata.nextLink" in body) != ("@odata.deltaLink" in body)  # never both, never neither
        items.extend(body["value"])
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def small_pages(size: int) -> dict[str, dict[str, str]]:
    return {"headers": {"Prefer": f"odata.maxpagesize={size}"}}


def state_of(client: TestClient) -> Runtime:
    app_state: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return app_state


def test_full_round_pages_then_changes(tenant: TenantHandle) -> None:
    users = [tenant.new_user(f"p{i}") for i in range(5)]
    items, delta_link, pages = run_round(tenant, "/users/delta", **small_pages(2))
    assert pages == 3  # admin + 5 users, two per page
    assert set(by_id(items)) >= {u["id"] for u in users}
    assert delta_link.startswith("http://testserver/v1.0/users/delta?$deltatoken=")
    first = by_id(items)[users[0]["id"]]
    assert first["userPrincipalName"] == users[0]["userPrincipalName"]
    assert "accountEnabled" not in first  # default representation

    # No change: an empty page and a fresh deltaLink.
    items, delta_link, pages = run_round(tenant, delta_link)
    assert (items, pages) == ([], 1)

    created = tenant.new_user("late")
    for title in ("One", "Two", "Three"):
        assert tenant.patch(f"/users/{users[1]['id']}", json={"jobTitle": title}).status_code == 204
    assert tenant.delete(f"/users/{users[2]['id']}").status_code == 204
    assert tenant.delete(f"/users/{users[3]['id']}").status_code == 204
    assert tenant.delete(f"/directory/deletedItems/{users[3]['id']}").status_code == 204
    items, delta_link, _ = run_round(tenant, delta_link)
    assert len(items) == 4  # repeated updates coalesce into one entry
    seen = by_id(items)
    assert seen[created["id"]]["displayName"] == "Late"
    assert seen[users[1]["id"]]["jobTitle"] == "Three"
    assert seen[users[1]["id"]]["userPrincipalName"] == users[1]["userPrincipalName"]
    assert seen[users[2]["id"]] == {"id": users[2]["id"], "@removed": {"reason": "changed"}}
    assert seen[users[3]["id"]] == {"id": users[3]["id"], "@removed": {"reason": "deleted"}}

    assert tenant.post(f"/directory/deletedItems/{users[2]['id']}/restore").status_code == 200
    items, delta_link, _ = run_round(tenant, delta_link)
    assert [i["id"] for i in items] == [users[2]["id"]]
    assert items[0]["userPrincipalName"] == users[2]["userPrincipalName"]  # back as a full object


def test_every_route_spelling(tenant: TenantHandle) -> None:
    for path in ("/users/delta", "/users/delta()", "/users/microsoft.graph.delta()", "/groups/delta()"):
        response = tenant.get(path)
        assert response.status_code == 200, (path, response.text)
        assert "@odata.deltaLink" in response.json()


def test_select_limits_properties_and_tracked_changes(tenant: TenantHandle) -> None:
    user = tenant.new_user("sel", jobTitle="Clerk")
    items, delta_link, _ = run_round(tenant, "/users/delta?$select=displayName,jobTitle")
    assert by_id(items)[user["id"]] == {"id": user["id"], "displayName": "Sel", "jobTitle": "Clerk"}
    assert "$select" not in delta_link  # the options live in the opaque token
    assert tenant.patch(f"/users/{user['id']}", json={"department": "Ops"}).status_code == 204
    items, delta_link, _ = run_round(tenant, delta_link)
    assert items == []  # an unselected property does not surface the object
    assert tenant.patch(f"/users/{user['id']}", json={"jobTitle": "Chief"}).status_code == 204
    items, _, _ = run_round(tenant, delta_link)
    assert items == [{"id": user["id"], "displayName": "Sel", "jobTitle": "Chief"}]


def test_select_unknown_property_and_unsupported_options(tenant: TenantHandle) -> None:
    assert_graph_error(tenant.get("/users/delta?$select=nope"), 400, "Request_BadRequest")
    for option in ("$orderby=displayName", "$top=5", "$search=%22displayName:a%22"):
        assert_graph_error(tenant.get(f"/users/delta?{option}"), 400, "Request_UnsupportedQuery")
    assert_graph_error(tenant.get("/users/delta?$filter=startswith(displayName,'a')"), 400, "Request_UnsupportedQuery")


def test_filter_on_ids(tenant: TenantHandle) -> None:
    a, b, c = (tenant.new_user(n) for n in ("fa", "fb", "fc"))
    url = f"/users/delta?$filter=id eq '{a['id']}' or id eq '{b['id']}'"
    items, delta_link, _ = run_round(tenant, url)
    assert sorted(i["id"] for i in items) == sorted([a["id"], b["id"]])
    for user in (a, c):
        assert tenant.patch(f"/users/{user['id']}", json={"jobTitle": "X"}).status_code == 204
    items, _, _ = run_round(tenant, delta_link)
    assert [i["id"] for i in items] == [a["id"]]


def test_deltatoken_latest_returns_only_a_link(tenant: TenantHandle) -> None:
    tenant.new_user("old")
    response = tenant.get("/users/delta?$deltatoken=latest&$select=displayName")
    body = response.json()
    assert body["value"] == [] and "@odata.deltaLink" in body and "@odata.nextLink" not in body
    new = tenant.new_user("new")
    items, _, _ = run_round(tenant, body["@odata.deltaLink"])
    assert items == [{"id": new["id"], "displayName": "New"}]


def test_prefer_return_minimal(tenant: TenantHandle) -> None:
    user = tenant.new_user("mini", jobTitle="A")
    _, delta_link, _ = run_round(tenant, "/users/delta", headers={"Prefer": "return=minimal"})
    assert tenant.patch(f"/users/{user['id']}", json={"jobTitle": None, "givenName": "M"}).status_code == 204
    response = tenant.get(delta_link)
    assert response.headers["preference-applied"] == "return=minimal"
    assert response.json()["value"] == [{"id": user["id"], "givenName": "M", "jobTitle": None}]


def test_groups_members_delta(tenant: TenantHandle) -> None:
    u1, u2 = tenant.new_user("m1"), tenant.new_user("m2")
    group = tenant.new_group("Crew")
    nested = tenant.new_group("Inner")
    ref = {"@odata.id": f"http://testserver/v1.0/directoryObjects/{u1['id']}"}
    assert tenant.post(f"/groups/{group['id']}/members/$ref", json=ref).status_code == 204
    items, delta_link, _ = run_round(tenant, "/groups/delta")
    crew = by_id(items)[group["id"]]
    assert crew["displayName"] == "Crew"
    assert crew["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": u1["id"]}]
    assert "members@delta" not in by_id(items)[nested["id"]]

    ref2 = {"@odata.id": f"http://testserver/v1.0/directoryObjects/{u2['id']}"}
    ref3 = {"@odata.id": f"http://testserver/v1.0/directoryObjects/{nested['id']}"}
    assert tenant.post(f"/groups/{group['id']}/members/$ref", json=ref2).status_code == 204
    assert tenant.post(f"/groups/{group['id']}/members/$ref", json=ref3).status_code == 204
    assert tenant.delete(f"/groups/{group['id']}/members/{u1['id']}/$ref").status_code == 204
    items, delta_link, _ = run_round(tenant, delta_link)
    assert [i["id"] for i in items] == [group["id"]]
    assert sorted(items[0]["members@delta"], key=lambda m: m["id"]) == sorted(
        [
            {"@odata.type": "#microsoft.graph.user", "id": u1["id"], "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.user", "id": u2["id"]},
            {"@odata.type": "#microsoft.graph.group", "id": nested["id"]},
        ],
        key=lambda m: m["id"],
    )

    # $select without members: membership changes no longer count.
    _, selected_link, _ = run_round(tenant, "/groups/delta?$select=displayName")
    assert tenant.delete(f"/groups/{group['id']}/members/{u2['id']}/$ref").status_code == 204
    items, _, _ = run_round(tenant, selected_link)
    assert items == []
    items, _, _ = run_round(tenant, delta_link)
    assert items[0]["members@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": u2["id"], "@removed": {"reason": "deleted"}}
    ]


def test_large_group_members_split_across_pages(tenant: TenantHandle) -> None:
    group = tenant.new_group("Big")
    members = [tenant.new_user(f"big{i}")["id"] for i in range(23)]
    for chunk in range(0, 23, 20):
        binds = [f"http://testserver/v1.0/directoryObjects/{m}" for m in members[chunk : chunk + 20]]
        assert tenant.patch(f"/groups/{group['id']}", json={"members@odata.bind": binds}).status_code == 204
    # One object per page allows ten member items per page: the group repeats with the next chunk.
    items, _, pages = run_round(tenant, f"/groups/delta?$filter=id eq '{group['id']}'", **small_pages(1))
    assert pages == 3 and [i["id"] for i in items] == [group["id"]] * 3
    got = [m["id"] for i in items for m in i["members@delta"]]
    assert sorted(got) == sorted(members) and len(got) == 23


def test_group_soft_delete_and_restore_bring_members_back(tenant: TenantHandle) -> None:
    user = tenant.new_user("gm")
    group = tenant.new_group("Phoenix", **{"members@odata.bind": [f"http://x/v1.0/directoryObjects/{user['id']}"]})
    _, delta_link, _ = run_round(tenant, "/groups/delta")
    assert tenant.delete(f"/groups/{group['id']}").status_code == 204
    items, delta_link, _ = run_round(tenant, delta_link)
    assert items == [{"id": group["id"], "@removed": {"reason": "changed"}}]
    assert tenant.post(f"/directory/deletedItems/{group['id']}/restore").status_code == 200
    items, _, _ = run_round(tenant, delta_link)
    assert items[0]["displayName"] == "Phoenix"
    assert items[0]["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": user["id"]}]


def test_tampered_and_foreign_tokens_are_refused(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    _, delta_link, _ = run_round(tenant, "/users/delta")
    token = parse_qs(urlparse(delta_link).query)["$deltatoken"][0]
    body, mac = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    assert_graph_error(tenant.get(f"/users/delta?$deltatoken={flipped}.{mac}"), 400, "Request_BadRequest")
    assert_graph_error(tenant.get("/users/delta?$skiptoken=garbage"), 400, "Request_BadRequest")
    assert_graph_error(other_tenant.get(delta_link), 400, "Request_BadRequest")
    # A users token is not a groups token either.
    assert_graph_error(tenant.get(f"/groups/delta?$deltatoken={token}"), 400, "Request_BadRequest")


def test_token_older_than_retention_gets_410_and_location(tenant: TenantHandle) -> None:
    state = state_of(tenant.client)
    old = time.time() - (state.settings.change_log_retention_days + 1) * 86400
    payload = {
        "t": tenant.id,
        "o": {"$select": "displayName"},
        "n": 100,
        "m": False,
        "c": {"p": "log", "s": 1, "h": old},
    }
    token = state.keys.seal("delta:users", payload)
    response = tenant.get(f"/users/delta?$deltatoken={token}")
    error = assert_graph_error(response, 410, "syncStateNotFound")
    assert "synchronized again" in error["message"]
    location = response.headers["location"]
    assert location == "http://testserver/v1.0/users/delta?$select=displayName&$deltatoken="
    restarted = tenant.get(location)
    assert restarted.status_code == 200
    assert all(set(i) == {"id", "displayName"} for i in restarted.json()["value"])


def test_token_past_the_change_log_head_gets_410(tenant: TenantHandle) -> None:
    """A token issued by a database that had more changes than this one (a failover that lost the primary's last
    commits, a restore) must not read on: the changes that reuse those sequence numbers here would be skipped."""
    state = state_of(tenant.client)
    _, delta_link, _ = run_round(tenant, "/users/delta")
    with state.sessions() as session:
        head = changelog.head(session, tenant.id, [ObjectType.USER])
    for cursor in ({"p": "log", "s": head + 5, "h": time.time()}, {"p": "full", "s": head + 1, "h": time.time()}):
        payload = {"t": tenant.id, "o": {}, "n": 100, "m": False, "c": cursor}
        token = state.keys.seal("delta:users", payload)
        response = tenant.get(f"/users/delta?$deltatoken={token}")
        assert (
            "names changes this directory does not have"
            in assert_graph_error(response, 410, "syncStateNotFound")["message"]
        )
        assert response.headers["location"] == "http://testserver/v1.0/users/delta?$deltatoken="
    # a token at the head itself is fine
    assert tenant.get(delta_link).status_code == 200


def test_pruning_keeps_the_newest_change(tenant: TenantHandle) -> None:
    """Delta tokens are checked against the change log's head, so pruning an idle log must not empty it."""
    state = state_of(tenant.client)
    _, delta_link, _ = run_round(tenant, "/users/delta")
    with state.sessions.begin() as session:
        session.execute(update(ChangeLog).values(at=utcnow() - timedelta(days=400)))
        newest = select(func.max(ChangeLog.seq)).where(ChangeLog.tenant_id == tenant.id).group_by(ChangeLog.object_type)
        heads = set(session.scalars(newest))
    assert prune_change_log(state.sessions, retention_days=30) > 0
    with state.sessions() as session:
        assert set(session.scalars(select(ChangeLog.seq).where(ChangeLog.tenant_id == tenant.id))) == heads
        assert changelog.head(session, tenant.id, [ObjectType.USER]) in heads
    # the token's horizon is recent, so it still reads on: no change, no spurious 410
    response = tenant.get(delta_link)
    assert response.status_code == 200, response.text
    assert response.json()["value"] == []


def test_writes_between_pages_are_never_skipped(tenant: TenantHandle) -> None:
    """The documented page-boundary semantics: no change skipped, a change seen twice at most."""
    users = [tenant.new_user(f"w{i:02d}") for i in range(8)]
    url = "/users/delta"
    mirror: dict[str, dict[str, Any]] = {}
    appearances: dict[str, int] = {}

    def apply(items: list[dict[str, Any]]) -> None:
        for item in items:
            appearances[item["id"]] = appearances.get(item["id"], 0) + 1
            if "@removed" in item:
                mirror.pop(item["id"], None)
            else:
                mirror[item["id"]] = item

    step = 0
    while True:
        body = tenant.get(url, **small_pages(3)).json()
        apply(body["value"])
        # Between pages: touch objects already returned, not yet returned, and new ones.
        if step == 0:
            tenant.patch(f"/users/{users[0]['id']}", json={"jobTitle": "after page 1"})
            tenant.patch(f"/users/{users[7]['id']}", json={"jobTitle": "ahead"})
            tenant.new_user("w00a")  # sorts anywhere: random ids
            tenant.delete(f"/users/{users[5]['id']}")
        elif step == 1:
            tenant.delete(f"/users/{users[1]['id']}")
            tenant.new_user("w99")
        step += 1
        if "@odata.deltaLink" in body:
            delta_link = body["@odata.deltaLink"]
            break
        url = body["@odata.nextLink"]
    items, _, _ = run_round(tenant, delta_link)
    apply(items)
    live = tenant.get("/users?$top=999").json()["value"]
    assert {u["id"]: u for u in live} == {k: {**v} for k, v in mirror.items()}
    assert max(appearances.values()) <= 2
