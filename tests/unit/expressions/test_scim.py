"""SCIM target paths and resource building (seed 002's 8x8 mappings, the generic defaults)."""

from __future__ import annotations

from typing import Any

import pytest

from hospes.expressions import NO_FLOW, ExpressionError, build_scim_resource, compile_expression, parse_target_path
from hospes.expressions.defaults import (
    BENCH_USER_MAPPINGS,
    EIGHT_BY_EIGHT_USER_MAPPINGS,
    SCIM_GROUP_MAPPINGS,
    SCIM_USER_MAPPINGS,
)
from hospes.expressions.scim import CORE_GROUP, CORE_USER, ENTERPRISE_USER, TargetPath

SITE = "urn:ietf:params:scim:schemas:extension:8x8:1.1:User"


@pytest.mark.parametrize(
    ("path", "parsed"),
    [
        ("userName", TargetPath(None, "userName")),
        ("name.givenName", TargetPath(None, "name", sub_attribute="givenName")),
        ('emails[type eq "work"].value', TargetPath(None, "emails", "type", "work", "value")),
        ('roles[primary eq "True"].display', TargetPath(None, "roles", "primary", True, "display")),
        ("roles[primary eq false].value", TargetPath(None, "roles", "primary", False, "value")),
        (f"{ENTERPRISE_USER}:department", TargetPath(ENTERPRISE_USER, "department")),
        (f"{ENTERPRISE_USER}:manager.value", TargetPath(ENTERPRISE_USER, "manager", sub_attribute="value")),
        (f"{SITE}:site", TargetPath(SITE, "site")),
        (f"{CORE_USER}:userName", TargetPath(None, "userName")),
        ('phoneNumbers[type EQ "mobile"].value', TargetPath(None, "phoneNumbers", "type", "mobile", "value")),
    ],
)
def test_parse_target_path(path: str, parsed: TargetPath) -> None:
    assert parse_target_path(path) == parsed


@pytest.mark.parametrize("path", ["", "a b", 'emails[type ne "x"].value', "urn:x", "urn:a:b:", "name..x", "a.b.c"])
def test_invalid_target_paths(path: str) -> None:
    with pytest.raises(ExpressionError):
        parse_target_path(path)


def _mapped(mappings: Any, user: dict[str, Any]) -> dict[str, Any]:
    return {m.target: compile_expression(m.source).evaluate(user) for m in mappings}


def test_seed_002_user_resource() -> None:
    user = {
        "userPrincipalName": "ana@contoso.com",
        "mailNickname": "ana",
        "IsSoftDeleted": False,
        "jobTitle": "Engineer",
        "mail": "ana.lopez@contoso.com",
        "givenName": "Ana",
        "surname": "López",
        "mobile": "+33 6 00 00 00 00",
        "telephoneNumber": "+33 1 00 00 00 00",
        "department": "R&D",
        "physicalDeliveryOfficeName": "Paris",
    }
    resource = build_scim_resource(_mapped(EIGHT_BY_EIGHT_USER_MAPPINGS, user))
    assert resource == {
        "schemas": [CORE_USER, ENTERPRISE_USER, SITE],
        "userName": "ana@contoso.com",
        "externalId": "ana",
        "active": True,
        "title": "Engineer",
        "emails": [{"type": "work", "primary": True, "value": "ana.lopez@contoso.com"}],
        "name": {"givenName": "Ana", "familyName": "López"},
        "phoneNumbers": [
            {"type": "mobile", "value": "+33 6 00 00 00 00"},
            {"type": "work", "value": "+33 1 00 00 00 00"},
        ],
        ENTERPRISE_USER: {"department": "R&D"},
        SITE: {"site": "Paris"},
    }
    compat = build_scim_resource(_mapped(EIGHT_BY_EIGHT_USER_MAPPINGS, user), list_custom_extensions=False)
    assert compat["schemas"] == [CORE_USER, ENTERPRISE_USER]
    assert compat[SITE] == {"site": "Paris"}


def test_null_values_are_left_out_and_entries_merge() -> None:
    user = {"userPrincipalName": "b@c", "IsSoftDeleted": True, "streetAddress": "1 Rue", "city": "Lyon"}
    resource = build_scim_resource(_mapped(SCIM_USER_MAPPINGS, user))
    assert resource == {
        "schemas": [CORE_USER],
        "userName": "b@c",
        "active": False,
        "addresses": [{"type": "work", "streetAddress": "1 Rue", "locality": "Lyon"}],
    }


def test_manager_roles_and_members() -> None:
    resource = build_scim_resource(
        {
            f"{ENTERPRISE_USER}:manager": "m-1",
            'roles[primary eq "True"].value': "Admin",
            "emails": NO_FLOW,
            'emails[type eq "other"].value': "o@x",
            'emails[type eq "work"].value': "w@x",
        }
    )
    assert resource[ENTERPRISE_USER] == {"manager": {"value": "m-1"}}
    assert resource["roles"] == [{"primary": True, "value": "Admin"}]
    assert resource["emails"] == [{"type": "other", "value": "o@x"}, {"type": "work", "primary": True, "value": "w@x"}]
    group = build_scim_resource(
        _mapped(SCIM_GROUP_MAPPINGS, {"displayName": "Ops", "objectId": "g-1", "members": ["u1", "u2"]}),
        resource_type="Group",
    )
    assert group == {
        "schemas": [CORE_GROUP],
        "displayName": "Ops",
        "externalId": "g-1",
        "members": [{"value": "u1"}, {"value": "u2"}],
    }


def test_complex_roles_and_type_coercion() -> None:
    roles = compile_expression("AppRoleAssignmentsComplex([appRoleAssignments])").evaluate(
        {"appRoleAssignments": [{"value": "A", "displayName": "a"}, {"value": "B", "displayName": "b"}]}
    )
    resource = build_scim_resource({"roles": roles, "active": "false", "x": "7"}, attribute_types={"x": "Integer"})
    assert [r["value"] for r in resource["roles"]] == ["A", "B"]
    assert resource["active"] is False
    assert resource["x"] == 7


def test_conflicting_shapes_are_reported() -> None:
    with pytest.raises(ExpressionError, match="both single- and multi-valued"):
        build_scim_resource({"emails": "x", 'emails[type eq "work"].value': "y"})


def test_default_sets_compile_and_have_one_matching_attribute() -> None:
    for mappings in (SCIM_USER_MAPPINGS, SCIM_GROUP_MAPPINGS, EIGHT_BY_EIGHT_USER_MAPPINGS, BENCH_USER_MAPPINGS):
        for target, source, flow, _priority in mappings:
            compile_expression(source)
            parse_target_path(target)
            assert flow in ("Always", "ObjectAddOnly")
        assert [m.target for m in mappings if m.matching_priority == 1] in (["userName"], ["displayName"])
    assert 14 <= len(BENCH_USER_MAPPINGS) <= 16
    site = next(m for m in EIGHT_BY_EIGHT_USER_MAPPINGS if m.target.endswith(":site"))
    assert site.flow_type == "ObjectAddOnly"
