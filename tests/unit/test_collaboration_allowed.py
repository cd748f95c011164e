"""The B2B collaboration rule of the cross-tenant access settings (pure): who and which app a setting lets in."""

from __future__ import annotations

from typing import Any

import pytest

from hospes.domain.cross_tenant import collaboration_allowed, names_groups

ALICE, BOB, SALES = "a1", "b2", "g-sales"
PAYROLL, WIKI = "app-payroll", "app-wiki"


def _setting(access: str, people: list[tuple[str, str]], apps: list[str]) -> dict[str, Any]:
    return {
        "usersAndGroups": {"accessType": access, "targets": [{"target": t, "targetType": k} for t, k in people]},
        "applications": {"accessType": access, "targets": [{"target": a, "targetType": "application"} for a in apps]},
    }


EVERYONE = [("AllUsers", "user")]
ALL_APPS = ["AllApplications"]


@pytest.mark.parametrize(
    ("setting", "person", "app", "allowed"),
    [
        (None, {ALICE}, PAYROLL, True),  # nothing set: allowed
        (_setting("allowed", EVERYONE, ALL_APPS), {ALICE}, PAYROLL, True),
        (_setting("blocked", EVERYONE, ALL_APPS), {ALICE}, PAYROLL, False),
        (_setting("blocked", EVERYONE, ALL_APPS), {ALICE}, None, False),  # Hospes's own pages too
        # allowed for listed people only
        (_setting("allowed", [(ALICE, "user")], ALL_APPS), {ALICE}, PAYROLL, True),
        (_setting("allowed", [(ALICE, "user")], ALL_APPS), {BOB}, PAYROLL, False),
        (_setting("allowed", [(SALES, "group")], ALL_APPS), {BOB, SALES}, PAYROLL, True),
        # blocked for listed people (and apps) only
        (_setting("blocked", [(ALICE, "user")], ALL_APPS), {ALICE}, PAYROLL, False),
        (_setting("blocked", [(ALICE, "user")], ALL_APPS), {ALICE}, None, False),
        (_setting("blocked", [(ALICE, "user")], ALL_APPS), {BOB}, PAYROLL, True),
        (_setting("blocked", [(SALES, "group")], [WIKI]), {BOB}, WIKI, True),
        (_setting("blocked", [(SALES, "group")], [WIKI]), {BOB, SALES}, PAYROLL, True),
        (_setting("blocked", [(SALES, "group")], [WIKI]), {BOB, SALES}, WIKI, False),
        (_setting("blocked", [(SALES, "group")], [WIKI]), {BOB, SALES}, None, True),
        (_setting("blocked", EVERYONE, [WIKI]), {ALICE}, WIKI, False),
        # allowed for listed apps only; Hospes's own pages follow the people part alone
        (_setting("allowed", EVERYONE, [PAYROLL]), {ALICE}, PAYROLL, True),
        (_setting("allowed", EVERYONE, [PAYROLL]), {ALICE}, WIKI, False),
        (_setting("allowed", EVERYONE, [PAYROLL]), {ALICE}, None, True),
        (_setting("allowed", [(ALICE, "user")], [PAYROLL]), {BOB}, None, False),
        # ids compare without case
        (_setting("allowed", [("A1", "user")], ["APP-PAYROLL"]), {ALICE}, PAYROLL, True),
    ],
)
def test_collaboration_allowed(
    setting: dict[str, Any] | None, person: set[str], app: str | None, allowed: bool
) -> None:
    assert collaboration_allowed(setting, person, app) is allowed


def test_groups_are_read_only_when_named() -> None:
    assert names_groups(_setting("allowed", [(SALES, "group")], ALL_APPS))
    assert not names_groups(_setting("allowed", [(ALICE, "user")], ALL_APPS))
    assert not names_groups(None)
