"""Access reviews over HTTP: a group's guests reviewed by their sponsors (each sees only their own items),
decisions with justification, the default decision and auto-apply at the end, the denial cap and the apply
preview, what cannot be removed (a nested member), and what applying leaves in the change log and audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.storage.tables import AuditLog, ChangeLog, OutboxMessage, User
from tests.helpers.graph import assert_graph_error
from tests.helpers.reviews import DEFINITIONS, by_principal, decisions, guest_team, guests_review, instances, ref
from tests.helpers.tenants import TenantHandle


def member_ids(tenant: TenantHandle, group_id: str) -> set[str]:
    response = tenant.get(f"/groups/{group_id}/members")
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["value"]}


def test_sponsors_review_their_own_guests_and_the_cap_holds_back_denials(
    tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    team = guest_team(tenant)
    body = guests_review(team, hospesMaxDenialPercentPerApply=40)
    body["additionalNotificationRecipients"] = [
        {
            "notificationTemplateType": "CompletedAdditionalRecipients",
            "notificationRecipientScope": {
                "@odata.type": "#microsoft.graph.accessReviewNotificationRecipientQueryScope",
                "query": f"/users/{team.member['id']}",
                "queryType": "MicrosoftGraph",
            },
        }
    ]
    created = tenant.post(DEFINITIONS, json=body)
    assert created.status_code == 201, created.text
    definition = created.json()
    assert definition["status"] == "InProgress"
    assert definition["settings"]["defaultDecision"] == "Deny"
    [instance] = instances(tenant, definition["id"])
    assert instance["status"] == "InProgress" and instance["hospesResource"]["id"] == team.group["id"]
    every = by_principal(decisions(tenant, definition["id"], instance["id"]))
    g0, g1, g2, g3 = (g["id"] for g in team.guests)
    assert set(every) == {g0, g1, g2, g3, team.nested_guest["id"]}  # guests only, nested ones included
    assert all(item["decision"] == "NotReviewed" for item in every.values())

    sponsor1 = team.as_user(tenant, team.sponsor1)
    mine = by_principal(decisions(sponsor1, definition["id"], instance["id"], mine=True))
    assert set(mine) == {g0, g1}
    assert set(by_principal(decisions(sponsor1, definition["id"], instance["id"]))) == {g0, g1}
    fallback = by_principal(decisions(team.as_user(tenant, team.fallback), definition["id"], instance["id"]))
    assert set(fallback) == {g3, team.nested_guest["id"]}  # nobody sponsors them
    # A reviewer cannot reach another reviewer's item, nor an instance they do not review.
    base = f"{DEFINITIONS}/{definition['id']}/instances/{instance['id']}/decisions"
    assert_graph_error(
        sponsor1.patch(f"{base}/{every[g2]['id']}", json={"decision": "Deny"}), 404, "Request_ResourceNotFound"
    )
    outsider = team.as_user(tenant, team.member)
    assert outsider.get(f"{DEFINITIONS}/{definition['id']}/instances").json()["value"] == []
    assert_graph_error(outsider.get(f"{base}"), 404, "Request_ResourceNotFound")
    assert outsider.get(DEFINITIONS).json()["value"] == []
    # Approving needs a justification here.
    approve = sponsor1.patch(f"{base}/{mine[g0]['id']}", json={"decision": "Approve"})
    assert_graph_error(approve, 400, "Request_BadRequest")
    assert (
        sponsor1.patch(f"{base}/{mine[g0]['id']}", json={"decision": "Approve", "justification": "active"}).status_code
        == 204
    )
    assert (
        sponsor1.patch(f"{base}/{mine[g1]['id']}", json={"decision": "Deny", "justification": "left"}).status_code
        == 204
    )
    decided = by_principal(decisions(tenant, definition["id"], instance["id"]))
    assert decided[g0]["decision"] == "Approve" and decided[g0]["reviewedBy"]["id"] == team.sponsor1["id"]
    assert decided[g1]["justification"] == "left"
    assert {m.recipients[0] for m in _mails(sessions, instance["id"])} >= {
        team.sponsor1["userPrincipalName"],
        team.sponsor2["userPrincipalName"],
        team.fallback["userPrincipalName"],
    }

    # Stopping ends the instance: open items take the default (Deny), and auto-apply removes at most 40 % of the
    # five items (two) in this run; the nested guest's denial cannot be applied and says so.
    assert tenant.post(f"{DEFINITIONS}/{definition['id']}/instances/{instance['id']}/stop").status_code == 204
    after = by_principal(decisions(tenant, definition["id"], instance["id"]))
    assert after[g2]["decision"] == "Deny" and after[g3]["decision"] == "Deny"
    results = [m for m in _mails(sessions, instance["id"]) if "completed" in m.subject]
    assert team.member["userPrincipalName"] in {m.recipients[0] for m in results}  # the additional recipient
    assert after[team.nested_guest["id"]]["applyResult"] == "ApplyNotSupported"
    applied = {pid for pid, item in after.items() if item["applyResult"] == "AppliedSuccessfully"}
    assert len(applied) == 2 and applied <= {g1, g2, g3}
    assert after[g0]["applyResult"] == "New"
    members = member_ids(tenant, team.group["id"])
    assert not applied & members and g0 in members and team.member["id"] in members
    state = tenant.get(f"{DEFINITIONS}/{definition['id']}/instances/{instance['id']}").json()
    assert state["hospesApplyState"]["heldByDenialCap"] == 1 and state["hospesApplyState"]["applyNotSupported"] == 1
    preview = tenant.get(f"{DEFINITIONS}/{definition['id']}/instances/{instance['id']}/previewApplyDecisions").json()
    [held] = [s for s in preview["steps"] if s["outcome"] == "Remove"]
    assert preview["toRemove"] == 1 and held["principalId"] in {g1, g2, g3} - applied and held["inNextRun"]
    # Denials are closed to reviewers now.
    late = sponsor1.patch(f"{base}/{mine[g0]['id']}", json={"decision": "Deny"})
    assert "no longer change" in assert_graph_error(late, 400, "Request_BadRequest")["message"]
    # The next run applies the rest.
    assert tenant.post(f"{DEFINITIONS}/{definition['id']}/instances/{instance['id']}/applyDecisions").status_code == 204
    assert not {g1, g2, g3} & member_ids(tenant, team.group["id"])
    with sessions() as session:
        removed = set(
            session.scalars(
                select(ChangeLog.related_id).where(
                    ChangeLog.object_id == team.group["id"], ChangeLog.change_type == "member_removed"
                )
            )
        )
        assert removed == {g1, g2, g3}
        audit = session.scalars(
            select(AuditLog.target_id).where(
                AuditLog.tenant_id == tenant.id, AuditLog.activity == "Remove access denied in review"
            )
        )
        assert set(audit) == {g1, g2, g3}
    assert tenant.get(f"{DEFINITIONS}/{definition['id']}").json()["status"] == "Completed"


def _mails(sessions: sessionmaker[Session], instance_id: str) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.related_id == instance_id)))


def test_bad_definitions_are_refused_in_the_graph_envelope(tenant: TenantHandle) -> None:
    team = guest_team(tenant)
    body: dict[str, Any] = guests_review(team)
    body["scope"] = {"query": "/auditLogs/signIns", "queryType": "MicrosoftGraph"}
    assert_graph_error(tenant.post(DEFINITIONS, json=body), 400, "Request_BadRequest")
    body = guests_review(team)
    body["reviewers"] = [{"query": "/me/whatever", "queryType": "MicrosoftGraph"}]
    assert_graph_error(tenant.post(DEFINITIONS, json=body), 400, "Request_BadRequest")
    body = guests_review(team, hospesMaxDenialPercentPerApply=140)
    assert_graph_error(tenant.post(DEFINITIONS, json=body), 400, "Request_BadRequest")
    body = guests_review(team)
    body["scope"]["query"] = body["scope"]["query"].replace(team.group["id"], "00000000-0000-0000-0000-00000000abcd")
    assert_graph_error(tenant.post(DEFINITIONS, json=body), 400, "Request_BadRequest")
    assert_graph_error(tenant.get(f"{DEFINITIONS}/nope"), 404, "Request_ResourceNotFound")


def test_definitions_stay_in_their_tenant(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    team = guest_team(tenant)
    definition = tenant.post(DEFINITIONS, json=guests_review(team)).json()
    assert_graph_error(other_tenant.get(f"{DEFINITIONS}/{definition['id']}"), 404, "Request_ResourceNotFound")
    assert other_tenant.get(DEFINITIONS).json()["value"] == []


def test_guests_of_every_group_get_an_instance_per_group(tenant: TenantHandle) -> None:
    first, second = guest_team(tenant, "Alpha"), guest_team(tenant, "Beta")
    body = guests_review(first)
    body["scope"] = {
        "@odata.type": "#microsoft.graph.accessReviewQueryScope",
        "query": "./members/microsoft.graph.user/?$count=true&$filter=(userType eq 'Guest')",
        "queryType": "MicrosoftGraph",
    }
    body["instanceEnumerationScope"] = {"query": "/groups", "queryType": "MicrosoftGraph"}
    body["reviewers"] = [{"query": "./owners", "queryType": "MicrosoftGraph"}]
    owner = tenant.new_user()
    assert tenant.post(f"/groups/{second.group['id']}/owners/$ref", json=ref(owner["id"])).status_code == 204
    definition = tenant.post(DEFINITIONS, json=body).json()
    every = {i["hospesResource"]["id"]: i for i in instances(tenant, definition["id"])}
    assert {first.group["id"], second.group["id"]} <= set(every)
    beta = by_principal(decisions(tenant, definition["id"], every[second.group["id"]]["id"]))
    assert set(beta) == {g["id"] for g in second.guests}  # direct members only: "./members"
    # The owner reviews the group they own; the other group's items fall to the fallback reviewer.
    as_owner = second.as_user(tenant, owner)
    assert len(decisions(as_owner, definition["id"], every[second.group["id"]]["id"], mine=True)) == 4
    path = f"{DEFINITIONS}/{definition['id']}/instances/{every[first.group['id']]['id']}/decisions"
    assert_graph_error(as_owner.get(path), 404, "Request_ResourceNotFound")  # not a reviewer there


def test_an_apps_inactive_guests(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    team = guest_team(tenant)
    app = tenant.post("/applications", json={"displayName": "Wiki"}).json()
    sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    owner = tenant.new_user()
    assert tenant.post(f"/servicePrincipals/{sp['id']}/owners/$ref", json=ref(owner["id"])).status_code == 204
    idle, active = team.guests[0]["id"], team.guests[1]["id"]
    for user_id in (idle, active, team.member["id"]):
        body = {"principalId": user_id, "resourceId": sp["id"], "appRoleId": "00000000-0000-0000-0000-000000000000"}
        assert tenant.post(f"/users/{user_id}/appRoleAssignments", json=body).status_code == 201
    now = utcnow()
    with sessions.begin() as session:
        session.execute(
            update(User)
            .where(User.id == idle)
            .values(created_at=now - timedelta(days=90), last_successful_sign_in_at=now - timedelta(days=60))
        )
    review = {
        "displayName": "Inactive guests of Wiki",
        "scope": {
            "@odata.type": "#microsoft.graph.principalResourceMembershipsScope",
            "principalScopes": [
                {
                    "@odata.type": "#microsoft.graph.accessReviewInactiveUsersQueryScope",
                    "query": "/users?$filter=(userType eq 'Guest')",
                    "queryType": "MicrosoftGraph",
                    "inactiveDuration": "P30D",
                }
            ],
            "resourceScopes": [{"query": f"/servicePrincipals/{sp['id']}", "queryType": "MicrosoftGraph"}],
        },
        "reviewers": [{"query": f"/servicePrincipals/{sp['id']}/owners", "queryType": "MicrosoftGraph"}],
        "settings": {"defaultDecisionEnabled": True, "defaultDecision": "Deny", "autoApplyDecisionsEnabled": True},
    }
    definition = tenant.post(DEFINITIONS, json=review).json()
    [instance] = instances(tenant, definition["id"])
    assert set(by_principal(decisions(tenant, definition["id"], instance["id"]))) == {idle}
    as_owner = team.as_user(tenant, owner)
    assert len(decisions(as_owner, definition["id"], instance["id"], mine=True)) == 1
    assert tenant.post(f"{DEFINITIONS}/{definition['id']}/stop").status_code == 204
    left = {a["principalId"] for a in tenant.get(f"/servicePrincipals/{sp['id']}/appRoleAssignedTo").json()["value"]}
    assert left == {active, team.member["id"]}
