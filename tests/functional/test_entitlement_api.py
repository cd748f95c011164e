"""Entitlement management through Graph: catalogs, resources, packages, policies; a member's request through two
approval stages (and the 409 of a second approver), delivery through the group and app-role services, extension,
expiry by the timers with grant counting across packages, removals, cancel, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.entitlement.notify import EmConfig
from hospes.storage.tables import AuditLog, OutboxMessage
from tests.helpers.delegated import as_scoped
from tests.helpers.entitlement import EM, changes, make_bundle, ok, policy_body, run_timers, stages
from tests.helpers.tenants import TenantHandle

SCOPE = "EntitlementManagement.ReadWrite.All"


def members(tenant: TenantHandle, group_id: str) -> set[str]:
    return {m["id"] for m in ok(tenant.get(f"/groups/{group_id}/members"))["value"]}


def app_roles(tenant: TenantHandle, user_id: str) -> set[str]:
    return {a["appRoleId"] for a in ok(tenant.get(f"/users/{user_id}/appRoleAssignments"))["value"]}


def test_request_two_stages_deliver_extend_expire(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    bundle = make_bundle(tenant)
    ada, bob, carol = tenant.new_user("ada"), tenant.new_user("bob"), tenant.new_user("carol")
    body = policy_body(
        bundle.package["id"],
        "specificDirectoryUsers",
        specificAllowedTargets=[{"@odata.type": "#microsoft.graph.singleUser", "userId": ada["id"]}],
        requestApprovalSettings={**stages(bob["id"], carol["id"]), "isRequestorJustificationRequired": True},
        questions=[
            {
                "@odata.type": "#microsoft.graph.accessPackageTextInputQuestion",
                "id": "q1",
                "text": "Project?",
                "isRequired": True,
            }
        ],
    )
    policy = ok(tenant.post(f"{EM}/assignmentPolicies", json=body), 201)
    assert policy["requestApprovalSettings"]["stages"][0]["durationBeforeAutomaticDenial"] == "P7D"

    as_ada = as_scoped(tenant, ada, SCOPE)
    mine = ok(as_ada.get(f"{EM}/accessPackages/filterByCurrentUser(on='allowedRequestor')"))["value"]
    assert [p["id"] for p in mine] == [bundle.package["id"]]
    ask: dict[str, Any] = {"requestType": "userAdd", "assignment": {"accessPackageId": bundle.package["id"]}}
    missing = as_ada.post(f"{EM}/assignmentRequests", json=ask)
    assert missing.status_code == 400 and "Project?" in missing.json()["error"]["message"]
    ask.update(
        justification="need it",
        answers=[
            {
                "@odata.type": "#microsoft.graph.accessPackageAnswerString",
                "value": "Apollo",
                "answeredQuestion": {"id": "q1"},
            }
        ],
    )
    request = ok(as_ada.post(f"{EM}/assignmentRequests", json=ask), 201)
    assert request["state"] == "pendingApproval"
    assert as_ada.post(f"{EM}/assignmentRequests", json=ask).json()["error"]["code"] == "PendingRequest"

    as_bob, as_carol = as_scoped(tenant, bob, SCOPE), as_scoped(tenant, carol, SCOPE)
    assert as_carol.get(f"{EM}/assignmentApprovals/{request['id']}").status_code == 404  # not yet carol's
    approval = ok(as_bob.get(f"{EM}/assignmentApprovals/{request['id']}"))
    first = approval["stages"][0]
    assert first["assignedToMe"] is True and first["status"] == "InProgress"
    decide = f"{EM}/assignmentApprovals/{request['id']}/stages/{first['id']}"
    assert as_ada.patch(decide, json={"reviewResult": "Approve"}).status_code == 403  # the requestor is no approver
    assert as_bob.patch(decide, json={"reviewResult": "Approve", "justification": "ok"}).status_code == 204
    again = as_bob.patch(decide, json={"reviewResult": "Deny"})
    assert again.status_code == 409, again.text
    second = ok(as_carol.get(f"{EM}/assignmentApprovals/{request['id']}"))["stages"][1]
    assert second["status"] == "InProgress"
    assert members(tenant, bundle.group["id"]) == set()
    url = f"{EM}/assignmentApprovals/{request['id']}/stages/{second['id']}"
    assert as_carol.patch(url, json={"reviewResult": "Approve"}).status_code == 204

    done = ok(tenant.get(f"{EM}/assignmentRequests/{request['id']}"))
    assert (done["state"], done["status"]) == ("delivered", "Delivered")
    assignment_id = done["assignment"]["id"]
    assert members(tenant, bundle.group["id"]) == {ada["id"]}
    assert app_roles(tenant, ada["id"]) == {"0c7a7ff4-8d1e-4b0f-9a77-5b3f1b0f1a01"}
    held = ok(as_ada.get(f"{EM}/assignments/filterByCurrentUser(on='target')"))["value"]
    assert [(a["id"], a["state"]) for a in held] == [(assignment_id, "delivered")]
    first_end = held[0]["schedule"]["expiration"]["endDateTime"]

    # Extension: a userUpdate without approval moves the end; the old date's timer no longer ends the assignment.
    assert run_timers(sessions, timedelta(days=10), tenant.id) == 0
    extend = {"requestType": "userUpdate", "assignment": {"id": assignment_id}, "justification": "more time"}
    assert ok(as_ada.post(f"{EM}/assignmentRequests", json=extend), 201)["state"] == "delivered"
    assert ok(tenant.get(f"{EM}/assignments/{assignment_id}"))["schedule"]["expiration"]["endDateTime"] >= first_end

    # The same group through a second package, admin-assigned: it stays when the first package expires.
    other = ok(
        tenant.post(f"{EM}/accessPackages", json={"displayName": "Team only", "catalog": {"id": bundle.catalog["id"]}}),
        201,
    )
    roles = ok(tenant.get(f"{EM}/catalogs/{bundle.catalog['id']}/resourceRoles?$expand=resource"))["value"]
    member_role = next(r for r in roles if r["originId"] == f"Member_{bundle.group['id']}")
    ok(
        tenant.post(
            f"{EM}/accessPackages/{other['id']}/resourceRoleScopes",
            json={
                "role": {
                    "originId": member_role["originId"],
                    "originSystem": "AadGroup",
                    "resource": {"id": member_role["resource"]["id"]},
                }
            },
        ),
        201,
    )
    direct = ok(
        tenant.post(
            f"{EM}/assignmentPolicies",
            json=policy_body(other["id"], "notSpecified", expiration={"type": "noExpiration"}),
        ),
        201,
    )
    admin_add = {
        "requestType": "adminAdd",
        "assignment": {"targetId": ada["id"], "assignmentPolicyId": direct["id"], "accessPackageId": other["id"]},
    }
    assert ok(tenant.post(f"{EM}/assignmentRequests", json=admin_add), 201)["state"] == "delivered"

    assert run_timers(sessions, timedelta(days=400), tenant.id) >= 1
    expired = ok(tenant.get(f"{EM}/assignments/{assignment_id}"))
    assert (expired["state"], expired["status"]) == ("expired", "ExpiredNotificationTriggered")
    assert members(tenant, bundle.group["id"]) == {ada["id"]}  # still given by the other package
    assert app_roles(tenant, ada["id"]) == set()  # only the first package gave the app role
    removals = ok(tenant.get(f"{EM}/assignmentRequests?$filter=state eq 'delivered'"))["value"]
    assert any(r["requestType"] == "systemRemove" and r["assignment"]["id"] == assignment_id for r in removals)

    live = next(a for a in ok(tenant.get(f"{EM}/assignments"))["value"] if a["state"] == "delivered")
    ok(
        tenant.post(f"{EM}/assignmentRequests", json={"requestType": "adminRemove", "assignment": {"id": live["id"]}}),
        201,
    )
    assert members(tenant, bundle.group["id"]) == set()


def test_an_approver_decides_but_cannot_cancel(tenant: TenantHandle) -> None:
    """Canceling is the requestor's (or an administrator's): an approver answers with a decision, which the policy
    may require a reason for and which the requestor is told of; an escalation approver not yet asked has none."""
    bundle = make_bundle(tenant, "Ops")
    ada, bob = tenant.new_user("ada"), tenant.new_user("bob")
    body = policy_body(bundle.package["id"], "allMemberUsers", requestApprovalSettings=stages(bob["id"]))
    ok(tenant.post(f"{EM}/assignmentPolicies", json=body), 201)
    as_ada, as_bob = as_scoped(tenant, ada, SCOPE), as_scoped(tenant, bob, SCOPE)
    ask = {"requestType": "userAdd", "assignment": {"accessPackageId": bundle.package["id"]}}
    request = ok(as_ada.post(f"{EM}/assignmentRequests", json=ask), 201)
    assert as_bob.post(f"{EM}/assignmentRequests/{request['id']}/cancel").status_code == 403
    assert ok(as_ada.get(f"{EM}/assignmentRequests/{request['id']}"))["state"] == "pendingApproval"
    assert ok(as_bob.get(f"{EM}/assignmentRequests/{request['id']}"))["id"] == request["id"]  # still visible


def test_denial_cancel_and_bad_input(tenant: TenantHandle) -> None:
    bundle = make_bundle(tenant, "Sales")
    ada, bob = tenant.new_user("ada"), tenant.new_user("bob")
    body = policy_body(bundle.package["id"], "allMemberUsers", requestApprovalSettings=stages(bob["id"]))
    ok(tenant.post(f"{EM}/assignmentPolicies", json=body), 201)
    as_ada, as_bob = as_scoped(tenant, ada, SCOPE), as_scoped(tenant, bob, SCOPE)
    ask = {"requestType": "UserAdd", "accessPackageAssignment": {"accessPackageId": bundle.package["id"]}}
    request = ok(as_ada.post(f"{EM}/assignmentRequests", json=ask), 201)
    stage = ok(as_bob.get(f"{EM}/assignmentApprovals/{request['id']}/stages"))["value"][0]
    url = f"{EM}/assignmentApprovals/{request['id']}/stages/{stage['id']}"
    assert as_bob.patch(url, json={"reviewResult": "Deny", "justification": "no"}).status_code == 204
    assert ok(as_ada.get(f"{EM}/assignmentRequests/{request['id']}"))["state"] == "denied"
    assert members(tenant, bundle.group["id"]) == set()

    again = ok(as_ada.post(f"{EM}/assignmentRequests", json=ask), 201)
    assert as_ada.post(f"{EM}/assignmentRequests/{again['id']}/cancel").status_code == 204
    assert ok(as_ada.get(f"{EM}/assignmentRequests/{again['id']}"))["state"] == "canceled"
    assert as_ada.post(f"{EM}/assignmentRequests/{again['id']}/cancel").status_code == 400
    assert ok(as_bob.get(f"{EM}/assignmentApprovals/filterByCurrentUser(on='approver')"))["value"] == []

    # An ordinary user cannot administer; bad bodies are 400 in Graph's envelope.
    denied = as_ada.post(f"{EM}/catalogs", json={"displayName": "x"})
    assert denied.status_code == 403
    admin_add = {
        "requestType": "adminAdd",
        "assignment": {"targetId": bob["id"], "accessPackageId": bundle.package["id"]},
    }
    assert as_ada.post(f"{EM}/assignmentRequests", json=admin_add).status_code == 403
    for bad in (
        {"displayName": "p", "allowedTargetScope": "everyone", "accessPackage": {"id": bundle.package["id"]}},
        {
            **policy_body(bundle.package["id"], "allMemberUsers"),
            "expiration": {"type": "afterDuration", "duration": "180 days"},
        },
        {
            **policy_body(bundle.package["id"], "allMemberUsers"),
            "requestApprovalSettings": {"isApprovalRequiredForAdd": True, "stages": []},
        },
    ):
        response = tenant.post(f"{EM}/assignmentPolicies", json=bad)
        assert response.status_code == 400 and response.json()["error"]["code"] == "Request_BadRequest", bad
    assert tenant.post(f"{EM}/assignmentRequests", json={"requestType": "systemRemove"}).status_code == 400
    assert tenant.get(f"{EM}/catalogs/nope").status_code == 404
    dynamic = tenant.new_group(
        "Dyn",
        groupTypes=["DynamicMembership"],
        membershipRule='user.department -eq "x"',
        membershipRuleProcessingState="On",
    )
    add = {
        "requestType": "adminAdd",
        "resource": {"originId": dynamic["id"], "originSystem": "AadGroup"},
        "catalog": {"id": bundle.catalog["id"]},
    }
    assert tenant.post(f"{EM}/resourceRequests", json=add).status_code == 400
    assert tenant.delete(f"{EM}/catalogs/{bundle.catalog['id']}").status_code == 400  # still holds a package
    settings = ok(tenant.get(f"{EM}/settings"))
    assert settings["externalUserLifecycleAction"] == "blockSignInAndDelete"
    patch = {"externalUserLifecycleAction": "BlockSignIn", "durationUntilExternalUserDeletedAfterBlocked": "P4D"}
    assert tenant.patch(f"{EM}/settings", json=patch).status_code == 204
    assert ok(tenant.get(f"{EM}/settings"))["externalUserLifecycleAction"] == "blockSignIn"


def test_guest_by_email_is_governed_blocked_then_deleted(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    bundle = make_bundle(tenant, "Vendors")
    body = policy_body(bundle.package["id"], "notSpecified", expiration={"type": "afterDuration", "duration": "P5D"})
    policy = ok(tenant.post(f"{EM}/assignmentPolicies", json=body), 201)
    assert (
        tenant.patch(f"{EM}/settings", json={"durationUntilExternalUserDeletedAfterBlocked": "P2D"}).status_code == 204
    )
    add = {
        "requestType": "adminAdd",
        "assignment": {
            "target": {"email": "Vera@Vendor.example"},
            "assignmentPolicyId": policy["id"],
            "accessPackageId": bundle.package["id"],
        },
    }
    request = ok(tenant.post(f"{EM}/assignmentRequests", json=add), 201)
    assert request["state"] == "delivered"
    subject = request["requestor"]
    assert subject["subjectLifecycle"] == "governed" and subject["email"] == "vera@vendor.example"
    guest = ok(tenant.get(f"/users/{subject['objectId']}?$select=id,userType,externalUserState,creationType"))
    assert (guest["userType"], guest["externalUserState"], guest["creationType"]) == (
        "Guest",
        "PendingAcceptance",  # an administrator's add: the person has not signed in yet
        "Invitation",
    )
    assert members(tenant, bundle.group["id"]) == {guest["id"]}
    orgs = ok(tenant.get(f"{EM}/connectedOrganizations"))["value"]
    assert [(o["displayName"], o["state"]) for o in orgs] == [("vendor.example", "proposed")]

    assert run_timers(sessions, timedelta(days=5, minutes=1), tenant.id) >= 1  # expiry (and its notice)
    assert members(tenant, bundle.group["id"]) == set()
    assert ok(tenant.get(f"/users/{guest['id']}?$select=accountEnabled"))["accountEnabled"] is False
    history = changes(sessions, tenant.id, guest["id"])
    assert ("updated", None) in history and ("deleted", None) not in history
    assert run_timers(sessions, timedelta(days=7, minutes=2), tenant.id) == 1  # the deletion, two days after the block
    assert tenant.get(f"/users/{guest['id']}").status_code == 404
    assert changes(sessions, tenant.id, guest["id"])[-1] == ("deleted", None)
    with sessions() as s:
        audit = s.execute(
            select(AuditLog.activity, AuditLog.actor_type).where(
                AuditLog.tenant_id == tenant.id, AuditLog.target_id == guest["id"], AuditLog.result == "success"
            )
        )
        assert {("Disable account", "system"), ("Delete user", "system")} <= set(audit)


def test_two_packages_with_one_role_ending_in_one_batch(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    """Both assignments end in the same timer batch: the membership they share is removed once, by the second."""
    bundle = make_bundle(tenant, "Twins")
    other = ok(
        tenant.post(f"{EM}/accessPackages", json={"displayName": "Twin", "catalog": {"id": bundle.catalog["id"]}}), 201
    )
    ok(
        tenant.post(
            f"{EM}/accessPackages/{other['id']}/resourceRoleScopes",
            json={"role": {"originId": f"Member_{bundle.group['id']}", "originSystem": "AadGroup"}},
        ),
        201,
    )
    ada, bob = tenant.new_user("ada"), tenant.new_user("bob")
    for package in (bundle.package, other):
        policy = ok(tenant.post(f"{EM}/assignmentPolicies", json=policy_body(package["id"], "notSpecified")), 201)
        for user in (ada, bob):
            add = {
                "requestType": "adminAdd",
                "assignment": {
                    "targetId": user["id"],
                    "assignmentPolicyId": policy["id"],
                    "accessPackageId": package["id"],
                },
            }
            ok(tenant.post(f"{EM}/assignmentRequests", json=add), 201)
    assert members(tenant, bundle.group["id"]) == {ada["id"], bob["id"]}
    live = [a for a in ok(tenant.get(f"{EM}/assignments"))["value"] if a["target"]["objectId"] == bob["id"]][0]
    ok(
        tenant.post(f"{EM}/assignmentRequests", json={"requestType": "adminRemove", "assignment": {"id": live["id"]}}),
        201,
    )
    assert members(tenant, bundle.group["id"]) == {ada["id"], bob["id"]}  # bob keeps it through the other package
    assert run_timers(sessions, timedelta(days=31), tenant.id) >= 3
    assert members(tenant, bundle.group["id"]) == set()
    removed = [c for c in changes(sessions, tenant.id, bundle.group["id"]) if c[0] == "member_removed"]
    assert sorted(removed) == sorted([("member_removed", ada["id"]), ("member_removed", bob["id"])])
    assert app_roles(tenant, ada["id"]) == set() and app_roles(tenant, bob["id"]) == set()


def test_escalation_and_a_scheduled_start(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    bundle = make_bundle(tenant, "Escalate")
    ada, bob, carol = tenant.new_user("ada"), tenant.new_user("bob"), tenant.new_user("carol")
    stage = {
        "durationBeforeAutomaticDenial": "P10D",
        "isEscalationEnabled": True,
        "durationBeforeEscalation": "P3D",
        "primaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": bob["id"]}],
        "escalationApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": carol["id"]}],
    }
    body = policy_body(
        bundle.package["id"],
        "allMemberUsers",
        requestApprovalSettings={"isApprovalRequiredForAdd": True, "stages": [stage]},
        requestorSettings={"enableTargetsToSelfAddAccess": True, "allowCustomAssignmentSchedule": True},
    )
    ok(tenant.post(f"{EM}/assignmentPolicies", json=body), 201)
    start = (datetime.now(UTC) + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ask = {
        "requestType": "userAdd",
        "assignment": {"accessPackageId": bundle.package["id"]},
        "schedule": {"startDateTime": start},
    }
    request = ok(as_scoped(tenant, ada, SCOPE).post(f"{EM}/assignmentRequests", json=ask), 201)
    as_carol = as_scoped(tenant, carol, SCOPE)
    mine = f"{EM}/assignmentApprovals/filterByCurrentUser(on='approver')"
    assert ok(as_carol.get(mine))["value"] == []  # not escalated yet
    assert run_timers(sessions, timedelta(days=3, minutes=1), tenant.id) == 1
    [approval] = ok(as_carol.get(mine))["value"]
    stage_id = approval["stages"][0]["id"]
    url = f"{EM}/assignmentApprovals/{request['id']}/stages/{stage_id}"
    assert as_carol.patch(url, json={"reviewResult": "Approve"}).status_code == 204
    scheduled = ok(tenant.get(f"{EM}/assignmentRequests/{request['id']}"))
    assert scheduled["state"] == "scheduled" and members(tenant, bundle.group["id"]) == set()
    assert run_timers(sessions, timedelta(days=20, minutes=5), tenant.id) >= 1
    assert ok(tenant.get(f"{EM}/assignmentRequests/{request['id']}"))["state"] == "delivered"
    assert members(tenant, bundle.group["id"]) == {ada["id"]}


def test_automatic_assignment_from_a_rule(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    """A policy assigning everyone its rule matches: at once when written, then as users change (the periodic
    reconciliation), removing who no longer matches."""
    from hospes.services.entitlement.automatic import reconcile_all

    bundle = make_bundle(tenant, "Sales")
    ada, bob = tenant.new_user("ada", department="Sales"), tenant.new_user("bob", department="R&D")
    rule = {"@odata.type": "#microsoft.graph.attributeRuleMembers", "membershipRule": 'user.department -eq "Sales"'}
    body = policy_body(
        bundle.package["id"],
        "specificDirectoryUsers",
        specificAllowedTargets=[rule],
        automaticRequestSettings={
            "requestAccessForAllowedTargets": True,
            "removeAccessWhenTargetLeavesAllowedTargets": True,
        },
    )
    ok(tenant.post(f"{EM}/assignmentPolicies", json=body), 201)
    assert members(tenant, bundle.group["id"]) == {ada["id"]}
    assert tenant.patch(f"/users/{bob['id']}", json={"department": "Sales"}).status_code == 204
    assert tenant.patch(f"/users/{ada['id']}", json={"department": "Legal"}).status_code == 204
    assert reconcile_all(sessions, None) >= 2  # other tests' tenants may have policies to reconcile too
    assert members(tenant, bundle.group["id"]) == {bob["id"]}
    kinds = sorted(r["requestType"] for r in ok(tenant.get(f"{EM}/assignmentRequests"))["value"])
    assert kinds == ["systemAdd", "systemAdd", "systemRemove"]
    reconcile_all(sessions, None)  # nothing left to change here
    assert members(tenant, bundle.group["id"]) == {bob["id"]}
    assert len(ok(tenant.get(f"{EM}/assignmentRequests"))["value"]) == 3


def test_notices_fourteen_days_and_one_day_before_the_end(
    tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    bundle = make_bundle(tenant, "Notice")
    ada = tenant.new_user("ada", mail=f"ada@{tenant.domain}")
    policy = ok(tenant.post(f"{EM}/assignmentPolicies", json=policy_body(bundle.package["id"], "notSpecified")), 201)
    add = {
        "requestType": "adminAdd",
        "assignment": {
            "targetId": ada["id"],
            "assignmentPolicyId": policy["id"],
            "accessPackageId": bundle.package["id"],
        },
    }
    ok(tenant.post(f"{EM}/assignmentRequests", json=add), 201)

    def expiring() -> int:
        with sessions() as s:
            rows = s.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.tenant_id == tenant.id, OutboxMessage.kind == "access_expiring"
                )
            )
            return sum(1 for r in rows if ada["mail"] in r.recipients)

    mail = EmConfig("http://testserver", "access@hospes.example", "Hospes")
    assert run_timers(sessions, timedelta(days=16, minutes=1), tenant.id, mail) == 1  # 30 days, less 14
    assignment = ok(tenant.get(f"{EM}/assignments"))["value"][0]
    assert expiring() == 1 and assignment["status"] == "Delivered"
    assert run_timers(sessions, timedelta(days=29, minutes=1), tenant.id, mail) == 1
    assignment = ok(tenant.get(f"{EM}/assignments"))["value"][0]
    assert expiring() == 2 and assignment["status"] == "NearExpiry1DayNotificationTriggered"
