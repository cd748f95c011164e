"""Dynamic groups through Graph: the rule properties, refused manual changes, processing from the change log,
pause/resume, "process now", the processing status and evaluateDynamicMembership."""

from __future__ import annotations

from typing import Any

from tests.helpers.dynamic import dynamic_group, later, members, process, processor_for
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle, fetch_token


def ref(object_id: str) -> dict[str, str]:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{object_id}"}


def test_a_dynamic_group_carries_its_rule_and_state(tenant: TenantHandle) -> None:
    group = tenant.new_group(
        "Sales",
        groupTypes=["DynamicMembership"],
        membershipRule='user.department -eq "Sales"',
        membershipRuleProcessingState="on",
    )
    assert group["groupTypes"] == ["DynamicMembership"]
    assert group["membershipRule"] == 'user.department -eq "Sales"'
    assert group["membershipRuleProcessingState"] == "On"
    static = tenant.new_group("Static")
    assert static["membershipRule"] is None and static["membershipRuleProcessingState"] is None
    found = tenant.get("/groups?$filter=startswith(membershipRule,'user.department')").json()["value"]
    assert [g["id"] for g in found] == [group["id"]]
    status = tenant.get(f"/groups/{group['id']}?$select=membershipRuleProcessingStatus").json()
    assert status["membershipRuleProcessingStatus"]["status"] == "NotStarted"


def test_invalid_rules_get_the_reference_error_with_a_position(tenant: TenantHandle) -> None:
    body = {"displayName": "Bad", "mailEnabled": False, "mailNickname": "bad", "securityEnabled": True}
    bad = tenant.post(
        "/groups", json={**body, "groupTypes": ["DynamicMembership"], "membershipRule": 'user.invalidProperty -eq "x"'}
    )
    error = assert_graph_error(bad, 400, "Request_BadRequest")
    assert error["message"] == "Dynamic membership rule validation error: Attribute not supported. (position 1)"
    missing = tenant.post("/groups", json={**body, "groupTypes": ["DynamicMembership"]})
    assert "needs a membershipRule" in assert_graph_error(missing, 400, "Request_BadRequest")["message"]
    static_rule = tenant.post("/groups", json={**body, "membershipRule": 'user.department -eq "x"'})
    assert_graph_error(static_rule, 400, "Request_BadRequest")
    state = tenant.post(
        "/groups",
        json={
            **body,
            "groupTypes": ["DynamicMembership"],
            "membershipRule": 'user.department -eq "x"',
            "membershipRuleProcessingState": "Sometimes",
        },
    )
    assert_graph_error(state, 400, "Request_BadRequest")
    group = dynamic_group(tenant, "Fine", 'user.department -eq "x"')
    patch = tenant.patch(f"/groups/{group['id']}", json={"membershipRule": '(user.department -eq "a") (x)'})
    assert assert_graph_error(patch, 400, "Request_BadRequest")["message"] == (
        "Dynamic membership rule validation error: Query compilation error. (position 27)"
    )
    assert tenant.get(f"/groups/{group['id']}").json()["membershipRule"] == 'user.department -eq "x"'


def test_manual_member_changes_on_a_dynamic_group_are_refused(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice", department="Sales")
    group = dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    add = assert_graph_error(
        tenant.post(f"/groups/{group['id']}/members/$ref", json=ref(alice["id"])), 403, "Authorization_RequestDenied"
    )
    assert "managed by its membershipRule" in add["message"]
    process(tenant)
    assert members(tenant, group["id"]) == {alice["id"]}
    assert_graph_error(
        tenant.delete(f"/groups/{group['id']}/members/{alice['id']}/$ref"), 403, "Authorization_RequestDenied"
    )
    bind = tenant.patch(
        f"/groups/{group['id']}",
        json={"members@odata.bind": [f"https://graph.microsoft.com/v1.0/directoryObjects/{alice['id']}"]},
    )
    assert_graph_error(bind, 403, "Authorization_RequestDenied")
    # Owners are not membership.
    assert tenant.post(f"/groups/{group['id']}/owners/$ref", json=ref(alice["id"])).status_code == 204


def test_attribute_changes_move_users_between_groups(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice", department="Sales")
    bob = tenant.new_user("bob", department="Marketing")
    sales = dynamic_group(tenant, "Sales", 'user.department -eq "sales"')
    marketing = dynamic_group(tenant, "Marketing", 'user.department -eq "Marketing"')
    enabled = dynamic_group(tenant, "Enabled", "user.accountEnabled -eq true")
    process(tenant)
    assert members(tenant, sales["id"]) == {alice["id"]}
    assert members(tenant, marketing["id"]) == {bob["id"]}
    assert members(tenant, enabled["id"]) >= {alice["id"], bob["id"]}

    assert tenant.patch(f"/users/{alice['id']}", json={"department": "Marketing"}).status_code == 204
    process(tenant)
    assert members(tenant, sales["id"]) == set()
    assert members(tenant, marketing["id"]) == {alice["id"], bob["id"]}

    carol = tenant.new_user("carol", department="SALES")
    assert tenant.delete(f"/users/{bob['id']}").status_code == 204
    process(tenant)
    assert members(tenant, sales["id"]) == {carol["id"]}
    assert members(tenant, marketing["id"]) == {alice["id"]}
    restored = tenant.post(f"/directory/deletedItems/{bob['id']}/restore")
    assert restored.status_code == 200, restored.text
    process(tenant)
    assert members(tenant, marketing["id"]) == {alice["id"], bob["id"]}
    status = tenant.get(f"/groups/{marketing['id']}?$select=membershipRuleProcessingStatus").json()
    assert status["membershipRuleProcessingStatus"]["status"] == "Succeeded"
    assert status["membershipRuleProcessingStatus"]["lastMembershipUpdated"]


def test_a_rule_change_applies_the_difference_and_the_log_shows_it(tenant: TenantHandle) -> None:
    users = [tenant.new_user(f"user{i}", department=dept) for i, dept in enumerate(["A", "A", "B", "C"])]
    group = dynamic_group(tenant, "Team", 'user.department -in ["A", "B"]')
    process(tenant)
    assert members(tenant, group["id"]) == {u["id"] for u in users[:3]}
    delta = tenant.get("/groups/delta?$select=members").json()
    while "@odata.nextLink" in delta:
        delta = tenant.get(delta["@odata.nextLink"].split("/v1.0", 1)[1]).json()
    link = delta["@odata.deltaLink"].split("/v1.0", 1)[1]

    assert (
        tenant.patch(f"/groups/{group['id']}", json={"membershipRule": 'user.department -in ["B", "C"]'}).status_code
        == 204
    )
    process(tenant)
    assert members(tenant, group["id"]) == {users[2]["id"], users[3]["id"]}
    changes = tenant.get(link).json()["value"]
    touched = [m for g in changes if g["id"] == group["id"] for m in g.get("members@delta", [])]
    # Only the difference: the user who stays is neither removed nor added again.
    assert sorted((m["id"], "@removed" in m) for m in touched) == sorted(
        [(users[0]["id"], True), (users[1]["id"], True), (users[3]["id"], False)]
    )


def test_making_a_static_group_dynamic_drops_its_manual_members(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice", department="Sales")
    bob = tenant.new_user("bob", department="Other")
    inner = tenant.new_group("Inner")
    group = tenant.new_group("Was static")
    for member in (bob["id"], inner["id"]):
        assert tenant.post(f"/groups/{group['id']}/members/$ref", json=ref(member)).status_code == 204
    patch = {"groupTypes": ["DynamicMembership"], "membershipRule": 'user.department -eq "Sales"'}
    assert tenant.patch(f"/groups/{group['id']}", json=patch).status_code == 204
    process(tenant)
    assert members(tenant, group["id"]) == {alice["id"]}


def test_pause_freezes_and_resume_catches_up(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice", department="Sales")
    group = dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    process(tenant)
    assert tenant.patch(f"/groups/{group['id']}", json={"membershipRuleProcessingState": "Paused"}).status_code == 204
    assert tenant.patch(f"/users/{alice['id']}", json={"department": "Other"}).status_code == 204
    bob = tenant.new_user("bob", department="Sales")
    process(tenant)
    assert members(tenant, group["id"]) == {alice["id"]}
    assert_graph_error(tenant.post(f"/groups/{group['id']}/reprocessMembership"), 400, "Request_BadRequest")
    assert tenant.patch(f"/groups/{group['id']}", json={"membershipRuleProcessingState": "On"}).status_code == 204
    process(tenant)
    assert members(tenant, group["id"]) == {bob["id"]}


def test_process_now_and_a_restart_resume_from_the_saved_position(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice", department="Sales")
    group = dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    first = processor_for(tenant, "first")
    process(tenant, first)
    assert tenant.post(f"/groups/{group['id']}/reprocessMembership").status_code == 204
    status = tenant.get(f"/groups/{group['id']}?$select=membershipRuleProcessingStatus").json()
    assert status["membershipRuleProcessingStatus"]["status"] == "Succeeded"
    process(tenant, first)
    # The first process dies holding its lease; another takes over once the lease has expired, from the cursor.
    assert tenant.patch(f"/users/{alice['id']}", json={"department": "Other"}).status_code == 204
    second = processor_for(tenant, "second")
    assert not second.claim(tenant.id)
    process(tenant, processor_for(tenant, "second", later(120)))
    assert members(tenant, group["id"]) == set()
    assert_graph_error(
        tenant.post(f"/groups/{tenant.new_group('Plain')['id']}/reprocessMembership"), 400, "Request_BadRequest"
    )


def test_unrelated_changes_cost_no_evaluation(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice", department="Sales")
    group = dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    process(tenant)
    processor = processor_for(tenant)
    assert processor.claim(tenant.id)
    calls: list[str] = []
    original = processor._plan

    def spy(session, tenant_id, wanted, groups):  # type: ignore[no-untyped-def]
        calls.extend(wanted)
        return original(session, tenant_id, wanted, groups)

    processor._plan = spy  # type: ignore[method-assign]
    assert tenant.patch(f"/users/{alice['id']}", json={"jobTitle": "Boss"}).status_code == 204
    processor.run_tenant(tenant.id)
    assert calls == []
    assert tenant.patch(f"/users/{alice['id']}", json={"department": "Ops"}).status_code == 204
    processor.run_tenant(tenant.id)
    assert calls == [alice["id"]]
    assert members(tenant, group["id"]) == set()


def test_evaluate_dynamic_membership_explains(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice", department="Sales", jobTitle="SDE II")
    rule = '(user.department -eq "Sales") -and -not (user.jobTitle -startsWith "SDE")'
    answer = tenant.post("/groups/evaluateDynamicMembership", json={"memberId": alice["id"], "membershipRule": rule})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["membershipRule"] == rule and body["membershipRuleEvaluationResult"] is False
    details = body["membershipRuleEvaluationDetails"]
    assert details["expressionResult"] is False
    first = details["expressionEvaluationDetails"][0]
    assert first["expression"] == 'user.department -eq "Sales"' and first["expressionResult"] is True
    assert first["propertyToEvaluate"] == {"propertyName": "department", "propertyValue": "Sales"}
    group = dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    own = tenant.post(f"/groups/{group['id']}/evaluateDynamicMembership", json={"memberId": alice["id"]}).json()
    assert own["membershipRuleEvaluationResult"] is True
    bad = tenant.post("/groups/evaluateDynamicMembership", json={"memberId": alice["id"], "membershipRule": "x"})
    assert "Invalid object type." in assert_graph_error(bad, 400, "Request_BadRequest")["message"]
    unknown = tenant.post(
        "/groups/evaluateDynamicMembership",
        json={"memberId": "00000000-0000-0000-0000-000000000000", "membershipRule": rule},
    )
    assert_graph_error(unknown, 404, "Request_ResourceNotFound")


def test_member_of_rules(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice")
    bob = tenant.new_user("bob")
    source = tenant.new_group("Source")
    assert tenant.post(f"/groups/{source['id']}/members/$ref", json=ref(alice["id"])).status_code == 204
    group = dynamic_group(tenant, "Of source", f"user.memberOf -any (group.objectId -in ['{source['id']}'])")
    process(tenant)
    assert members(tenant, group["id"]) == {alice["id"]}
    assert tenant.post(f"/groups/{source['id']}/members/$ref", json=ref(bob["id"])).status_code == 204
    assert tenant.delete(f"/groups/{source['id']}/members/{alice['id']}/$ref").status_code == 204
    process(tenant)
    assert members(tenant, group["id"]) == {bob["id"]}
    chain = tenant.post(
        "/groups",
        json={
            "displayName": "Chain",
            "mailEnabled": False,
            "mailNickname": "chain",
            "securityEnabled": True,
            "groupTypes": ["DynamicMembership"],
            "membershipRule": f"user.memberOf -any (group.objectId -in ['{group['id']}'])",
        },
    )
    assert_graph_error(chain, 400, "Request_BadRequest")


def test_rules_changed_together_share_one_read_of_the_users(tenant: TenantHandle, monkeypatch: Any) -> None:
    import hospes.services.dynamic_processing as processing

    alice = tenant.new_user("alice", department="Sales", jobTitle="Engineer")
    first = dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    second = dynamic_group(tenant, "Engineers", 'user.jobTitle -startsWith "eng"')
    reads: list[int] = []
    original = processing.scan_users

    def counting(session: Any, tenant_id: str, rules: Any) -> Any:
        reads.append(len(rules))
        return original(session, tenant_id, rules)

    monkeypatch.setattr(processing, "scan_users", counting)
    process(tenant)
    assert reads == [2]
    assert members(tenant, first["id"]) == members(tenant, second["id"]) == {alice["id"]}


def test_deleted_restored_and_purged_dynamic_groups(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice", department="Sales")
    group = dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    process(tenant)
    assert tenant.delete(f"/groups/{group['id']}").status_code == 204
    bob = tenant.new_user("bob", department="Sales")
    process(tenant)  # a deleted group is not processed
    restored = tenant.post(f"/directory/deletedItems/{group['id']}/restore")
    assert restored.status_code == 200, restored.text
    process(tenant)  # restoring asks for a full pass, which catches up
    assert members(tenant, group["id"]) == {alice["id"], bob["id"]}
    assert tenant.delete(f"/groups/{group['id']}").status_code == 204
    assert tenant.delete(f"/directory/deletedItems/{group['id']}").status_code == 204
    assert tenant.patch(f"/users/{alice['id']}", json={"department": "Ops"}).status_code == 204
    process(tenant)
    assert_graph_error(tenant.get(f"/groups/{group['id']}"), 404, "Request_ResourceNotFound")


def test_evaluation_needs_users_read_as_well_as_groups_read(tenant: TenantHandle) -> None:
    alice = tenant.new_user("alice", department="Sales")
    group = dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    app = tenant.post("/applications", json={"displayName": "Group reader"}).json()
    sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    secret = tenant.post(f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    graph = tenant.get("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'").json()["value"][0]

    def grant(permission: str) -> dict[str, str]:
        role = next(r for r in graph["appRoles"] if r["value"] == permission)
        body = {"principalId": sp["id"], "resourceId": graph["id"], "appRoleId": role["id"]}
        assert tenant.post(f"/servicePrincipals/{sp['id']}/appRoleAssignments", json=body).status_code == 201
        return {"Authorization": f"Bearer {fetch_token(tenant.client, tenant.id, app['appId'], secret)}"}

    headers = grant("Group.Read.All")
    path = f"/v1.0/groups/{group['id']}/evaluateDynamicMembership"
    assert tenant.client.get(f"/v1.0/groups/{group['id']}", headers=headers).status_code == 200
    refused = tenant.client.post(path, json={"memberId": alice["id"]}, headers=headers)
    assert_graph_error(refused, 403, "Authorization_RequestDenied")
    headers = grant("User.Read.All")
    answer = tenant.client.post(path, json={"memberId": alice["id"]}, headers=headers)
    assert answer.status_code == 200 and answer.json()["membershipRuleEvaluationResult"] is True
    assert_graph_error(
        tenant.client.post(f"/v1.0/groups/{group['id']}/reprocessMembership", headers=headers),
        403,
        "Authorization_RequestDenied",
    )
