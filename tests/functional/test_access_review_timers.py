"""Access reviews over time, driven by the durable timers with a clock the test moves: the end of an instance and
the next one of a recurring series, stages with an outcome strategy, recommendations from inactivity, and a denied
guest blocked at once and deleted when the scheduled deletion falls due."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.services import review_timers
from hospes.services.timers import TimerProcessor
from hospes.settings import Settings
from hospes.storage.tables import User
from hospes.storage.tables_reviews import UserGovernance
from tests.helpers.clock import FakeClock
from tests.helpers.reviews import DEFINITIONS, GuestTeam, by_principal, decisions, guest_team, guests_review, instances
from tests.helpers.tenants import TenantHandle


@pytest.fixture
def run_timers(settings: Settings, sessions: sessionmaker[Session]) -> Any:
    review_timers.install(settings)
    clock = FakeClock()

    def run(days: float) -> None:
        clock.advance(days * 86400)
        TimerProcessor(sessions, "test-timers", clock=clock).run_due()

    return run


def _decide(team: GuestTeam, tenant: TenantHandle, reviewer: dict[str, Any], ids: dict[str, str], d: str) -> None:
    as_reviewer = team.as_user(tenant, reviewer)
    for item_id in ids.values():
        response = as_reviewer.patch(item_id, json={"decision": d, "justification": "checked"})
        assert response.status_code == 204, response.text


def test_recurrence_starts_the_next_instance_after_the_first_ends(tenant: TenantHandle, run_timers: Any) -> None:
    team = guest_team(tenant)
    body = guests_review(
        team,
        defaultDecisionEnabled=False,
        autoApplyDecisionsEnabled=False,
        recurrence={
            "pattern": {"type": "weekly", "interval": 2},
            "range": {"type": "numbered", "numberOfOccurrences": 2, "startDate": utcnow().date().isoformat()},
        },
    )
    definition = tenant.post(DEFINITIONS, json=body).json()
    assert definition["hospesNextInstanceDateTime"] is not None
    [first] = instances(tenant, definition["id"])
    run_timers(8)  # past the seven days of the first instance
    [first] = instances(tenant, definition["id"])
    assert first["status"] == "Completed"
    run_timers(7)  # two weeks after the start: the second instance
    both = instances(tenant, definition["id"])
    assert [i["status"] for i in both] == ["Completed", "InProgress"]
    assert tenant.get(f"{DEFINITIONS}/{definition['id']}").json()["hospesNextInstanceDateTime"] is None
    run_timers(8)
    assert [i["status"] for i in instances(tenant, definition["id"])] == ["Completed", "Completed"]
    history = tenant.get(f"{DEFINITIONS}/{definition['id']}/hospesHistory").json()["value"]
    assert [h["hospesDecisionCounts"] for h in history] == [{"NotReviewed": 5}, {"NotReviewed": 5}]
    assert tenant.get(f"{DEFINITIONS}/{definition['id']}").json()["status"] == "Completed"


def test_inactive_guests_are_recommended_for_removal(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    team = guest_team(tenant)
    g0, g1, g2, _ = (g["id"] for g in team.guests)
    now = utcnow()
    with sessions.begin() as session:
        session.execute(update(User).where(User.id == g0).values(last_successful_sign_in_at=now - timedelta(days=2)))
        session.execute(
            update(User)
            .where(User.id.in_([g1, g2]))
            .values(last_successful_sign_in_at=now - timedelta(days=45), created_at=now - timedelta(days=400))
        )
    definition = tenant.post(DEFINITIONS, json=guests_review(team)).json()
    [instance] = instances(tenant, definition["id"])
    items = by_principal(decisions(tenant, definition["id"], instance["id"]))
    assert items[g0]["recommendation"] == "Approve"
    assert items[g1]["recommendation"] == "Deny" and items[g2]["recommendation"] == "Deny"
    # Guests created within the window count as active.
    assert items[team.guests[3]["id"]]["recommendation"] == "Approve"
    # A sponsor accepts the recommendations for their own guests only.
    sponsor1 = team.as_user(tenant, team.sponsor1)
    path = f"{DEFINITIONS}/{definition['id']}/instances/{instance['id']}/acceptRecommendations"
    assert sponsor1.post(path).status_code == 204
    items = by_principal(decisions(tenant, definition["id"], instance["id"]))
    assert items[g0]["decision"] == "Approve" and items[g1]["decision"] == "Deny"
    assert items[g2]["decision"] == "NotReviewed"  # sponsor2's guest

    # An inactive-users scope reviews only the guests without a sign-in for that long.
    body = guests_review(team)
    body["scope"] = {**body["scope"], "@odata.type": "#microsoft.graph.accessReviewInactiveUsersQueryScope"}
    body["scope"]["inactiveDuration"] = "P30D"
    inactive = tenant.post(DEFINITIONS, json=body).json()
    [instance] = instances(tenant, inactive["id"])
    assert set(by_principal(decisions(tenant, inactive["id"], instance["id"]))) == {g1, g2}


def test_two_stages_with_one_deny_denies(tenant: TenantHandle, run_timers: Any) -> None:
    team = guest_team(tenant)
    g0, g1, _, _ = (g["id"] for g in team.guests)
    body = guests_review(team, defaultDecisionEnabled=False, autoApplyDecisionsEnabled=False)
    sponsors = [{"query": "./sponsors", "queryType": "MicrosoftGraph", "queryRoot": "decisions"}]
    both = [{"query": f"/users/{team.sponsor1['id']}"}, {"query": f"/users/{team.sponsor2['id']}"}]
    body["stageSettings"] = [
        {"stageId": "1", "durationInDays": 2, "reviewers": sponsors, "decisionsThatWillMoveToNextStage": ["Approve"]},
        {
            "stageId": "2",
            "dependsOn": ["1"],
            "durationInDays": 3,
            "reviewers": both,
            "hospesOutcomeStrategy": "oneDenyDenies",
        },
    ]
    definition = tenant.post(DEFINITIONS, json=body).json()
    [instance] = instances(tenant, definition["id"])
    base = f"{DEFINITIONS}/{definition['id']}/instances/{instance['id']}"
    stages = tenant.get(f"{base}/stages").json()["value"]
    assert [s["status"] for s in stages] == ["InProgress", "NotStarted"]
    items = by_principal(decisions(tenant, definition["id"], instance["id"]))
    _decide(team, tenant, team.sponsor1, {g0: f"{base}/decisions/{items[g0]['id']}"}, "Approve")
    _decide(team, tenant, team.sponsor1, {g1: f"{base}/decisions/{items[g1]['id']}"}, "Deny")
    run_timers(2.5)  # stage 1 ends: only the approved guest goes on
    assert [s["status"] for s in tenant.get(f"{base}/stages").json()["value"]] == ["Completed", "InProgress"]
    second = by_principal(decisions(tenant, definition["id"], instance["id"]))
    assert second[g0]["hospesStage"] == 2 and second[g0]["decision"] == "NotReviewed"
    assert second[g1]["hospesStage"] == 1 and second[g1]["decision"] == "Deny"
    stage2 = {g0: f"{base}/decisions/{second[g0]['id']}"}
    _decide(team, tenant, team.sponsor1, stage2, "Approve")
    assert by_principal(decisions(tenant, definition["id"], instance["id"]))[g0]["decision"] == "Approve"
    _decide(team, tenant, team.sponsor2, stage2, "Deny")  # one denial decides, whatever the order
    assert by_principal(decisions(tenant, definition["id"], instance["id"]))[g0]["decision"] == "Deny"
    first = tenant.get(f"{base}/stages/1/decisions").json()["value"]
    assert {d["principal"]["id"] for d in first} == {g["id"] for g in team.guests} | {team.nested_guest["id"]}
    assert {d["principal"]["id"] for d in tenant.get(f"{base}/stages/2/decisions").json()["value"]} == {g0}
    assert tenant.get(f"{base}/stages/9/decisions").status_code == 404
    run_timers(3.5)
    assert instances(tenant, definition["id"])[0]["status"] == "Completed"


def test_denied_guests_are_blocked_then_deleted_when_due(
    tenant: TenantHandle, sessions: sessionmaker[Session], run_timers: Any
) -> None:
    team = guest_team(tenant)
    g0, g1 = team.guests[0]["id"], team.guests[1]["id"]
    body = guests_review(
        team,
        defaultDecisionEnabled=False,
        hospesDeleteAfterDays=10,
        applyActions=[{"@odata.type": "#microsoft.graph.disableAndDeleteUserApplyAction"}],
    )
    definition = tenant.post(DEFINITIONS, json=body).json()
    [instance] = instances(tenant, definition["id"])
    base = f"{DEFINITIONS}/{definition['id']}/instances/{instance['id']}"
    items = by_principal(decisions(tenant, definition["id"], instance["id"]))
    _decide(team, tenant, team.sponsor1, {g0: f"{base}/decisions/{items[g0]['id']}"}, "Deny")
    _decide(team, tenant, team.sponsor1, {g1: f"{base}/decisions/{items[g1]['id']}"}, "Deny")
    run_timers(7.5)  # the instance ends and applies: both blocked, still members
    for gid in (g0, g1):
        user = tenant.get(f"/users/{gid}?$select=accountEnabled").json()
        assert user["accountEnabled"] is False
    with sessions() as session:
        why = session.get(UserGovernance, g0)
        assert why is not None and why.origin == "accessReview" and why.origin_id == definition["id"]
        assert why.scheduled_deletion_at is not None
    # An administrator lets g1 back in before the deletion.
    assert tenant.patch(f"/users/{g1}", json={"accountEnabled": True}).status_code == 204
    run_timers(11)
    assert tenant.get(f"/users/{g0}").status_code == 404
    assert tenant.get(f"/directory/deletedItems/{g0}").status_code == 200
    assert tenant.get(f"/users/{g1}").status_code == 200
    with sessions() as session:
        assert session.scalar(select(UserGovernance).where(UserGovernance.user_id == g1)) is None


def test_a_review_starting_later_waits_for_its_date(tenant: TenantHandle, run_timers: Any) -> None:
    team = guest_team(tenant)
    start = (utcnow() + timedelta(days=3)).date().isoformat()
    body = guests_review(team, recurrence={"pattern": None, "range": {"type": "numbered", "startDate": start}})
    definition = tenant.post(DEFINITIONS, json=body).json()
    assert definition["status"] == "NotStarted" and definition["hospesNextInstanceDateTime"].startswith(start)
    assert instances(tenant, definition["id"]) == []
    run_timers(1)
    assert instances(tenant, definition["id"]) == []
    run_timers(3)
    [instance] = instances(tenant, definition["id"])
    assert instance["status"] == "InProgress"
    assert tenant.get(f"{DEFINITIONS}/{definition['id']}").json()["status"] == "InProgress"
