"""The provisioning planner, table-driven: a source object, what was last exported for it and the job's
configuration in, the work out. No database, no connector."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from hospes.domain.provisioning import Action
from hospes.provisioning.connector import Change
from hospes.provisioning.credentials import JobConfig
from hospes.provisioning.planner import (
    MEMBER_TARGETS,
    RECONCILE_MEMBERS,
    ObjState,
    SourceObject,
    Work,
    evaluate,
    held_deletes,
    plan_members,
    plan_one,
    source_view,
)
from hospes.provisioning.schema import ObjectMapping, compile_object

ACTIVE = 'Switch([IsSoftDeleted], , "False", "True", "True", "False")'


def _attribute(target: str, expression: str | None, priority: int = 0, flow: str = "Always", **extra: Any) -> Any:
    source = None if expression is None else {"type": "Function", "expression": expression}
    return {"targetAttributeName": target, "source": source, "matchingPriority": priority, "flowType": flow, **extra}


def user_mapping(flows: str = "Add, Update, Delete", scope: dict[str, Any] | None = None) -> ObjectMapping:
    return compile_object(
        {
            "name": "Users",
            "sourceObjectName": "User",
            "flowTypes": flows,
            "scope": scope,
            "attributeMappings": [
                _attribute("userName", "[userPrincipalName]", 1),
                _attribute("active", ACTIVE),
                _attribute("title", "[jobTitle]", defaultValue="Staff"),
                _attribute("site", "[officeLocation]", flow="ObjectAddOnly"),
            ],
        }
    )


def group_mapping(flows: str = "Add, Update, Delete") -> ObjectMapping:
    return compile_object(
        {
            "name": "Groups",
            "sourceObjectName": "Group",
            "flowTypes": flows,
            "attributeMappings": [_attribute("displayName", "[displayName]", 1), _attribute("members", "[members]")],
        }
    )


SALES_ONLY = {
    "groups": [
        {
            "name": "Sales",
            "clauses": [
                {"sourceOperandName": "department", "operatorName": "EQUALS", "targetOperand": {"values": ["Sales"]}}
            ],
        }
    ]
}


def ada(**changes: Any) -> SourceObject:
    attributes = {"userPrincipalName": "ada@contoso.example", "jobTitle": "Engineer", "officeLocation": "Paris"}
    attributes["department"] = changes.pop("department", "Sales")
    attributes.update(changes.pop("attributes", {}))
    return SourceObject("user", "u1", "Ada", attributes, **changes)


def linked(state: str = "active", **exported: Any) -> ObjState:
    values = {"userName": "ada@contoso.example", "active": state == "active", "title": "Engineer", **exported}
    return ObjState(target_id="t1", version='W/"1"', state=state, exported=values)


@dataclass
class Case:
    name: str
    src: SourceObject | None
    state: ObjState | None
    action: Action
    reason: str  # a part of the reason
    mapping: ObjectMapping = field(default_factory=user_mapping)
    config: JobConfig = field(default_factory=JobConfig)
    assigned: bool = True
    default_only: bool = False
    values: dict[str, Any] | None = None  # exact values, when given
    changes: list[Change] | None = None  # exact changes, when given
    display: str = "Ada"


CASES = [
    Case("unknown and unmanaged", None, None, Action.SKIP, "User does not exist and is not managed", display="u1"),
    Case(
        "hard-deleted, linked",
        None,
        linked(),
        Action.DELETE,
        "User was permanently deleted in Hospes",
        display="ada@contoso.example",
    ),
    Case(
        "hard-deleted, Delete not a target action",
        None,
        linked(),
        Action.SKIP,
        "Delete is not a target action",
        mapping=user_mapping("Add, Update"),
        display="u1",
    ),
    Case(
        "new and assigned",
        ada(),
        None,
        Action.CREATE,
        "User is in scope (assigned)",
        values={"userName": "ada@contoso.example", "active": True, "title": "Engineer", "site": "Paris"},
    ),
    Case(
        "new, empty title takes the default",
        ada(attributes={"jobTitle": ""}),
        None,
        Action.CREATE,
        "in scope",
        values={"userName": "ada@contoso.example", "active": True, "title": "Staff", "site": "Paris"},
    ),
    Case(
        "new, null office is not sent on create",
        ada(attributes={"officeLocation": None}),
        None,
        Action.CREATE,
        "in scope",
        values={"userName": "ada@contoso.example", "active": True, "title": "Engineer"},
    ),
    Case(
        "new, Add not a target action", ada(), None, Action.SKIP, "Add is not a target action", user_mapping("Update")
    ),
    Case("new, not assigned", ada(), None, Action.SKIP, "User is not assigned to the application", assigned=False),
    Case(
        "new, default access only",
        ada(),
        None,
        Action.SKIP,
        "User has only the default-access role",
        assigned=False,
        default_only=True,
    ),
    Case(
        "new, sync all",
        ada(),
        None,
        Action.CREATE,
        "User is in scope (sync all)",
        config=JobConfig(sync_all=True),
        assigned=True,
    ),
    Case(
        "new, out of the scoping filter",
        ada(department="Ops"),
        None,
        Action.SKIP,
        "User does not satisfy the scoping filters",
        mapping=user_mapping(scope=SALES_ONLY),
    ),
    Case("linked, unchanged", ada(), linked(), Action.SKIP, "no change"),
    Case(
        "linked, title changed (add-only site not re-sent)",
        ada(attributes={"jobTitle": "Architect", "officeLocation": "Lyon"}),
        linked(),
        Action.UPDATE,
        "in scope",
        values={"userName": "ada@contoso.example", "active": True, "title": "Architect"},
        changes=[Change("title", "Engineer", "Architect")],
    ),
    Case(
        "linked, Update not a target action",
        ada(attributes={"jobTitle": "Architect"}),
        linked(),
        Action.SKIP,
        "Update is not a target action",
        user_mapping("Add, Delete"),
    ),
    Case(
        "linked, unassigned",
        ada(),
        linked(),
        Action.DISABLE,
        "User is not assigned to the application",
        assigned=False,
        changes=[Change("active", True, False)],
    ),
    Case(
        "linked, unassigned, SkipOutOfScopeDeletions",
        ada(),
        linked(),
        Action.SKIP,
        "SkipOutOfScopeDeletions is set",
        config=JobConfig(skip_out_of_scope_deletions=True),
        assigned=False,
    ),
    Case("linked, soft-deleted", ada(soft_deleted=True), linked(), Action.DISABLE, "User is deleted (soft)"),
    Case("linked, account disabled", ada(enabled=False), linked(), Action.DISABLE, "User is disabled"),
    Case(
        "linked, left the scoping filter",
        ada(department="Ops"),
        linked(),
        Action.DISABLE,
        "does not satisfy the scoping filters",
        mapping=user_mapping(scope=SALES_ONLY),
    ),
    Case(
        "disabled in the target, still out of scope",
        ada(),
        linked("disabled"),
        Action.SKIP,
        "not assigned",
        assigned=False,
    ),
    Case(
        "disabled in the target, back in scope",
        ada(),
        linked("disabled"),
        Action.UPDATE,
        "in scope",
        changes=[Change("active", False, True)],
    ),
    Case(
        "pending link (never created) is created again",
        ada(),
        ObjState(state="pending", escrow_count=2),
        Action.CREATE,
        "in scope",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan_one(case: Case) -> None:
    work = plan_one(
        case.mapping,
        "u1",
        case.src,
        case.state,
        case.config,
        assigned=case.assigned,
        default_only=case.default_only,
    )
    assert work.action == case.action
    assert case.reason in work.reason
    assert (work.kind, work.source_id, work.display) == ("user", "u1", case.display)
    assert work.state is case.state and work.source is case.src
    if case.values is not None:
        assert work.values == case.values
    if case.changes is not None:
        assert work.changes == case.changes


class _BrokenScope:
    def matches(self, source: Mapping[str, Any]) -> bool:
        raise ValueError("bad data")


def test_a_failing_scoping_filter_leaves_the_object_out() -> None:
    mapping_obj = replace(user_mapping(), scope=_BrokenScope())
    work = plan_one(mapping_obj, "u1", ada(), None, JobConfig(), assigned=True)
    assert work.action == Action.SKIP
    assert work.reason == "scoping filter failed: bad data; User does not satisfy the scoping filters"


# --- groups and their members ----------------------------------------------------------------------------------


def team(*members: str) -> SourceObject:
    return SourceObject("group", "g1", "Team", {"displayName": "Team", "objectId": "g1"}, members=list(members))


def group_state(*members: str) -> ObjState:
    return ObjState(target_id="tg", state="active", exported={"displayName": "Team"}, members=list(members))


USERS = {"u1": ObjState(target_id="t-u1", state="active"), "u2": ObjState(state="pending")}


@pytest.mark.parametrize(
    ("name", "src", "state", "reconcile", "action", "members", "reconcile_flag"),
    [
        ("new group: linked members only", team("u1", "u2"), None, False, Action.CREATE, ["u1"], None),
        ("members unchanged", team("u1"), group_state("u1"), False, Action.SKIP, None, None),
        ("a member joined", team("u1"), group_state(), False, Action.UPDATE, ["u1"], False),
        ("a member left", team(), group_state("u1"), False, Action.UPDATE, [], False),
        ("reconciliation reads the members back", team("u1"), group_state("u1"), True, Action.UPDATE, ["u1"], True),
    ],
)
def test_plan_members(
    name: str,
    src: SourceObject,
    state: ObjState | None,
    reconcile: bool,
    action: Action,
    members: list[str] | None,
    reconcile_flag: bool | None,
) -> None:
    mapping_obj = group_mapping()
    work = plan_one(mapping_obj, "g1", src, state, JobConfig(), assigned=True)
    work = plan_members(work, mapping_obj, src, USERS, reconcile=reconcile)
    assert work.action == action
    assert work.members == members
    if members is not None:
        assert work.values[MEMBER_TARGETS] == {"u1": "t-u1"}
    assert work.values.get(RECONCILE_MEMBERS) == reconcile_flag
    if action == Action.UPDATE and not reconcile:
        assert work.reason == "Group members changed"


def test_a_group_out_of_scope_is_deleted_not_disabled() -> None:
    work = plan_one(group_mapping(), "g1", team(), group_state(), JobConfig(), assigned=False)
    assert work.action == Action.DELETE and work.change_type == "Delete"
    kept = plan_one(group_mapping("Add, Update"), "g1", team(), group_state(), JobConfig(), assigned=False)
    assert kept.action == Action.SKIP


# --- values and the deletion threshold --------------------------------------------------------------------------


def test_evaluate() -> None:
    mapping_obj = user_mapping()
    view = source_view(ada(attributes={"jobTitle": ["Lead"]}), soft_deleted=True)
    assert evaluate(mapping_obj, view, creating=True) == {
        "userName": "ada@contoso.example",
        "active": False,  # the expression's "False" text, made a boolean for a boolean target
        "title": "Lead",  # a one-element list is its element
        "site": "Paris",
    }
    updated = evaluate(mapping_obj, source_view(ada(attributes={"jobTitle": None}), soft_deleted=False), creating=False)
    assert updated == {"userName": "ada@contoso.example", "active": True, "title": None}  # no default on update


def _deletes(count: int) -> list[Work]:
    return [Work("user", f"u{i}", f"U{i}", Action.DISABLE, "unassigned") for i in range(count)] + [
        Work("user", "n", "N", Action.CREATE, "new")
    ]


@pytest.mark.parametrize(
    ("config", "count", "allowed", "held"),
    [
        (JobConfig(delete_threshold=3), 3, False, 0),
        (JobConfig(delete_threshold=3), 4, False, 4),
        (JobConfig(delete_threshold=3), 4, True, 0),
        (JobConfig(delete_threshold=3, delete_threshold_enabled=False), 4, False, 0),
    ],
)
def test_held_deletes(config: JobConfig, count: int, allowed: bool, held: int) -> None:
    found = held_deletes(_deletes(count), config, allowed=allowed)
    assert len(found) == held and all(w.action == Action.DISABLE for w in found)


CROSS_TENANT = JobConfig(target_tenant="00000000-0000-4000-8000-000000000002")


def cross_tenant_mapping() -> ObjectMapping:
    return compile_object(
        {
            "name": "Provision Azure Active Directory Users",
            "sourceObjectName": "User",
            "flowTypes": "Add, Update, Delete",
            "attributeMappings": [
                _attribute("alternativeSecurityIds", "AltSecIdFromNetId([netId])", 1),
                _attribute("accountEnabled", "[accountEnabled]"),
                _attribute("jobTitle", "[jobTitle]"),
            ],
        }
    )


def synced(**exported: Any) -> ObjState:
    values = {"alternativeSecurityIds": "5::u1", "accountEnabled": True, "jobTitle": "Engineer", **exported}
    return ObjState(target_id="t1", state="active", exported=values)


def carol(**changes: Any) -> SourceObject:
    enabled = changes.pop("enabled", True)
    attributes = {"netId": "u1", "accountEnabled": enabled, "jobTitle": "Engineer", **changes.pop("attributes", {})}
    return SourceObject("user", "u1", "Carol", attributes, enabled=enabled, **changes)


@pytest.mark.parametrize(
    ("name", "src", "assigned", "action", "reason"),
    [
        ("disabled in the source: an update, not a removal", carol(enabled=False), True, Action.UPDATE, "in scope"),
        ("unassigned: soft-deleted in the target", carol(), False, Action.DELETE, "not assigned"),
        ("soft-deleted in the source", carol(soft_deleted=True), True, Action.DELETE, "deleted (soft)"),
        ("disabled, then unassigned: left as it is", carol(enabled=False), False, Action.SKIP, "is disabled"),
        ("permanently deleted in the source", None, True, Action.DELETE, "permanently deleted"),
        (
            "a guest of the source is never synchronized",
            carol(attributes={"userType": "Guest"}),
            True,
            Action.DELETE,
            "external",
        ),
        (
            "nor a user it got by invitation",
            carol(attributes={"creationType": "Invitation"}),
            True,
            Action.DELETE,
            "external",
        ),
    ],
)
def test_cross_tenant_lifecycle(
    name: str, src: SourceObject | None, assigned: bool, action: Action, reason: str
) -> None:
    work = plan_one(cross_tenant_mapping(), "u1", src, synced(), CROSS_TENANT, assigned=assigned)
    assert work.action == action, (name, work.reason)
    assert reason in work.reason, (name, work.reason)
    if action == Action.UPDATE:
        assert work.changes == [Change("accountEnabled", True, False)]


def test_cross_tenant_return_after_soft_delete_is_a_create_that_matches_first() -> None:
    gone = synced()
    gone.state = "deleted"
    work = plan_one(cross_tenant_mapping(), "u1", carol(), gone, CROSS_TENANT, assigned=True)
    assert work.action == Action.CREATE  # the applier matches on the anchor first and restores the same user
    assert work.values["alternativeSecurityIds"] == "5::u1"


def test_cross_tenant_never_creates_external_users() -> None:
    guest = carol(attributes={"userType": "Guest"})
    work = plan_one(cross_tenant_mapping(), "u1", guest, None, CROSS_TENANT, assigned=True)
    assert work.action == Action.SKIP and "external" in work.reason
