"""App role assignment functions: the roles assigned to a user for the app, as one value or SCIM roles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hospes.expressions.ast import Call
from hospes.expressions.functions.registry import Arg, Example, Fn, Param, Source, compiled, function
from hospes.expressions.values import values_of


def _roles(value: Any) -> list[Mapping[str, Any]]:
    return [r for r in values_of(value) if isinstance(r, Mapping)]


def _role_value(role: Mapping[str, Any]) -> Any:
    # The default-access role (appRoleId 00000000-...) has neither value nor name: it is not a role to send.
    for key in ("value", "displayName"):
        if role.get(key):
            return role[key]
    return None


@function(
    "SingleAppRoleAssignment",
    params=[Param("appRoleAssignments", "attribute")],
    summary="The value of one app role assigned to the user for this app (the first with a value).",
    examples=[
        Example(
            "SingleAppRoleAssignment([appRoleAssignments])",
            {"appRoleAssignments": [{"appRoleId": "r1", "value": "Admin", "displayName": "Administrator"}]},
            "Admin",
        ),
    ],
)
def build_single_role(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])

    def run(s: Source) -> Any:
        # Entra gives no guarantee which role wins when several are assigned; Hospes takes the first
        # one that has a value, in the order given (the engine passes assignments sorted by creation time).
        for role in _roles(inner(s)):
            value = _role_value(role)
            if value is not None:
                return value
        return None

    return run


@function(
    "AppRoleAssignmentsComplex",
    params=[Param("appRoleAssignments", "attribute")],
    summary="All of the user's app role assignments for this app as SCIM roles (primary false); target `roles`.",
    returns="Multi-valued complex",
    examples=[
        Example(
            "AppRoleAssignmentsComplex([appRoleAssignments])",
            {"appRoleAssignments": [{"appRoleId": "a1", "value": "Admin", "displayName": "Administrator"}]},
            [
                {
                    "primary": False,
                    "type": "WindowsAzureActiveDirectoryRole",
                    "display": "Administrator",
                    "value": "Admin",
                }
            ],
        ),
    ],
)
@function(
    "AssertiveAppRoleAssignmentsComplex",
    params=[Param("appRoleAssignments", "attribute")],
    summary=(
        "Like AppRoleAssignmentsComplex; the engine replaces the whole `roles` list, so unassigned roles are removed."
    ),
    returns="Multi-valued complex",
    examples=[
        Example(
            "AssertiveAppRoleAssignmentsComplex([appRoleAssignments])",
            {"appRoleAssignments": [{"value": "Reader", "displayName": "Reader"}]},
            [{"primary": False, "type": "WindowsAzureActiveDirectoryRole", "display": "Reader", "value": "Reader"}],
        ),
    ],
)
def build_complex_roles(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])

    def run(s: Source) -> Any:
        out = [
            {
                "primary": False,
                "type": "WindowsAzureActiveDirectoryRole",
                "display": role.get("displayName"),
                "value": _role_value(role),
            }
            for role in _roles(inner(s))
            if _role_value(role) is not None
        ]
        return out or None

    return run
