"""The portal's rule editor: live validation with the error's position, saving (the group becomes dynamic),
validation against listed users with the reason, process now, pause and resume."""

from __future__ import annotations

import html
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers.dynamic import members, process
from tests.helpers.portal import csrf_of, sign_in_as_admin
from tests.helpers.tenants import TenantHandle


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, Any]) -> Any:
    page = web.get(f"/{tenant.domain}/admin/groups")
    return web.post(f"/{tenant.domain}{path}", data={"csrf": csrf_of(page.text), **data})


def test_rule_editor(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    alice = tenant.new_user("alice", department="Sales", jobTitle="SDE")
    bob = tenant.new_user("bob", department="Ops")
    group = tenant.new_group("Sales")
    base = f"/admin/groups/{group['id']}/rule"
    assert 'id="group-rule"' in web.get(f"/{tenant.domain}/admin/groups/{group['id']}").text
    page = web.get(f"/{tenant.domain}{base}")
    assert page.status_code == 200 and 'id="make-dynamic"' in page.text

    live = web.get(f"/{tenant.domain}/admin/rules/validate", params={"expression": 'user.department -eq "a" -and x'})
    assert live.json()["ok"] is False and live.json()["position"] == 30
    assert live.json()["caret"].endswith("\n" + " " * 29 + "^")
    assert web.get(f"/{tenant.domain}/admin/rules/validate", params={"expression": "user.mail -ne null"}).json()["ok"]

    bad = _post(web, tenant, base, {"rule": 'user.nope -eq "x"', "action": "save"})
    assert bad.status_code == 400 and "Attribute not supported. (position 1)" in bad.text
    assert tenant.get(f"/groups/{group['id']}").json()["groupTypes"] == []

    rule = '(user.department -eq "Sales") -and -not (user.jobTitle -startsWith "SDE") -or user.city -eq "x"'
    preview = _post(
        web,
        tenant,
        base,
        {"rule": rule, "action": "preview", "users": f"{alice['userPrincipalName']}\n{bob['id']}"},
    )
    assert preview.status_code == 200, preview.text
    text = html.unescape(preview.text)
    assert "Not a member" in text and "(jobTitle = SDE)" in text and 'id="unstored"' in text
    missing = _post(web, tenant, base, {"rule": rule, "action": "preview", "users": "nobody@x.example"})
    assert missing.status_code == 400 and "nobody@x.example" in missing.text

    saved = _post(web, tenant, base, {"rule": 'user.department -eq "Sales"', "action": "save"})
    assert saved.status_code == 303
    assert tenant.get(f"/groups/{group['id']}").json()["groupTypes"] == ["DynamicMembership"]
    process(tenant)
    assert members(tenant, group["id"]) == {alice["id"]}
    page = web.get(f"/{tenant.domain}{base}").text
    assert "Update complete" in page

    assert _post(web, tenant, f"{base}/state", {"state": "Paused"}).status_code == 303
    assert "Update paused" in web.get(f"/{tenant.domain}{base}").text
    assert tenant.patch(f"/users/{bob['id']}", json={"department": "Sales"}).status_code == 204
    process(tenant)
    assert members(tenant, group["id"]) == {alice["id"]}
    assert _post(web, tenant, f"{base}/process", {}).status_code == 400
    assert _post(web, tenant, f"{base}/state", {"state": "On"}).status_code == 303
    assert _post(web, tenant, f"{base}/process", {}).status_code == 303
    assert "Processing" in web.get(f"/{tenant.domain}{base}").text
    process(tenant)
    assert members(tenant, group["id"]) == {alice["id"], bob["id"]}


def test_the_group_page_refuses_manual_members_of_a_dynamic_group(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    carol = tenant.new_user("carol", department="Ops")
    group = tenant.new_group("Sales", groupTypes=["DynamicMembership"], membershipRule='user.department -eq "Sales"')
    added = _post(web, tenant, f"/admin/groups/{group['id']}/members/add", {"member": carol["userPrincipalName"]})
    assert added.status_code == 400
    assert "managed by its membershipRule" in html.unescape(added.text)
    assert members(tenant, group["id"]) == set()
