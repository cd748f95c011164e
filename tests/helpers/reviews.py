"""Access review fixtures: a group of guests with sponsors, and definition bodies as Graph callers send them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.helpers.delegated import as_scoped
from tests.helpers.tenants import TenantHandle

DEFINITIONS = "/identityGovernance/accessReviews/definitions"
SCOPE = "AccessReview.ReadWrite.All"


def ref(user_id: str) -> dict[str, str]:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"}


@dataclass
class GuestTeam:
    """A group with four direct guests (two sponsored by ``sponsor1``, one by ``sponsor2``, one by nobody), a
    guest reached through a nested group, and a member (out of a guests-only scope)."""

    group: dict[str, Any]
    guests: list[dict[str, Any]]
    nested_guest: dict[str, Any]
    member: dict[str, Any]
    sponsor1: dict[str, Any]
    sponsor2: dict[str, Any]
    fallback: dict[str, Any]

    def as_user(self, tenant: TenantHandle, user: dict[str, Any]) -> TenantHandle:
        return as_scoped(tenant, user, SCOPE)


def guest_team(tenant: TenantHandle, name: str = "Project X") -> GuestTeam:
    sponsor1, sponsor2, fallback = (tenant.new_user() for _ in range(3))
    group = tenant.new_group(name)
    inner = tenant.new_group(name + " inner")
    guests = [tenant.new_user(f"g{i}{group['id'][:6]}", userType="Guest") for i in range(4)]
    nested_guest = tenant.new_user(userType="Guest")
    member = tenant.new_user()
    for user in (*guests, member):
        assert tenant.post(f"/groups/{group['id']}/members/$ref", json=ref(user["id"])).status_code == 204
    assert tenant.post(f"/groups/{inner['id']}/members/$ref", json=ref(nested_guest["id"])).status_code == 204
    assert tenant.post(f"/groups/{group['id']}/members/$ref", json=ref(inner["id"])).status_code == 204
    for guest, sponsor in ((guests[0], sponsor1), (guests[1], sponsor1), (guests[2], sponsor2)):
        response = tenant.post(f"/users/{guest['id']}/sponsors/$ref", json=ref(sponsor["id"]))
        assert response.status_code == 204, response.text
    return GuestTeam(group, guests, nested_guest, member, sponsor1, sponsor2, fallback)


def guests_review(team: GuestTeam, **settings: Any) -> dict[str, Any]:
    """Sponsors review the group's guests; the fallback reviewer takes the guests nobody sponsors."""
    gid = team.group["id"]
    return {
        "displayName": "Guests of Project X",
        "descriptionForReviewers": "Keep only partners still working with us.",
        "scope": {
            "@odata.type": "#microsoft.graph.accessReviewQueryScope",
            "query": f"/groups/{gid}/transitiveMembers/microsoft.graph.user/?$count=true&$filter=(userType eq 'Guest')",
            "queryType": "MicrosoftGraph",
        },
        "reviewers": [{"query": "./sponsors", "queryType": "MicrosoftGraph", "queryRoot": "decisions"}],
        "fallbackReviewers": [{"query": f"/users/{team.fallback['id']}", "queryType": "MicrosoftGraph"}],
        "settings": {
            "mailNotificationsEnabled": True,
            "reminderNotificationsEnabled": True,
            "justificationRequiredOnApproval": True,
            "defaultDecisionEnabled": True,
            "defaultDecision": "Deny",
            "instanceDurationInDays": 7,
            "autoApplyDecisionsEnabled": True,
            "recommendationsEnabled": True,
            **settings,
        },
    }


def instances(tenant: TenantHandle, definition_id: str) -> list[dict[str, Any]]:
    response = tenant.get(f"{DEFINITIONS}/{definition_id}/instances")
    assert response.status_code == 200, response.text
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def decisions(tenant: TenantHandle, definition_id: str, instance_id: str, mine: bool = False) -> list[dict[str, Any]]:
    path = f"{DEFINITIONS}/{definition_id}/instances/{instance_id}/decisions"
    response = tenant.get(path + ("/filterByCurrentUser(on='reviewer')" if mine else ""))
    assert response.status_code == 200, response.text
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def by_principal(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["principal"]["id"]: item for item in items}
