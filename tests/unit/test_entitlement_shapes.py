"""Entitlement management's body shapes: durations in both forms clients send, enums in any case, request aliases
of Graph's own examples, policy validation and its expiry arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hospes.domain.entitlement_policy import PolicyView, parse_policy
from hospes.domain.entitlements import enum, format_duration, parse_duration, parse_request, parse_settings
from hospes.domain.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P14D", timedelta(days=14)),
        ("PT3H", timedelta(hours=3)),
        ("P1Y", timedelta(days=365)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("7 days, 0:00:00", timedelta(days=7)),  # msgraph-sdk for Python writes a timedelta so
        ("1 day, 2:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("3:00:00", timedelta(hours=3)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "d") == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "14 days", "P-1D", "PT1H2", None, 14])
def test_bad_durations(text: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_duration(text, "d")


def test_duration_round_trip_and_enums() -> None:
    assert [format_duration(parse_duration(t, "d")) for t in ("P180D", "PT3H", "P1DT1M")] == ["P180D", "PT3H", "P1DT1M"]
    assert enum("None", ("none", "blockSignIn"), "x") == "none"
    assert parse_settings({"externalUserLifecycleAction": "BLOCKSIGNIN"}) == {"lifecycle_action": "blockSignIn"}
    with pytest.raises(InvalidInputError):
        enum("remove", ("none", "blockSignIn"), "x")


def test_request_aliases() -> None:
    form = parse_request({"requestType": "UserAdd", "accessPackageAssignment": {"accessPackageId": "p"}})
    assert (form.request_type, form.package_id) == ("userAdd", "p")
    by_email = parse_request(
        {"requestType": "adminAdd", "assignment": {"target": {"email": "A@B.example"}, "accessPackageId": "p"}}
    )
    assert by_email.target_email == "a@b.example"
    for bad in ({"requestType": "systemAdd"}, {"requestType": "userRemove"}, {"requestType": "userAdd"}, []):
        with pytest.raises(InvalidInputError):
            parse_request(bad)


def test_policy_expiry_never_outlasts_the_policy() -> None:
    columns, package = parse_policy(
        {
            "displayName": "p",
            "allowedTargetScope": "allMemberUsers",
            "accessPackage": {"id": "x"},
            "expiration": {"type": "afterDuration", "duration": "P30D"},
            "requestorSettings": {"enableTargetsToSelfAddAccess": True},
        }
    )
    view = PolicyView(columns["allowed_target_scope"], columns["settings"])
    start = datetime(2027, 1, 1, tzinfo=UTC)
    assert package == "x" and view.allows("userAdd") and not view.allows("userRemove")
    assert view.end_for(start, None) == start + timedelta(days=30)
    assert view.end_for(start, start + timedelta(days=3)) == start + timedelta(days=3)
    assert view.end_for(start, start + timedelta(days=90)) == start + timedelta(days=30)
    assert not view.needs_approval("userAdd")


def test_policy_refusals() -> None:
    base = {"displayName": "p", "accessPackage": {"id": "x"}}
    for bad in (
        {**base, "allowedTargetScope": "specificDirectoryUsers"},  # no targets
        {**base, "requestApprovalSettings": {"isApprovalRequiredForAdd": True, "stages": [{}] * 4}},
        {
            **base,
            "requestApprovalSettings": {
                "stages": [
                    {
                        "durationBeforeAutomaticDenial": "P20D",
                        "primaryApprovers": [{"@odata.type": "#microsoft.graph.singleUser", "userId": "u"}],
                    }
                ]
            },
        },
        {**base, "specificAllowedTargets": [{"@odata.type": "#microsoft.graph.everyone"}]},
        {**base, "shoeSize": 44},
    ):
        with pytest.raises(InvalidInputError):
            parse_policy(bad)
