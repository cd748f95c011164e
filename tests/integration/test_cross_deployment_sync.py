"""Cross-tenant synchronization between two independent deployments: two ``hospes serve`` processes on loopback,
each with its own database; the source's runner pushes over the target's Graph API (client credentials of the
target tenant's app, invitations redeemed automatically, PATCH, soft deletion and restore). Checked only through
the target's own Graph, as its administrator would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hospes.storage.tables import OutboxMessage
from tests.helpers.cross_deployment import (
    SOURCE_ENV,
    Deployment,
    LiveTenant,
    RemoteSync,
    allow_sync,
    deployment,
    eventually,
    make_remote_sync,
)
from tests.helpers.cross_tenant import PARTNERS

CHECK_FAILURE = "AzureDirectoryB2BManagementPolicyCheckFailure"


@pytest.fixture(scope="module")
def deployments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Deployment]]:
    tmp = Path(tmp_path_factory.mktemp("xdeploy"))
    with deployment("target", tmp) as target, deployment("source", tmp, SOURCE_ENV) as source:
        yield source, target


@pytest.fixture
def pair(deployments: tuple[Deployment, Deployment]) -> tuple[LiveTenant, LiveTenant]:
    source, target = deployments
    return source.tenant("Contoso"), target.tenant("Fabrikam")


@pytest.fixture
def sync(pair: tuple[LiveTenant, LiveTenant]) -> RemoteSync:
    source, target = pair
    allow_sync(target, source)
    made = make_remote_sync(source, target)
    assert made.validate().status_code == 204
    made.create_job()
    return made


def _where(sync: RemoteSync, user_id: str, **expected: Any) -> dict[str, Any]:
    """The target's user once it shows ``expected``."""

    def check() -> dict[str, Any] | None:
        found = sync.find(user_id)
        return found if found and all(found.get(k) == v for k, v in expected.items()) else None

    return eventually(check, what=f"{user_id} with {expected}")


def test_test_connection_says_what_is_missing(pair: tuple[LiveTenant, LiveTenant]) -> None:
    source, target = pair
    remote = make_remote_sync(source, target)
    refused = remote.validate()
    assert refused.status_code == 400 and refused.json()["error"]["code"] == CHECK_FAILURE, refused.text
    allow_sync(target, source)
    assert remote.validate().status_code == 204
    # a wrong secret: a clear credentials error, never a 500
    body = {
        "useSavedCredentials": False,
        "templateId": "Azure2Azure",
        "credentials": [
            {"key": "AuthenticationType", "value": "SyncPolicy"},
            {"key": "CompanyId", "value": target.id},
            {"key": "BaseAddress", "value": target.base_url},
            {"key": "ClientIdentifier", "value": target.boot.client_id},
            {"key": "ClientSecret", "value": "not-the-secret"},
        ],
    }
    wrong = source.post(f"{remote.base}/jobs/validateCredentials", json=body)
    assert wrong.status_code == 400 and "client credentials" in wrong.json()["error"]["message"], wrong.text
    body["credentials"][2] = {"key": "BaseAddress", "value": "http://127.0.0.1:1"}  # nothing listens there
    unreachable = source.post(f"{remote.base}/jobs/validateCredentials", json=body)
    assert unreachable.status_code == 400 and "connection failed" in unreachable.json()["error"]["message"]
    body["credentials"][2] = {"key": "BaseAddress", "value": "ftp://elsewhere.example"}
    wrong_scheme = source.post(f"{remote.base}/jobs/validateCredentials", json=body)
    assert wrong_scheme.status_code == 400, wrong_scheme.text
    body["credentials"] = body["credentials"][:3]  # no app at all
    missing = source.post(f"{remote.base}/jobs/validateCredentials", json=body)
    assert missing.status_code == 400 and "ClientIdentifier" in missing.json()["error"]["message"], missing.text


def test_lifecycle_over_graph(sync: RemoteSync) -> None:
    source = sync.source
    alice = source.member("alice")
    sync.assign(alice["id"])
    synced = _where(sync, alice["id"], jobTitle="Engineer")
    assert synced["userType"] == "Member" and synced["externalUserState"] == "Accepted"
    assert synced["creationType"] == "Invitation" and synced["showInAddressList"] is True
    assert synced["alternativeSecurityIds"][0]["identityProvider"] == source.id
    target_id = synced["id"]

    assert source.patch(f"/users/{alice['id']}", json={"jobTitle": "Lead"}).status_code == 204
    _where(sync, alice["id"], jobTitle="Lead")
    assert source.patch(f"/users/{alice['id']}", json={"accountEnabled": False}).status_code == 204
    _where(sync, alice["id"], accountEnabled=False)  # disabled, not deleted
    assert source.patch(f"/users/{alice['id']}", json={"accountEnabled": True}).status_code == 204
    _where(sync, alice["id"], accountEnabled=True)

    assert source.delete(f"/users/{alice['id']}").status_code == 204
    eventually(lambda: sync.find(alice["id"], deleted=True), what="soft-deleted in the target")
    assert sync.find(alice["id"]) is None
    assert source.post(f"/directory/deletedItems/{alice['id']}/restore").status_code == 200
    assert _where(sync, alice["id"])["id"] == target_id  # restored: the same user

    sync.unassign(alice["id"])
    eventually(lambda: sync.find(alice["id"], deleted=True), what="unassigned: soft-deleted")
    sync.assign(alice["id"])
    assert _where(sync, alice["id"])["id"] == target_id
    mails = sync.target.get("/users", params={"$filter": f"mail eq '{alice['mail']}'"}).json()["value"]
    assert len(mails) == 1  # never a duplicate
    assert sync.job()["status"]["code"] == "Active"


def test_scope_change_soft_deletes_and_returning_restores(sync: RemoteSync) -> None:
    source = sync.source
    gina = source.member("gina")
    sync.assign(gina["id"])

    def scope(schema: dict[str, Any]) -> None:
        clause = {"sourceOperandName": "department", "operatorName": "EQUALS", "targetOperand": {"values": ["R&D"]}}
        rule = schema["synchronizationRules"][0]["objectMappings"][0]
        rule["scope"] = {"groups": [{"name": "R&D", "clauses": [clause]}]}

    sync.schema(scope)
    target_id = _where(sync, gina["id"])["id"]
    assert source.patch(f"/users/{gina['id']}", json={"department": "Sales"}).status_code == 204
    eventually(lambda: sync.find(gina["id"], deleted=True), what="out of scope: soft-deleted")
    assert source.patch(f"/users/{gina['id']}", json={"department": "R&D"}).status_code == 204
    assert _where(sync, gina["id"], department="R&D")["id"] == target_id


def test_an_existing_guest_is_matched_and_converted_only_when_always(sync: RemoteSync) -> None:
    source, target = sync.source, sync.target
    bob, erin = source.member("bob"), source.member("erin")
    guests = {}
    for user in (bob, erin):
        invited = target.post(
            "/invitations", json={"invitedUserEmailAddress": user["mail"], "inviteRedirectUrl": "https://a.example"}
        )
        assert invited.status_code == 201, invited.text
        guests[user["id"]] = invited.json()["invitedUser"]["id"]
    sync.assign(bob["id"])
    linked = _where(sync, bob["id"], jobTitle="Engineer")
    assert linked["id"] == guests[bob["id"]] and linked["userType"] == "Guest"  # matched, not converted
    assert linked["externalUserState"] == "Accepted"

    def always(schema: dict[str, Any]) -> None:
        for row in schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"]:
            if row["targetAttributeName"] == "userType":
                row["flowType"] = "Always"

    sync.schema(always)
    sync.assign(erin["id"])
    converted = _where(sync, erin["id"], userType="Member")
    assert converted["id"] == guests[erin["id"]]
    for user in (bob, erin):
        same_mail = target.get("/users", params={"$filter": f"mail eq '{user['mail']}'"}).json()["value"]
        assert len(same_mail) == 1


def test_a_target_that_withdraws_its_permission_quarantines_the_job(
    pair: tuple[LiveTenant, LiveTenant], deployments: tuple[Deployment, Deployment]
) -> None:
    source, target = pair
    allow_sync(target, source)
    sync = make_remote_sync(source, target)
    notice = {"key": "SyncNotificationSettings", "value": '{"Enabled": true, "Recipients": "ops@example.com"}'}
    sync.create_job([notice])
    carol = source.member("carol")
    sync.assign(carol["id"])
    _where(sync, carol["id"])
    withdraw = {"userSyncInbound": {"isSyncAllowed": False}}
    assert target.patch(f"{PARTNERS}/{source.id}/identitySynchronization", json=withdraw).status_code == 204
    assert source.patch(f"/users/{carol['id']}", json={"jobTitle": "Manager"}).status_code == 204

    def quarantined() -> dict[str, Any] | None:
        status: dict[str, Any] = sync.job()["status"]
        return status if status["code"] == "Quarantine" else None

    status = eventually(quarantined, what="quarantine")
    assert status["quarantine"]["error"]["code"] == CHECK_FAILURE
    assert sync.find(carol["id"])["jobTitle"] == "Engineer"  # type: ignore[index]
    with deployments[0].sessions() as session:  # the admin hears of it, as with a SCIM job
        mails = session.scalars(
            select(OutboxMessage).where(OutboxMessage.tenant_id == source.id, OutboxMessage.kind == "provisioning")
        ).all()
    assert [m.recipients for m in mails] == [["ops@example.com"]]
    allow = {"userSyncInbound": {"isSyncAllowed": True}}
    assert target.patch(f"{PARTNERS}/{source.id}/identitySynchronization", json=allow).status_code == 204
    restart = {"criteria": {"resetScope": "QuarantineState"}}
    assert source.post(f"{sync.base}/jobs/{sync.job_id}/restart", json=restart).status_code == 204
    _where(sync, carol["id"], jobTitle="Manager")


def test_the_target_refuses_a_sync_invitation_it_does_not_allow(pair: tuple[LiveTenant, LiveTenant]) -> None:
    source, target = pair
    body = {
        "invitedUserEmailAddress": "x@source.example",
        "inviteRedirectUrl": "https://a.example",
        "sendInvitationMessage": False,
        "invitedUser": {"alternativeSecurityIds": [{"type": 5, "identityProvider": source.id, "key": "eA=="}]},
    }
    refused = target.post("/invitations", json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == CHECK_FAILURE, refused.text
    allow_sync(target, source)
    for bad in (
        {**body, "sendInvitationMessage": True},
        {**body, "invitedUser": {"alternativeSecurityIds": [{"type": 5, "key": "eA=="}]}},
        {**body, "invitedUser": {"alternativeSecurityIds": [{"type": 5, "identityProvider": source.id, "key": "@@"}]}},
        {**body, "invitedUser": {"alternativeSecurityIds": []}},
        {
            **body,
            "invitedUser": {
                "alternativeSecurityIds": [{"type": 5, "identityProvider": source.id, "key": "eA=="}],
                "userPrincipalName": "a@b.example",
            },
        },
    ):
        answer = target.post("/invitations", json=bad)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "Request_BadRequest", answer.text
    made = target.post("/invitations", json=body)
    assert made.status_code == 201 and made.json()["status"] == "Completed", made.text
    again = target.post("/invitations", json=body)  # a retry after a lost answer: the same user
    assert again.json()["invitedUser"]["id"] == made.json()["invitedUser"]["id"]
    with target.deployment.sessions() as session:  # no email for a synchronized user
        assert session.scalars(select(OutboxMessage).where(OutboxMessage.tenant_id == target.id)).all() == []
