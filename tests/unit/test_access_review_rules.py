"""Access review rules without a database: scope and reviewer queries, outcome strategies, recommendations,
recurrence, the denial cap, and the review emails in every language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hospes.domain.access_reviews import (
    denial_allowance,
    final_decision,
    next_start,
    outcome,
    parse_reviewers,
    parse_scope,
    recommend,
)
from hospes.domain.errors import InvalidInputError
from hospes.mail.compose import render
from hospes.mail.i18n import SUPPORTED

GID = "0b5a1b4e-3c5d-4f65-8f0e-6c1f2a3b4c5d"
SP = "1c5a1b4e-3c5d-4f65-8f0e-6c1f2a3b4c5d"


def q(query: str, kind: str = "#microsoft.graph.accessReviewQueryScope", **extra: str) -> dict[str, str]:
    return {"@odata.type": kind, "query": query, "queryType": "MicrosoftGraph", **extra}


def test_the_documented_scopes_are_understood() -> None:
    guests = parse_scope(q(f"/groups/{GID}/transitiveMembers/?$filter=(userType eq 'Guest')"), None)
    assert (guests.kind, guests.object_id, guests.guests_only, guests.transitive) == ("group", GID, True, True)
    older = parse_scope(
        q(f"/groups/{GID}/members/microsoft.graph.user/?$count=true&$filter=(userType eq 'Guest')"), None
    )
    assert older.guests_only and not older.transitive
    every = parse_scope(
        q("./members/microsoft.graph.user/?$filter=(userType eq 'Guest')"),
        q("/groups?$filter=(groupTypes/any(c:c eq 'Unified'))"),
    )
    assert every.kind == "allGroups" and every.unified_only and every.guests_only
    inactive = parse_scope(
        q(
            f"/groups/{GID}/transitiveMembers",
            "#microsoft.graph.accessReviewInactiveUsersQueryScope",
            inactiveDuration="P30D",
        ),
        None,
    )
    assert inactive.inactive == timedelta(days=30) and not inactive.guests_only
    app = parse_scope(
        {
            "@odata.type": "#microsoft.graph.principalResourceMembershipsScope",
            "principalScopes": [q("/users?$filter=(userType eq 'Guest')")],
            "resourceScopes": [q(f"/servicePrincipals/{SP}")],
        },
        None,
    )
    assert (app.kind, app.object_id, app.guests_only) == ("app", SP, True)


@pytest.mark.parametrize(
    "scope",
    [q("/users"), q("./members"), q(f"/groups/{GID}/owners"), {"query": "/groups", "queryType": "Ldap"}],
)
def test_other_scopes_are_refused(scope: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError):
        parse_scope(scope, None)


def test_reviewer_queries() -> None:
    found = parse_reviewers(
        [
            q(f"/users/{GID}"),
            q(f"/groups/{GID}/owners"),
            q("./owners"),
            q("./manager", queryRoot="decisions"),
            q("./sponsors", queryRoot="decisions"),
            q(f"/servicePrincipals/{SP}/owners"),
            q(f"/groups/{GID}/transitiveMembers"),
        ],
        "reviewers",
    )
    assert [r.kind for r in found] == [
        "user",
        "groupOwners",
        "reviewedGroupOwners",
        "manager",
        "sponsors",
        "appOwners",
        "groupMembers",
    ]
    with pytest.raises(InvalidInputError):
        parse_reviewers([q("/me")], "reviewers")


def test_outcome_strategies() -> None:
    assert outcome("latestDecides", ["Approve", "Deny"], "Deny") == "Deny"
    assert outcome("latestDecides", [None, None], None) == "NotReviewed"
    assert outcome("oneDenyDenies", ["Approve", "Deny"], "Approve") == "Deny"
    assert outcome("oneDenyDenies", ["Approve", None], "Approve") == "Approve"
    assert outcome("allMustApprove", ["Approve", None], "Approve") == "NotReviewed"
    assert outcome("allMustApprove", ["Approve", "Approve"], "Approve") == "Approve"
    assert outcome("approvedIfNotDenied", [None], None) == "Approve"
    assert outcome("approvedIfNotDenied", [None, "Deny"], "Deny") == "Deny"


def test_default_decisions_and_the_denial_cap() -> None:
    assert final_decision("NotReviewed", "Deny", "Recommendation") == "Deny"
    assert final_decision("DontKnow", "Approve", "Deny") == "Deny"
    assert final_decision("Approve", "Deny", "Deny") == "Approve"
    assert final_decision("NotReviewed", "NoInfoAvailable", "Recommendation") == "NotReviewed"
    assert denial_allowance(30, 100, 20) == 20
    assert denial_allowance(5, 100, 20) == 5
    assert denial_allowance(5, 4, 20) == 0  # under one item's share: nothing goes without an administrator
    assert denial_allowance(5, 10, None) == 5


def test_recommendations_and_recurrence() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    month = timedelta(days=30)
    assert recommend(now - timedelta(days=3), now - timedelta(days=300), now, month) == "Approve"
    assert recommend(now - timedelta(days=31), now - timedelta(days=300), now, month) == "Deny"
    assert recommend(None, now - timedelta(days=5), now, month) == "Approve"
    assert recommend(None, None, now, month) == "NoInfoAvailable"
    first = datetime(2026, 1, 31, 9, tzinfo=UTC)
    monthly = {"pattern": {"type": "absoluteMonthly", "interval": 1}, "range": {"type": "noEnd"}}
    assert next_start(monthly, first, 1) == datetime(2026, 2, 28, 9, tzinfo=UTC)
    numbered = {"pattern": {"type": "weekly", "interval": 1}, "range": {"type": "numbered", "numberOfOccurrences": 2}}
    assert next_start(numbered, first, 1) == first + timedelta(weeks=1)
    assert next_start(numbered, first, 2) is None
    assert next_start(None, first, 1) is None


@pytest.mark.parametrize("event", ["started", "reminder", "completed"])
def test_review_mails_render_in_every_language(event: str) -> None:
    context = {
        "event": event,
        "tenant": "Contoso",
        "resource": "Project X",
        "review": "Guests",
        "count": 3,
        "end": "2026-12-10 12:00 UTC",
        "description": "",
        "link": "https://hospes.example/t/reviews/1",
        "html_lang": "en-US",
        "approved": 1,
        "denied": 2,
        "open": 0,
        "not_supported": 1,
    }
    subjects = set()
    for language in SUPPORTED:
        content = render("access_review", language, {**context, "html_lang": language})
        assert "Project X" in content.subject and "https://hospes.example/t/reviews/1" in content.text
        subjects.add(content.subject)
    assert len(subjects) == len(SUPPORTED)
