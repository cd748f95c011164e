"""Cross-tenant synchronization between two tenants of one deployment, configured over Graph as Microsoft
documents it: Test Connection, the Azure2Azure job and its schema, then the lifecycle — initial cycle, update,
disable, delete and restore, unassign and reassign, an existing guest matched by mail, and a target that withdraws
its permission."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.errors import ConflictError
from hospes.domain.provisioning import JobCode
from hospes.services.cross_tenant_users import SyncedUsers, sync_actor
from hospes.storage.tables import AuditLog, OutboxMessage, User
from tests.helpers.cross_tenant import CTS_TEMPLATE, PARTNERS, SyncConfig, allow_sync, make_config
from tests.helpers.graph import assert_graph_error
from tests.helpers.portal import sign_in
from tests.helpers.tenants import ADMIN_PASSWORD, TenantHandle

CHECK_FAILURE = "AzureDirectoryB2BManagementPolicyCheckFailure"


@pytest.fixture
def config(tenant: TenantHandle, other_tenant: TenantHandle) -> SyncConfig:
    allow_sync(other_tenant, tenant)
    sync = make_config(tenant, other_tenant)
    assert sync.validate().status_code == 204
    sync.create_job()
    sync.start()
    return sync


def _synced(sessions: sessionmaker[Session], target: TenantHandle, source_user_id: str) -> User | None:
    with sessions() as session:
        return session.scalar(
            select(User).where(User.tenant_id == target.id, User.alt_sec_id == f"5::{source_user_id}")
        )


def _member(source: TenantHandle, nick: str, **props: Any) -> dict[str, Any]:
    return source.new_user(nick, mail=f"{nick}@{source.domain}", jobTitle="Engineer", department="R&D", **props)


def test_test_connection_refuses_until_the_target_allows_sync(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    sync = make_config(tenant, other_tenant)
    refused = sync.validate()
    assert "synchronization" in assert_graph_error(refused, 400, CHECK_FAILURE)["message"]
    allow_sync(other_tenant, tenant)
    assert sync.validate().status_code == 204
    # the source side matters too: without outbound automatic redemption, no sync
    tenant.patch(f"{PARTNERS}/{other_tenant.id}", json={"automaticUserConsentSettings": {"outboundAllowed": False}})
    error = assert_graph_error(sync.validate(), 400, CHECK_FAILURE)
    assert "auto-redemption" in error["message"]


def test_the_job_has_the_cross_tenant_template_rule_and_anchor(config: SyncConfig) -> None:
    job = config.source.get(f"{config.base}/jobs/{config.job_id}").json()
    assert job["templateId"] == "Azure2Azure" and job["id"].startswith("Azure2Azure.")
    schema = config.source.get(f"{config.base}/jobs/{config.job_id}/schema").json()
    rule = schema["synchronizationRules"][0]
    assert rule["name"] == "USER_INBOUND_USER" and schema["version"] == "v1.2"
    assert rule["targetDirectoryName"] == "Azure Active Directory (target tenant)"
    users = rule["objectMappings"][0]
    assert users["name"] == "Provision Azure Active Directory Users"
    rows = {m["targetAttributeName"]: m for m in users["attributeMappings"]}
    anchor = rows["alternativeSecurityIds"]
    assert anchor["matchingPriority"] == 1 and anchor["source"]["expression"] == "AltSecIdFromNetId([netId])"
    assert rows["showInAddressList"]["source"]["expression"] == '"true"'
    assert rows["userType"]["source"]["expression"] == '"Member"'
    assert {"IsSoftDeleted", "accountEnabled", "manager", "mail", "displayName"} <= set(rows)
    # the anchor cannot change, and no other matching attribute can be added
    rows["mail"]["matchingPriority"] = 2
    refused = config.source.request("PUT", f"{config.base}/jobs/{config.job_id}/schema", json=schema)
    assert "alternativeSecurityIds" in assert_graph_error(refused, 400, "Request_BadRequest")["message"]


def test_lifecycle_create_update_disable_delete_restore_unassign(
    config: SyncConfig, sessions: sessionmaker[Session]
) -> None:
    source, target = config.source, config.target
    boss = _member(source, "boss")
    alice = _member(source, "alice")
    with sessions.begin() as session:  # no Graph route sets a manager yet
        row = session.get(User, alice["id"])
        assert row is not None
        row.manager_id = boss["id"]
    config.assign(boss["id"])
    assignment = config.assign(alice["id"])
    config.settle()

    synced = _synced(sessions, target, alice["id"])
    assert synced is not None and synced.deleted_at is None
    assert synced.user_type == "Member" and synced.external_user_state == "Accepted"
    assert synced.creation_type == "Invitation" and synced.show_in_address_list is True
    assert synced.mail == alice["mail"] and synced.job_title == "Engineer" and synced.department == "R&D"
    assert synced.user_principal_name.endswith(f"#EXT#@{target.domain}")
    assert synced.identities[0]["issuerAssignedId"] == f"{source.id}/{alice['id']}"
    synced_boss = _synced(sessions, target, boss["id"])
    assert synced_boss is not None and synced.manager_id == synced_boss.id  # the manager, resolved in the target
    with sessions() as session:  # no invitation email, no notification
        assert session.scalar(select(func.count()).where(OutboxMessage.tenant_id == target.id)) == 0
        actors = set(session.scalars(select(AuditLog.actor_name).where(AuditLog.tenant_id == target.id)))
    assert any(name and name.startswith("Cross-tenant synchronization from") for name in actors)
    target_id = synced.id
    listed = target.get("/users", params={"$filter": "showInAddressList eq true", "$select": "id"}).json()["value"]
    assert target_id in {u["id"] for u in listed}  # scripts find synchronized users for the address list

    assert source.patch(f"/users/{alice['id']}", json={"jobTitle": "Lead"}).status_code == 204
    config.settle()
    synced = _synced(sessions, target, alice["id"])
    assert synced is not None and synced.job_title == "Lead"

    assert source.patch(f"/users/{alice['id']}", json={"accountEnabled": False}).status_code == 204
    config.settle()
    synced = _synced(sessions, target, alice["id"])
    assert synced is not None and synced.account_enabled is False and synced.deleted_at is None  # disabled, kept
    assert source.patch(f"/users/{alice['id']}", json={"accountEnabled": True}).status_code == 204
    config.settle()
    synced = _synced(sessions, target, alice["id"])
    assert synced is not None and synced.account_enabled is True

    assert source.delete(f"/users/{alice['id']}").status_code == 204
    config.settle()
    synced = _synced(sessions, target, alice["id"])
    assert synced is not None and synced.deleted_at is not None  # soft-deleted in the target
    deleted = target.get("/directory/deletedItems/microsoft.graph.user").json()["value"]
    assert target_id in {u["id"] for u in deleted}

    assert source.post(f"/directory/deletedItems/{alice['id']}/restore").status_code == 200
    config.settle()
    synced = _synced(sessions, target, alice["id"])
    assert synced is not None and synced.deleted_at is None and synced.id == target_id  # restored, same user

    config.unassign(assignment)
    config.settle()
    synced = _synced(sessions, target, alice["id"])
    assert synced is not None and synced.deleted_at is not None
    config.assign(alice["id"])
    config.settle()
    synced = _synced(sessions, target, alice["id"])
    assert synced is not None and synced.deleted_at is None and synced.id == target_id
    with sessions() as session:
        count = session.scalar(select(func.count()).where(User.tenant_id == target.id, User.mail_key == alice["mail"]))
    assert count == 1
    assert config.status()["code"] == JobCode.ACTIVE


def test_an_existing_guest_is_matched_by_mail_not_duplicated(
    config: SyncConfig, sessions: sessionmaker[Session]
) -> None:
    source, target = config.source, config.target
    bob = _member(source, "bob")
    invited = target.post(
        "/invitations",
        json={"invitedUserEmailAddress": bob["mail"], "inviteRedirectUrl": "https://apps.example.com"},
    )
    assert invited.status_code == 201, invited.text
    guest_id = invited.json()["invitedUser"]["id"]
    config.assign(bob["id"])
    config.settle()
    synced = _synced(sessions, target, bob["id"])
    assert synced is not None and synced.id == guest_id  # linked to the invited guest
    assert synced.user_type == "Guest"  # userType applies on creation only: a guest is not converted
    assert synced.external_user_state == "Accepted" and synced.job_title == "Engineer"
    with sessions() as session:
        count = session.scalar(select(func.count()).where(User.tenant_id == target.id, User.mail_key == bob["mail"]))
    assert count == 1


def test_a_source_cannot_claim_another_organizations_guest_by_mail(
    config: SyncConfig, sessions: sessionmaker[Session]
) -> None:
    """The target allows the source to synchronize the source's own people. A source administrator can give one of
    its users any mail; matching by mail must not hand that user (and the source's later updates and deletions)
    a guest of the target that belongs to someone else: a pending invitee of another domain, or a guest who
    redeemed with another identity."""
    source, target = config.source, config.target
    pending = f"victim-{uuid.uuid4().hex[:8]}@elsewhere.example"
    redeemed = f"carol-{uuid.uuid4().hex[:8]}@elsewhere.example"
    body = {"inviteRedirectUrl": "https://apps.example.com"}
    pending_id = target.post("/invitations", json={**body, "invitedUserEmailAddress": pending}).json()["invitedUser"]
    redeemed_id = target.post("/invitations", json={**body, "invitedUserEmailAddress": redeemed}).json()["invitedUser"]
    with sessions.begin() as session:
        carol = session.get(User, redeemed_id["id"])
        assert carol is not None
        carol.external_user_state = "Accepted"
        carol.identities = [{"signInType": "federated", "issuer": "mail", "issuerAssignedId": redeemed}]
    for address in (pending, redeemed):
        mallory = source.new_user(f"m{uuid.uuid4().hex[:6]}", mail=address, displayName="Mallory")
        assignment = config.assign(mallory["id"])
        config.settle()
        config.unassign(assignment)  # scoped out: the source's user is soft-deleted in the target
        config.settle()
    with sessions() as session:
        for guest_id in (pending_id["id"], redeemed_id["id"]):
            guest = session.get(User, guest_id)
            assert guest is not None and guest.alt_sec_id is None and guest.deleted_at is None
            assert guest.display_name != "Mallory"
        assert session.get(User, pending_id["id"]).external_user_state == "PendingAcceptance"  # type: ignore[union-attr]


def test_a_target_that_withdraws_its_permission_quarantines_the_job(
    tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    source, target = tenant, other_tenant
    allow_sync(target, source)
    config = make_config(source, target)
    notice = {"key": "SyncNotificationSettings", "value": '{"Enabled": true, "Recipients": "ops@example.com"}'}
    config.create_job([notice])
    config.start()
    carol = _member(source, "carol")
    config.assign(carol["id"])
    config.settle()
    assert _synced(sessions, target, carol["id"]) is not None
    withdraw = {"userSyncInbound": {"isSyncAllowed": False}}
    assert target.patch(f"{PARTNERS}/{source.id}/identitySynchronization", json=withdraw).status_code == 204
    assert source.patch(f"/users/{carol['id']}", json={"jobTitle": "Manager"}).status_code == 204
    config.settle()
    status = config.status()
    assert status["code"] == JobCode.QUARANTINE, status
    assert status["quarantine"]["error"]["code"] == CHECK_FAILURE
    synced = _synced(sessions, target, carol["id"])
    assert synced is not None and synced.job_title == "Engineer"  # nothing written after the refusal
    with sessions() as session:  # the admin hears of it, as with a SCIM job
        mails = session.scalars(
            select(OutboxMessage).where(OutboxMessage.tenant_id == source.id, OutboxMessage.kind == "provisioning")
        ).all()
    assert [m.recipients for m in mails] == [["ops@example.com"]]
    # the target allows it again; the admin lifts the quarantine: the held change flows
    allow = {"userSyncInbound": {"isSyncAllowed": True}}
    assert target.patch(f"{PARTNERS}/{source.id}/identitySynchronization", json=allow).status_code == 204
    restart = {"criteria": {"resetScope": "QuarantineState"}}
    assert source.post(f"{config.base}/jobs/{config.job_id}/restart", json=restart).status_code == 204
    config.settle()
    assert config.status()["code"] == JobCode.ACTIVE
    synced = _synced(sessions, target, carol["id"])
    assert synced is not None and synced.job_title == "Manager"


def test_provision_on_demand_creates_the_user_now(config: SyncConfig, sessions: sessionmaker[Session]) -> None:
    source, target = config.source, config.target
    dave = _member(source, "dave")
    config.assign(dave["id"])
    rule_id = config.source.get(f"{config.base}/jobs/{config.job_id}/schema").json()["synchronizationRules"][0]["id"]
    body = {"parameters": [{"ruleId": rule_id, "subjects": [{"objectId": dave["id"], "objectTypeName": "User"}]}]}
    response = source.post(f"{config.base}/jobs/{config.job_id}/provisionOnDemand", json=body)
    assert response.status_code == 200, response.text
    assert "Success" in response.json()["value"]
    synced = _synced(sessions, target, dave["id"])
    assert synced is not None and synced.external_user_state == "Accepted"


def test_user_type_always_converts_a_matched_guest_to_member(
    config: SyncConfig, sessions: sessionmaker[Session]
) -> None:
    source, target = config.source, config.target
    erin = _member(source, "erin")
    invited = target.post(
        "/invitations",
        json={"invitedUserEmailAddress": erin["mail"], "inviteRedirectUrl": "https://apps.example.com"},
    )
    assert invited.status_code == 201, invited.text
    schema_url = f"{config.base}/jobs/{config.job_id}/schema"
    schema = source.get(schema_url).json()
    for row in schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]:
        if row["targetAttributeName"] == "userType":
            row["flowType"] = "Always"
    assert source.request("PUT", schema_url, json=schema).status_code == 204
    config.assign(erin["id"])
    config.settle()
    synced = _synced(sessions, target, erin["id"])
    assert synced is not None and synced.id == invited.json()["invitedUser"]["id"]
    assert synced.user_type == "Member"  # "Apply this mapping: Always" converts the guest


def test_a_user_the_target_deleted_is_not_restored_by_sync(config: SyncConfig, sessions: sessionmaker[Session]) -> None:
    source, target = config.source, config.target
    frank = _member(source, "frank")
    config.assign(frank["id"])
    config.settle()
    synced = _synced(sessions, target, frank["id"])
    assert synced is not None
    assert target.delete(f"/users/{synced.id}").status_code == 204  # the target's admin removes it
    assert source.patch(f"/users/{frank['id']}", json={"jobTitle": "Architect"}).status_code == 204
    config.settle()
    synced = _synced(sessions, target, frank["id"])
    assert synced is not None and synced.deleted_at is not None and synced.job_title == "Engineer"
    failed = [row for row in config.logs() if row["provisioningStatusInfo"]["status"] == "failure"]
    assert failed and failed[0]["provisioningStatusInfo"]["errorInformation"]["errorCode"] == (
        "AzureActiveDirectoryObjectDeletedInTarget"
    )


def test_the_configuration_app_comes_from_graphs_template(tenant: TenantHandle) -> None:
    made = tenant.post(f"/applicationTemplates/{CTS_TEMPLATE}/instantiate", json={"displayName": "Fabrikam"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["@odata.context"].endswith("$metadata#microsoft.graph.applicationServicePrincipal")
    assert body["application"]["displayName"] == "Fabrikam" and body["servicePrincipal"]["displayName"] == "Fabrikam"
    assert body["servicePrincipal"]["appId"] == body["application"]["appId"]
    assert [r["value"] for r in body["servicePrincipal"]["appRoles"]] == ["msiam_access"]
    assert body["servicePrincipal"]["applicationTemplateId"] == CTS_TEMPLATE
    sync = f"/servicePrincipals/{body['servicePrincipal']['id']}/synchronization"
    offered = tenant.get(f"{sync}/templates").json()["value"]
    assert [(t["id"], t["factoryTag"]) for t in offered] == [("Azure2Azure", "Azure2Azure")]
    assert [t["id"] for t in tenant.get(sync).json()["templates"]] == ["Azure2Azure"]
    unknown = tenant.post(f"/applicationTemplates/{uuid.uuid4()}/instantiate", json={"displayName": "X"})
    assert_graph_error(unknown, 404, "Request_ResourceNotFound")
    for bad in ({}, {"displayName": 3}, {"displayName": "X", "other": 1}, [], {"displayName": " "}):
        refused = tenant.post(f"/applicationTemplates/{CTS_TEMPLATE}/instantiate", json=bad)
        assert_graph_error(refused, 400, "Request_BadRequest")


def test_leaving_the_scoping_filter_soft_deletes_and_returning_restores(
    config: SyncConfig, sessions: sessionmaker[Session]
) -> None:
    source, target = config.source, config.target
    gina = _member(source, "gina")
    config.assign(gina["id"])
    schema_url = f"{config.base}/jobs/{config.job_id}/schema"
    schema = source.get(schema_url).json()
    clause = {"sourceOperandName": "department", "operatorName": "EQUALS", "targetOperand": {"values": ["R&D"]}}
    schema["synchronizationRules"][0]["objectMappings"][0]["scope"] = {"groups": [{"name": "R&D", "clauses": [clause]}]}
    assert source.request("PUT", schema_url, json=schema).status_code == 204
    config.settle()
    synced = _synced(sessions, target, gina["id"])
    assert synced is not None and synced.deleted_at is None
    target_id = synced.id
    assert source.patch(f"/users/{gina['id']}", json={"department": "Sales"}).status_code == 204
    config.settle()
    synced = _synced(sessions, target, gina["id"])
    assert synced is not None and synced.deleted_at is not None  # out of scope: soft-deleted
    assert source.patch(f"/users/{gina['id']}", json={"department": "R&D"}).status_code == 204
    config.settle()
    synced = _synced(sessions, target, gina["id"])
    assert synced is not None and synced.deleted_at is None and synced.id == target_id
    assert synced.department == "R&D"


def test_only_internal_members_are_synchronized(config: SyncConfig, sessions: sessionmaker[Session]) -> None:
    source, target = config.source, config.target
    guest = source.new_user("hank", mail=f"hank@{source.domain}", userType="Guest")
    config.assign(guest["id"])
    config.settle()
    assert _synced(sessions, target, guest["id"]) is None
    body = {"parameters": [{"subjects": [{"objectId": guest["id"], "objectTypeName": "User"}]}]}
    response = source.post(f"{config.base}/jobs/{config.job_id}/provisionOnDemand", json=body)
    assert response.status_code == 200, response.text
    assert "Filter external users" in response.json()["value"]  # on demand says why
    assert _synced(sessions, target, guest["id"]) is None


def test_the_portal_shows_a_cross_tenant_job(
    web: TestClient, config: SyncConfig, sessions: sessionmaker[Session]
) -> None:
    source = config.source
    ivy = _member(source, "ivy")
    config.assign(ivy["id"])
    config.settle()
    assert sign_in(web, source.domain, source.boot.admin_user_principal_name, ADMIN_PASSWORD).status_code == 303
    base = f"/{source.domain}/admin/apps/{config.sp_id}"
    for path in ("/provisioning", "/provisioning/mappings/user"):
        page = web.get(base + path)
        assert page.status_code == 200, (path, page.text[:500])
    assert "alternativeSecurityIds" in web.get(base + "/provisioning/mappings/user").text
    logs = web.get(f"/{source.domain}/admin/provisioning/logs")
    assert logs.status_code == 200 and "Ivy" in logs.text


def test_one_target_user_per_source_user_even_in_a_race(
    tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    """Two creates for the same anchor (a cycle and an on-demand run that both found nothing): the unique index
    refuses the second, which the engine turns into a match of the first."""
    allow_sync(other_tenant, tenant)
    users = SyncedUsers(sessions, sync_actor(other_tenant.id, "Source"), source_tenant=tenant.id)
    first = users.create("5::race", "race", {"mail": "race@a.example", "display_name": "Race"})
    with pytest.raises(ConflictError):
        users.create("5::race", "race", {"mail": "other@a.example", "display_name": "Race"})
    with sessions() as session:
        found = users.by_anchor(session, "5::race")
    assert found is not None and found.id == first.id
