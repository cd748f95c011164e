"""A rule change on a 10,000-member dynamic group applies only the difference, and a reader of the membership
running meanwhile never sees the group empty (nor short of the members both rules select)."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import func, insert, select

from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.clock import utcnow
from hospes.storage import changelog
from hospes.storage.tables import GroupMember, User
from tests.helpers.dynamic import dynamic_group, process
from tests.helpers.tenants import TenantHandle

STAYING, LEAVING, JOINING = 9_900, 100, 100


def _add_users(tenant: TenantHandle, department: str, count: int) -> None:
    now = utcnow()
    rows = []
    for _ in range(count):
        uid = str(uuid.uuid4())
        upn = f"u{uid[:12]}@{tenant.domain}"
        rows.append(
            {
                "id": uid,
                "tenant_id": tenant.id,
                "user_principal_name": upn,
                "upn_key": upn.lower(),
                "display_name": upn,
                "department": department,
                "other_mails": [],
                "business_phones": [],
                "identities": [],
                "account_enabled": True,
                "user_type": "Member",
                "created_at": now,
            }
        )
    sessions = tenant.client.app.state.runtime.sessions  # type: ignore[attr-defined]
    with sessions.begin() as session:
        session.execute(insert(User), rows)


def test_rule_change_on_a_10000_member_group_applies_only_the_diff(tenant: TenantHandle) -> None:
    sessions = tenant.client.app.state.runtime.sessions  # type: ignore[attr-defined]
    _add_users(tenant, "A", STAYING)
    _add_users(tenant, "B", LEAVING)
    _add_users(tenant, "C", JOINING)
    group = dynamic_group(tenant, "Big", 'user.department -in ["A", "B"]')
    process(tenant)

    def count() -> int:
        with sessions() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group["id"])
                )
                or 0
            )

    assert count() == STAYING + LEAVING
    with sessions() as session:
        start = changelog.head(session, tenant.id)

    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.append(count())
            time.sleep(0.001)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        patch = tenant.patch(f"/groups/{group['id']}", json={"membershipRule": 'user.department -in ["A", "C"]'})
        assert patch.status_code == 204
        process(tenant)
    finally:
        done.set()
        thread.join()
    assert count() == STAYING + JOINING
    assert seen and min(seen) >= STAYING  # never empty: the members both rules select stay throughout

    with sessions() as session:
        records = changelog.after(session, tenant.id, [ObjectType.GROUP], start, 100_000, upto=None)
    changes = [r.change_type for r in records if r.object_id == group["id"]]
    assert changes.count(ChangeType.MEMBER_ADDED) == JOINING
    assert changes.count(ChangeType.MEMBER_REMOVED) == LEAVING
