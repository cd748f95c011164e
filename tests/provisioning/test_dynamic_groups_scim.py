"""A dynamic group assigned to an app: a user's department change moves them between two dynamic groups and,
through the assignment, into (and out of) the app's SCIM target, a real scim2-server."""

from __future__ import annotations

from typing import Any

from tests.helpers.dynamic import dynamic_group, members, process
from tests.helpers.provisioning import App, person


def _target_members(app: App, group_name: str) -> set[str]:
    names = {u["id"]: u["userName"] for u in app.target.users()}
    found = [g for g in app.target.groups() if g["displayName"] == group_name]
    return {names[m["value"]] for g in found for m in g.get("members") or []}


def _users(app: App) -> dict[str, dict[str, Any]]:
    return {u["userName"]: u for u in app.target.users()}


def test_department_change_moves_a_user_between_dynamic_groups_and_into_the_scim_target(sync_app: App) -> None:
    app, tenant = sync_app, sync_app.tenant
    ada = person(tenant, department="Sales")
    bob = person(tenant, department="Marketing")
    sales = dynamic_group(tenant, "Sales", 'user.department -eq "Sales"')
    marketing = dynamic_group(tenant, "Marketing", 'user.department -eq "Marketing"')
    app.assign(marketing["id"])
    process(tenant)
    app.settle()
    assert members(tenant, sales["id"]) == {ada["id"]}
    assert _target_members(app, "Marketing") == {bob["userPrincipalName"]}
    assert ada["userPrincipalName"] not in _users(app)

    assert tenant.patch(f"/users/{ada['id']}", json={"department": "Marketing"}).status_code == 204
    process(tenant)
    assert members(tenant, sales["id"]) == set()
    assert members(tenant, marketing["id"]) == {ada["id"], bob["id"]}
    app.settle()
    assert _target_members(app, "Marketing") == {ada["userPrincipalName"], bob["userPrincipalName"]}
    assert _users(app)[ada["userPrincipalName"]]["active"] is True

    # Leaving the assigned group's rule deprovisions (disables) her in the target.
    assert tenant.patch(f"/users/{ada['id']}", json={"department": "Sales"}).status_code == 204
    process(tenant)
    app.settle()
    assert _target_members(app, "Marketing") == {bob["userPrincipalName"]}
    assert _users(app)[ada["userPrincipalName"]]["active"] is False
