"""Organization, deleted items (restore, permanent delete, purge), directory roles, audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import GUEST_INVITER
from hospes.services.directory import purge_expired
from hospes.storage.tables import ChangeLog, GroupMember, User
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle


def test_organization(tenant: TenantHandle) -> None:
    org = tenant.get("/organization").json()["value"][0]
    assert org["id"] == tenant.id
    assert org["verifiedDomains"] == [
        {
            "name": tenant.domain,
            "isDefault": True,
            "isInitial": True,
            "type": "Managed",
            "capabilities": "Email, OfficeCommunicationsOnline",
        }
    ]
    patch = {
        "privacyProfile": {"statementUrl": "https://contoso.example/privacy", "contactEmail": "p@contoso.example"},
        "preferredLanguage": "fr",
        "technicalNotificationMails": ["it@contoso.example"],
    }
    assert tenant.patch(f"/organization/{tenant.id}", json=patch).status_code == 204
    org = tenant.get(f"/organization/{tenant.id}").json()
    assert org["privacyProfile"]["statementUrl"] == "https://contoso.example/privacy"
    assert org["preferredLanguage"] == "fr"
    bad = tenant.patch(f"/organization/{tenant.id}", json={"privacyProfile": {"statementUrl": "javascript:x"}})
    assert_graph_error(bad, 400, "Request_BadRequest")
    assert_graph_error(tenant.patch(f"/organization/{tenant.id}", json={"nope": 1}), 400, "Request_BadRequest")


def test_soft_delete_restore_and_permanent_delete(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    user = tenant.new_user("dora")
    group = tenant.new_group("Divers")
    tenant.post(f"/groups/{group['id']}/members/$ref", json={"@odata.id": f"x/{user['id']}"})
    assert tenant.delete(f"/users/{user['id']}").status_code == 204
    deleted = tenant.get("/directory/deletedItems/microsoft.graph.user").json()["value"]
    assert [(d["id"], d["@odata.type"]) for d in deleted] == [(user["id"], "#microsoft.graph.user")]
    assert deleted[0]["deletedDateTime"]
    assert tenant.get(f"/groups/{group['id']}/members").json()["value"] == []  # hidden while deleted
    # The UPN stays taken while the user can be restored.
    clash = tenant.post(
        "/users",
        json={
            "accountEnabled": True,
            "displayName": "D",
            "mailNickname": "dora",
            "userPrincipalName": user["userPrincipalName"],
            "passwordProfile": {"password": "Correct-Horse-9"},
        },
    )
    assert_graph_error(clash, 400, "Request_BadRequest")

    restored = tenant.post(f"/directory/deletedItems/{user['id']}/restore")
    assert restored.status_code == 200 and restored.json()["id"] == user["id"]
    assert [m["id"] for m in tenant.get(f"/groups/{group['id']}/members").json()["value"]] == [user["id"]]
    assert tenant.get("/directory/deletedItems/microsoft.graph.user").json()["value"] == []

    tenant.delete(f"/users/{user['id']}")
    assert tenant.delete(f"/directory/deletedItems/{user['id']}").status_code == 204
    assert_graph_error(tenant.get(f"/directory/deletedItems/{user['id']}"), 404, "Request_ResourceNotFound")
    with sessions() as session:
        assert session.get(User, user["id"]) is None
        assert session.scalar(select(GroupMember).where(GroupMember.member_id == user["id"])) is None
        kinds = list(
            session.scalars(
                select(ChangeLog.change_type).where(ChangeLog.object_id == user["id"]).order_by(ChangeLog.seq)
            )
        )
        assert kinds == ["created", "deleted", "restored", "deleted", "hard_deleted"]
        removal = session.scalar(
            select(ChangeLog).where(ChangeLog.object_id == group["id"], ChangeLog.change_type == "member_removed")
        )
        assert removal is not None and removal.related_id == user["id"]


def test_purge_after_retention(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    old, recent = tenant.new_user("old"), tenant.new_user("recent")
    group = tenant.new_group("Old group")
    for path in (f"/users/{old['id']}", f"/users/{recent['id']}", f"/groups/{group['id']}"):
        tenant.delete(path)
    with sessions.begin() as session:
        long_ago = datetime.now(UTC) - timedelta(days=31)
        session.execute(update(User).where(User.id == old["id"]).values(deleted_at=long_ago))
        from hospes.storage.tables import Group

        session.execute(update(Group).where(Group.id == group["id"]).values(deleted_at=long_ago))
    assert purge_expired(sessions, 30) >= 2
    assert_graph_error(tenant.get(f"/directory/deletedItems/{old['id']}"), 404, "Request_ResourceNotFound")
    assert_graph_error(tenant.get(f"/directory/deletedItems/{group['id']}"), 404, "Request_ResourceNotFound")
    assert tenant.get(f"/directory/deletedItems/{recent['id']}").status_code == 200


def test_directory_roles(tenant: TenantHandle) -> None:
    roles = {r["displayName"]: r["id"] for r in tenant.get("/directoryRoles").json()["value"]}
    assert {"Global Administrator", "User Administrator", "Guest Inviter"} <= set(roles)
    admins = tenant.get(f"/directoryRoles/{roles['Global Administrator']}/members").json()["value"]
    assert [a["userPrincipalName"] for a in admins] == [f"admin@{tenant.domain}"]
    eve = tenant.new_user("eve")
    body = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{eve['id']}"}
    assert tenant.post(f"/directoryRoles/{GUEST_INVITER}/members/$ref", json=body).status_code == 204
    assert_graph_error(
        tenant.post(f"/directoryRoles/{GUEST_INVITER}/members/$ref", json=body), 400, "Request_BadRequest"
    )
    members = tenant.get(f"/directoryRoles/{GUEST_INVITER}/members").json()["value"]
    assert [m["id"] for m in members] == [eve["id"]]
    assert tenant.delete(f"/directoryRoles/{GUEST_INVITER}/members/{eve['id']}/$ref").status_code == 204
    assert_graph_error(
        tenant.get("/directoryRoles/00000000-0000-0000-0000-000000000009"), 404, "Request_ResourceNotFound"
    )


def test_audit_log_records_success_and_failure(tenant: TenantHandle) -> None:
    user = tenant.new_user("audited")
    tenant.patch(f"/users/{user['id']}", json={"jobTitle": "Auditor"})
    clash = tenant.post(
        "/users",
        json={
            "accountEnabled": True,
            "displayName": "A",
            "mailNickname": "audited",
            "userPrincipalName": user["userPrincipalName"],
            "passwordProfile": {"password": "Correct-Horse-9"},
        },
    )
    assert clash.status_code == 400
    audits = tenant.get("/auditLogs/directoryAudits?$top=5").json()["value"]
    latest = audits[0]
    assert latest["activityDisplayName"] == "Add user" and latest["result"] == "failure"
    assert "already exists" in latest["resultReason"]
    update_row = audits[1]
    assert update_row["activityDisplayName"] == "Update user" and update_row["result"] == "success"
    assert update_row["targetResources"][0]["id"] == user["id"]
    assert update_row["targetResources"][0]["modifiedProperties"] == [
        {"displayName": "jobTitle", "oldValue": "[null]", "newValue": '["Auditor"]'}
    ]
    assert update_row["initiatedBy"]["app"]["displayName"] == "Contoso automation"
    filtered = tenant.get("/auditLogs/directoryAudits?$filter=result eq 'failure'").json()["value"]
    assert [a["activityDisplayName"] for a in filtered] == ["Add user"]
