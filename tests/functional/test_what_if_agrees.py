"""The what-if tool and a live sign-in decide the same, row by row: for each policy set-up, a member signing in to
the portal gets what the portal's what-if (the same facts: this user, the portal, a browser) said they would."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers.portal import sign_in, sign_in_as_admin
from tests.helpers.tenants import TenantHandle

POLICIES = "/identity/conditionalAccess/policies"
_DECISION = re.compile(r'<p id="what-if-decision"><span class="tag[^"]*">([^<]+)</span>')


def _policy(users: dict[str, Any], control: str, state: str = "enabled", **conditions: Any) -> dict[str, Any]:
    apps = conditions.pop("apps", ["MicrosoftAdminPortals"])
    return {
        "displayName": f"{control} {state}",
        "state": state,
        "conditions": {"users": users, "applications": {"includeApplications": apps}, **conditions},
        "grantControls": {"operator": "OR", "builtInControls": [control]},
    }


ROWS: list[tuple[str, list[Any], str]] = [
    ("no policy", [], "allowed"),
    ("block everyone", [_policy({"includeUsers": ["All"]}, "block")], "blocked"),
    ("mfa for the user", [_policy({"includeUsers": ["{user}"]}, "mfa")], "mfa"),
    ("mfa for a group of the user", [_policy({"includeGroups": ["{group}"]}, "mfa")], "mfa"),
    (
        "mfa for all, the user excluded",
        [_policy({"includeUsers": ["All"], "excludeUsers": ["{user}"]}, "mfa")],
        "allowed",
    ),
    ("group excluded wins", [_policy({"includeUsers": ["{user}"], "excludeGroups": ["{group}"]}, "block")], "allowed"),
    (
        "report-only never blocks",
        [_policy({"includeUsers": ["All"]}, "block", "enabledForReportingButNotEnforced")],
        "allowed",
    ),
    ("disabled", [_policy({"includeUsers": ["All"]}, "block", "disabled")], "allowed"),
    ("browsers blocked", [_policy({"includeUsers": ["All"]}, "block", clientAppTypes=["browser"])], "blocked"),
    (
        "mobile apps blocked",
        [_policy({"includeUsers": ["All"]}, "block", clientAppTypes=["mobileAppsAndDesktopClients"])],
        "allowed",
    ),
    (
        "another app",
        [_policy({"includeUsers": ["All"]}, "block", apps=["00000003-0000-0000-c000-000000000000"])],
        "allowed",
    ),
    ("guests only", [_policy({"includeUsers": ["GuestsOrExternalUsers"]}, "block")], "allowed"),
    (
        "block wins over mfa",
        [_policy({"includeUsers": ["All"]}, "mfa"), _policy({"includeUsers": ["{user}"]}, "block")],
        "blocked",
    ),
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _live(web: TestClient, tenant: TenantHandle, upn: str) -> str:
    web.cookies.clear()
    answer = sign_in(web, tenant.domain, upn, next=f"/{tenant.domain}/admin")
    if answer.status_code == 403:
        return "blocked"
    assert answer.status_code == 303, answer.text
    return "mfa" if "mfa" in answer.headers["location"] else "allowed"


def _what_if(web: TestClient, tenant: TenantHandle, upn: str) -> str:
    web.cookies.clear()
    sign_in_as_admin(web, tenant)
    page = web.get(
        f"/{tenant.domain}/admin/conditional-access/what-if",
        params={"user": upn, "app": "MicrosoftAdminPortals", "client": "browser"},
    )
    assert page.status_code == 200, page.text
    found = _DECISION.search(page.text)
    assert found, page.text
    label = html.unescape(found.group(1))
    return {"Blocked": "blocked", "Allowed": "allowed"}.get(label, "mfa" if "mfa" in label else label)


@pytest.mark.parametrize(("name", "policies", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_what_if_and_the_live_sign_in_agree(
    web: TestClient, tenant: TenantHandle, name: str, policies: list[Any], expected: str
) -> None:
    user = tenant.new_user("rowan")
    group = tenant.new_group("Finance")
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user['id']}"}
    assert tenant.post(f"/groups/{group['id']}/members/$ref", json=ref).status_code == 204
    # The administrator stays out of every policy (or the what-if page itself would be refused).
    ids = {"{user}": user["id"], "{group}": group["id"]}
    for body in policies:
        body = _fill(body, ids)
        body["conditions"]["users"].setdefault("excludeRoles", ["62e90394-69f5-4237-9190-012177145e10"])
        created = tenant.post(POLICIES, json=body)
        assert created.status_code == 201, created.text
    predicted = _what_if(web, tenant, user["userPrincipalName"])
    assert predicted == expected, name
    assert _live(web, tenant, user["userPrincipalName"]) == predicted, name
