"""The audit log screen: each action named for what it did (Entra's activity names), one entry's detail with the
changed properties (old → new), filters (date range, category, activity, initiator, target, result) and the CSV
download of what the filters show."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.audit_views import CSV_COLUMNS
from hospes.storage.tables import AuditLog
from tests.helpers.portal import csrf_of, sign_in_as_admin
from tests.helpers.tenants import TenantHandle


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, str]) -> Any:
    token = csrf_of(web.get(f"/{tenant.domain}/admin").text)
    return web.post(f"/{tenant.domain}{path}", data={"csrf": token, **data})


def _activities(tenant: TenantHandle, target_id: str) -> list[str]:
    rows = tenant.get("/auditLogs/directoryAudits").json()["value"]
    return [
        r["activityDisplayName"] for r in rows if r["targetResources"] and r["targetResources"][0]["id"] == target_id
    ]


def _rows(web: TestClient, tenant: TenantHandle, **params: str) -> list[str]:
    page = web.get(f"/{tenant.domain}/admin/audit", params=params)
    assert page.status_code == 200, page.text
    return re.findall(r'<a href="/[^"]+/admin/audit/[0-9a-f-]+">([^<]+)</a>', page.text)


def test_actions_are_named_for_what_they_did(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    user = tenant.new_user("nora")
    for action in ("block", "unblock", "delete"):
        assert _post(web, tenant, f"/admin/users/{user['id']}/{action}", {"confirm": "yes"}).status_code == 303
    assert _post(web, tenant, f"/admin/users/{user['id']}/restore", {}).status_code == 303
    assert tenant.delete(f"/users/{user['id']}").status_code == 204
    assert _post(web, tenant, f"/admin/users/{user['id']}/purge", {"confirm": "yes"}).status_code == 303
    group = tenant.new_group("Short lived")
    assert tenant.delete(f"/groups/{group['id']}").status_code == 204
    assert tenant.post(f"/directory/deletedItems/{group['id']}/restore").status_code == 200
    assert sorted(_activities(tenant, user["id"])) == sorted(
        [
            "Add user",
            "Disable account",
            "Enable account",
            "Delete user",
            "Restore user",
            "Delete user",
            "Hard delete user",
        ]
    )
    assert "Restore group" in _activities(tenant, group["id"])


def test_an_entry_shows_what_changed(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    user = tenant.new_user("otto", jobTitle="Clerk")
    assert (
        tenant.patch(f"/users/{user['id']}", json={"jobTitle": "Head <clerk>", "department": "Ops"}).status_code == 204
    )
    page = web.get(f"/{tenant.domain}/admin/audit", params={"activity": "Update user", "target": "otto"}).text
    entry = re.search(r'href="(/[^"]+/admin/audit/[0-9a-f-]+)">Update user<', page)
    assert entry
    detail = web.get(entry.group(1)).text
    changes = detail[detail.index('id="changes"') :]
    assert re.search(r"jobTitle</td>\s*<td[^>]*>Clerk</td><td[^>]*>Head &lt;clerk&gt;</td>", changes)
    assert re.search(
        r"department</td>\s*<td[^>]*><span class=\"muted\">\(empty\)</span></td><td[^>]*>Ops</td>", changes
    )
    assert "Contoso automation" in detail[detail.index('id="entry-actor"') :]
    graph = tenant.get("/auditLogs/directoryAudits", params={"$filter": "activityDisplayName eq 'Update user'"})
    props = graph.json()["value"][0]["targetResources"][0]["modifiedProperties"]
    assert {"displayName": "jobTitle", "oldValue": '["Clerk"]', "newValue": '["Head <clerk>"]'} in props
    assert web.get(f"/{tenant.domain}/admin/audit/00000000-0000-0000-0000-000000000000").status_code == 404


def test_filters(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    sign_in_as_admin(web, tenant)
    old = tenant.new_user("pia")
    new = tenant.new_user("quinn")
    last_month = datetime.now(UTC) - timedelta(days=30)
    with sessions.begin() as s:
        s.execute(
            update(AuditLog)
            .where(AuditLog.tenant_id == tenant.id, AuditLog.target_id == old["id"])
            .values(at=last_month)
        )
    today = datetime.now(UTC).date().isoformat()
    assert _rows(web, tenant, target="pia") == ["Add user"]
    assert _rows(web, tenant, target="pia", **{"from": today}) == []
    day = last_month.date().isoformat()
    assert _rows(web, tenant, target="pia", **{"from": day, "to": day}) == ["Add user"]
    assert _rows(web, tenant, target=new["id"]) == ["Add user"]
    assert "Add user" in _rows(web, tenant, category="UserManagement", activity="Add user", result="success")
    assert _rows(web, tenant, activity="Add user", result="failure") == []
    assert _rows(web, tenant, actor="nobody at all") == []
    assert len(_rows(web, tenant, actor="Contoso automation", activity="Add user")) >= 2
    bad = web.get(f"/{tenant.domain}/admin/audit", params={"from": "31/12/2026", "to": "2026-01-01"})
    assert bad.status_code == 400 and "Enter a date like 2026-12-31." in bad.text
    reversed_range = web.get(f"/{tenant.domain}/admin/audit", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert "The end date is before the start date." in reversed_range.text


def test_download_follows_the_filters(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    user = tenant.new_user("rita")
    tenant.patch(f"/users/{user['id']}", json={"displayName": "=cmd|' /C calc'!A0"})
    response = web.get(f"/{tenant.domain}/admin/audit/download.csv", params={"target": user["id"]})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_activity = {r[4]: r for r in rows[1:]}
    assert set(by_activity) == {"Add user", "Update user"}
    update_row = by_activity["Update user"]
    assert update_row[12] == user["id"] and update_row[5] == "success"
    assert 'displayName: "Rita" -> "=cmd' in update_row[13]
    group = tenant.new_group("=SUM(A1)")
    response = web.get(f"/{tenant.domain}/admin/audit/download.csv", params={"target": group["id"]})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r[4], r[11]) for r in rows[1:]] == [("Add group", "'=SUM(A1)")]  # never a formula in a spreadsheet
