"""What a target must receive for one object: the source object, what was last exported for it and the job's
configuration in, the ``Work`` to do out. Pure: no database, no connector, no clock, so every decision (scope,
assignment, flow types, deletion threshold, member deltas) is testable from a table of cases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hospes.domain.provisioning import Action
from hospes.provisioning import mapping
from hospes.provisioning.connector import Change
from hospes.provisioning.credentials import JobConfig
from hospes.provisioning.schema import BOOLEAN_TARGETS, ObjectMapping

SOURCE_SYSTEM = "Hospes"
# Keys of ``Work.values`` that carry planning context to the applier instead of attribute values.
MEMBER_TARGETS = "__member_targets__"  # groups: member source id -> target id, for every linked member
RECONCILE_MEMBERS = "__reconcile__"  # groups: read the members back from the target and repair drift


@dataclass
class SourceObject:
    kind: str  # user | group
    id: str
    display_name: str
    attributes: dict[str, Any]
    soft_deleted: bool = False
    enabled: bool = True
    members: list[str] = field(default_factory=list)  # groups: user member ids


@dataclass
class ObjState:
    """What the job last exported for one source object (a detached copy of its ``provisioned_objects`` row)."""

    target_id: str | None = None
    version: str | None = None
    state: str = "pending"  # pending | active | disabled | deleted
    exported: dict[str, Any] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)
    escrow_count: int = 0

    @property
    def linked(self) -> bool:
        return bool(self.target_id) and self.state in ("active", "disabled")


@dataclass
class Work:
    kind: str
    source_id: str
    display: str
    action: Action  # SKIP, CREATE, UPDATE, DISABLE or DELETE
    reason: str
    values: dict[str, Any] = field(default_factory=dict)  # desired values (create: including add-only)
    changes: list[Change] = field(default_factory=list)
    state: ObjState | None = None
    source: SourceObject | None = None
    members: list[str] | None = None  # groups: desired member source ids (None: members not synced)
    change_type: str = "Update"  # Add | Update | Delete, for the import step's wording

    def describe(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "objectType": self.kind,
            "sourceId": self.source_id,
            "displayName": self.display,
            "targetId": self.state.target_id if self.state else None,
            "reason": self.reason,
            "modifiedProperties": [
                {"displayName": c.path, "oldValue": text(c.old), "newValue": text(c.new)} for c in self.changes
            ],
        }


def text(value: Any) -> str | None:
    """A value as the logs show it (booleans as ``True``/``False``, as Entra's provisioning logs do)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return text(a) == text(b)  # "True" from an expression vs a stored boolean
    return bool(a == b)


def label(kind: str) -> str:
    return "User" if kind == "user" else "Group"


def source_view(src: SourceObject, soft_deleted: bool) -> dict[str, Any]:
    """The attribute bag expressions read: the source attributes plus the per-job ``IsSoftDeleted``."""
    view = dict(src.attributes)
    view["IsSoftDeleted"] = soft_deleted
    return view


def evaluate(mapping_obj: ObjectMapping, view: Mapping[str, Any], creating: bool) -> dict[str, Any]:
    """The target values of the mapping's attributes: add-only ones only on create, empty values replaced by
    the default on create (and not sent at all when still empty), boolean targets made booleans."""
    values: dict[str, Any] = {}
    for attribute in mapping_obj.value_mappings:
        if attribute.add_only and not creating:
            continue
        if attribute.compiled is None:
            raise ValueError(f"{attribute.target}: the mapping was not compiled")
        value = attribute.compiled.evaluate(view)
        if mapping.is_no_flow(value):
            continue
        if value is None or value == "" or value == []:
            value = attribute.default if creating else None
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else value
        if attribute.target in BOOLEAN_TARGETS and isinstance(value, str):
            value = value.strip().lower() == "true"
        if value is None and creating:
            continue  # null values are not sent on create
        values[attribute.target] = value
    return values


def _out_of_scope_reasons(
    mapping_obj: ObjectMapping, oid: str, src: SourceObject, *, assigned: bool, default_only: bool, disabled: bool
) -> list[str]:
    name = label(mapping_obj.kind)
    reasons: list[str] = []
    if src.soft_deleted:
        reasons.append(f"{name} is deleted (soft)")
    if not assigned:
        reasons.append(
            f"{name} has only the default-access role" if default_only else f"{name} is not assigned to the application"
        )
    if mapping_obj.scope is not None and not src.soft_deleted:
        try:
            scoped = bool(mapping_obj.scope.matches(source_view(src, False)))
        except Exception as exc:  # a filter that fails on this object's data leaves it out of scope
            scoped = False
            reasons.append(f"scoping filter failed: {exc}")
        if not scoped:
            reasons.append(f"{name} does not satisfy the scoping filters")
    if disabled and mapping_obj.kind == "user" and not src.enabled:
        reasons.append("User is disabled")
    if not disabled and mapping_obj.kind == "user" and is_external(src):
        reasons.append("Filter external users: only internal members of the source tenant are synchronized")
    return reasons


def is_external(src: SourceObject) -> bool:
    """A guest, or a user who came by invitation (a synchronized user included): cross-tenant synchronization
    never pushes them on, which also keeps a mesh of tenants from echoing users back."""
    attributes = src.attributes
    return attributes.get("userType") == "Guest" or attributes.get("creationType") == "Invitation"


def plan_one(
    mapping_obj: ObjectMapping,
    oid: str,
    src: SourceObject | None,
    state: ObjState | None,
    config: JobConfig,
    *,
    assigned: bool,
    default_only: bool = False,
) -> Work:
    """The work for one object. ``assigned``: in the job's scope by assignment (or sync all); ``default_only``:
    assigned with the default-access role only (which does not count)."""
    kind = mapping_obj.kind
    name = label(kind)
    if src is None:
        if state is not None and state.linked:
            if "Delete" not in mapping_obj.flow_types:
                return Work(
                    kind,
                    oid,
                    oid,
                    Action.SKIP,
                    f"{name} was deleted; Delete is not a target action",
                    state=state,
                    change_type="Delete",
                )
            return Work(
                kind,
                oid,
                state.exported.get("displayName") or state.exported.get("userName") or oid,
                Action.DELETE,
                f"{name} was permanently deleted in {SOURCE_SYSTEM}",
                state=state,
                change_type="Delete",
            )
        return Work(kind, oid, oid, Action.SKIP, f"{name} does not exist and is not managed", state=state)
    reasons = _out_of_scope_reasons(
        mapping_obj, oid, src, assigned=assigned, default_only=default_only, disabled=not config.cross_tenant
    )
    out_of_scope = bool(reasons)
    view = source_view(src, out_of_scope)
    linked = state is not None and state.linked
    change_type = "Update" if linked else "Add"
    display = src.display_name
    if out_of_scope:
        reason = "; ".join(reasons)
        if state is None or not linked or state.state != "active":
            return Work(kind, oid, display, Action.SKIP, reason, state=state, source=src, change_type=change_type)
        if config.skip_out_of_scope_deletions:
            return Work(
                kind,
                oid,
                display,
                Action.SKIP,
                f"{reason}; SkipOutOfScopeDeletions is set",
                state=state,
                source=src,
                change_type=change_type,
            )
        if kind == "user" and config.cross_tenant:
            return _cross_tenant_leave(mapping_obj, oid, src, state, reason, change_type)
        if kind == "group":
            if "Delete" not in mapping_obj.flow_types:
                return Work(kind, oid, display, Action.SKIP, reason, state=state, source=src)
            return Work(kind, oid, display, Action.DELETE, reason, state=state, source=src, change_type="Delete")
        changes = [Change("active", state.exported.get("active", True), False)]
        return Work(
            kind,
            oid,
            display,
            Action.DISABLE,
            reason,
            changes=changes,
            state=state,
            source=src,
            change_type=change_type,
        )
    reason = f"{name} is in scope" + (" (sync all)" if config.sync_all else " (assigned)")
    if state is None or not linked:
        if "Add" not in mapping_obj.flow_types:
            return Work(
                kind, oid, display, Action.SKIP, f"{reason}; Add is not a target action", state=state, source=src
            )
        values = evaluate(mapping_obj, view, creating=True)
        return Work(
            kind, oid, display, Action.CREATE, reason, values=values, state=state, source=src, change_type="Add"
        )
    values = evaluate(mapping_obj, view, creating=False)
    changes = [
        Change(path, state.exported.get(path), value)
        for path, value in values.items()
        if not same(state.exported.get(path), value)
    ]
    if kind == "user" and state.state == "disabled" and "active" not in values and not config.cross_tenant:
        changes.append(Change("active", False, True))
    if not changes:
        return Work(kind, oid, display, Action.SKIP, f"{reason}; no change", values=values, state=state, source=src)
    if "Update" not in mapping_obj.flow_types:
        return Work(
            kind, oid, display, Action.SKIP, f"{reason}; Update is not a target action", state=state, source=src
        )
    return Work(
        kind,
        oid,
        display,
        Action.UPDATE,
        reason,
        values=values,
        changes=changes,
        state=state,
        source=src,
        change_type=change_type,
    )


def _cross_tenant_leave(
    mapping_obj: ObjectMapping, oid: str, src: SourceObject, state: ObjState, reason: str, change_type: str
) -> Work:
    """A synchronized user leaving scope (unassigned, filtered out, soft-deleted in the source) is soft-deleted
    in the target tenant, so a return within the deleted-items retention restores the same user. A user who was
    disabled first is left as it is (disabling already flowed as ``accountEnabled``)."""
    display = src.display_name
    if not src.enabled and not src.soft_deleted:
        reason = f"{reason}; the user is disabled, so it is not soft-deleted"
        return Work("user", oid, display, Action.SKIP, reason, state=state, source=src, change_type=change_type)
    if "Delete" not in mapping_obj.flow_types:
        return Work("user", oid, display, Action.SKIP, reason, state=state, source=src, change_type=change_type)
    return Work("user", oid, display, Action.DELETE, reason, state=state, source=src, change_type="Delete")


def plan_members(
    work: Work,
    mapping_obj: ObjectMapping,
    src: SourceObject | None,
    user_states: Mapping[str, ObjState],
    *,
    reconcile: bool,
) -> Work:
    """Add a group's member deltas to its work: the desired members are its source members that are linked in
    the target; a group whose members changed is updated even when its attributes did not."""
    if not mapping_obj.syncs_members or src is None or work.action not in (Action.CREATE, Action.UPDATE, Action.SKIP):
        return work
    desired = sorted(m for m in src.members if (u := user_states.get(m)) is not None and u.linked)
    exported = set(work.state.members) if work.state else set()
    if work.action == Action.CREATE or set(desired) != exported or reconcile:
        work.members = desired
        work.values[MEMBER_TARGETS] = {m: s.target_id for m, s in user_states.items() if s.target_id}
        if work.action == Action.SKIP and work.state is not None and work.state.linked:
            work.action = Action.UPDATE
            work.reason = "Group members changed" if set(desired) != exported else work.reason
            work.values[RECONCILE_MEMBERS] = reconcile and set(desired) == exported
    return work


def held_deletes(works: list[Work], config: JobConfig, *, allowed: bool) -> list[Work]:
    """The disables and deletes the accidental-deletion threshold holds back (none when they are ``allowed``:
    forced by an admin, or asked for on demand)."""
    deletes = [w for w in works if w.action in (Action.DISABLE, Action.DELETE)]
    if not config.delete_threshold_enabled or allowed or len(deletes) <= config.delete_threshold:
        return []
    return deletes
