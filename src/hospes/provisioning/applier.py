"""Sending planned work to the target through a connector: one object at a time, never raising for a target
error (it becomes the object's ``Outcome``, with the steps the logs show).

Match before create: every create first looks the object up by the mapping's matching attributes (and again
after a 409 or a lost response), so an object the target already holds - created by someone else, or by a
previous run that crashed before recording it - is linked and updated instead of duplicated.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hospes.domain.provisioning import SENT_ACTIONS, Action, Status
from hospes.provisioning.connector import (
    Change,
    ComplianceError,
    ConflictError,
    Connector,
    ConnectorError,
    CredentialsError,
    PermanentError,
    TargetNotFoundError,
    TargetObject,
    TransientError,
)
from hospes.provisioning.credentials import JobConfig
from hospes.provisioning.paths import read_path
from hospes.provisioning.planner import MEMBER_TARGETS, RECONCILE_MEMBERS, SOURCE_SYSTEM, ObjState, Work, label, same
from hospes.provisioning.planner import text as text_value
from hospes.provisioning.schema import CompiledSchema
from hospes.provisioning.scim import connector_error

log = logging.getLogger("hospes.provisioning")

ConnectorFactory = Callable[[JobConfig], Connector]
_VERBS = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.DISABLE: "disabled",
    Action.DELETE: "deleted",
    Action.OTHER: "matched",
}


@dataclass
class Outcome:
    action: Action
    status: Status
    state: ObjState | None
    steps: list[dict[str, Any]]
    modified: list[dict[str, Any]]
    error: dict[str, Any] | None = None
    duration_ms: int = 0
    escrow: bool = False
    at: datetime | None = None  # when the target answered (the log's activityDateTime)


def step(
    name: str, kind: str, status: Status, description: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One ``provisioningStep`` of a log row."""
    return {
        "name": name,
        "provisioningStepType": kind,
        "status": status,
        "description": description,
        "details": {k: text_value(v) if not isinstance(v, str) else v for k, v in (details or {}).items()},
    }


def modified_property(path: str, old: Any, new: Any) -> dict[str, Any]:
    return {"displayName": path, "oldValue": text_value(old), "newValue": text_value(new)}


def error_info(exc: ConnectorError, target: str) -> dict[str, Any]:
    actionable = isinstance(exc, CredentialsError | ComplianceError | PermanentError) and not exc.transient
    return {
        "errorCode": exc.error_code,
        "errorCategory": "nonServiceFailure" if actionable else "failure",
        "reason": f"{target}: {exc.message}"[:2000],
        "additionalDetails": f"HTTP {exc.status}" if exc.status else None,
        "recommendedAction": _advice(exc),
    }


def _advice(exc: ConnectorError) -> str | None:
    if isinstance(exc, CredentialsError):
        return "Check the secret token (or OAuth client) and the tenant URL, then test the connection."
    if exc.transient:
        return "The target was unavailable or throttling; the object is retried automatically."
    if isinstance(exc, ConflictError):
        return "An object with the same unique attribute exists in the target but could not be matched."
    return None


def intro_steps(work: Work) -> list[dict[str, Any]]:
    """The import and scoping steps every log row of an object starts with."""
    name = label(work.kind)
    status = Status.SKIPPED if work.action == Action.SKIP else Status.SUCCESS
    return [
        step(
            "EntryImport" + work.change_type,
            "import",
            Status.SUCCESS,
            f"Received {name} '{work.display}' change of type ({work.change_type}) from {SOURCE_SYSTEM}",
            {"objectId": work.source_id},
        ),
        step(
            "EntrySynchronizationScoping",
            "scoping",
            status,
            f"Determine if {name} in scope by evaluating against each scoping filter: {work.reason}",
        ),
    ]


@dataclass
class Applier:
    """The connector side of one cycle. Thread-safe for ``apply``: the cycle applies objects concurrently."""

    config: JobConfig
    schema: CompiledSchema
    app_name: str
    connector_factory: ConnectorFactory
    sleep: Callable[[float], None] = time.sleep
    # A credentials or compliance error: the target refuses everything, the cycle stops after the objects in flight.
    fatal: ConnectorError | None = None
    _connector: Connector | None = None
    _index: dict[str, dict[str, dict[str, TargetObject]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def connect(self) -> Connector:
        if self._connector is None:
            self._connector = self.connector_factory(self.config)
        return self._connector

    def close(self) -> None:
        if self._connector is not None:
            self._connector.close()
            self._connector = None

    def apply(self, work: Work) -> Outcome:
        """Send one object's change to the target. Never raises for a target error: it becomes the outcome."""
        started = time.monotonic()
        steps = intro_steps(work)
        name = label(work.kind)
        connector = self.connect()
        state = ObjState(**vars(work.state)) if work.state is not None else ObjState()
        state.exported = dict(state.exported)
        modified: list[dict[str, Any]] = []
        try:
            if work.action == Action.CREATE:
                action = self._create(work, state, steps, modified)
            elif work.action in (Action.UPDATE, Action.DISABLE):
                action = work.action
                if state.target_id is None:
                    raise PermanentError("InvalidAnchor", f"{name} '{work.display}' has no target id")
                steps.append(
                    step(
                        "EntrySynchronizationUpdate",
                        "matching",
                        Status.SUCCESS,
                        f"{name} '{work.display}' is linked to target id {state.target_id}",
                    )
                )
                changes = list(work.changes)
                if changes:
                    state.version = connector.update(work.kind, state.target_id, changes, state.version)
                for change in changes:
                    state.exported[change.path] = change.new
                    modified.append(modified_property(change.path, change.old, change.new))
                state.state = "disabled" if work.action == Action.DISABLE else "active"
                sent = self._sync_members(work, state, steps) if work.members is not None else False
                if not changes and not sent:
                    # A reconciliation that found no drift: nothing was sent, nothing worth a log row.
                    return Outcome(Action.OTHER, Status.SKIPPED, state, steps, [])
            elif work.action == Action.DELETE:
                action = Action.DELETE
                if state.target_id:
                    connector.delete(work.kind, state.target_id, state.version)
                state.state = "deleted"
                state.members = []
            else:
                return Outcome(Action.OTHER, Status.SKIPPED, None, steps, [])
        except TargetNotFoundError as exc:
            if work.action in (Action.UPDATE, Action.DISABLE):
                # The cached target id is gone (InvalidAnchor): forget the link, the retry matches or creates.
                outcome = self._failed(work, exc, steps, modified, started)
                outcome.state = ObjState(state="pending")
                return outcome
            return self._failed(work, exc, steps, modified, started)
        except ConnectorError as exc:
            return self._failed(work, exc, steps, modified, started)
        except Exception as exc:  # evaluation bugs or odd data must not kill the cycle
            log.exception("provisioning %s %s failed unexpectedly", work.kind, work.source_id)
            return self._failed(work, connector_error(exc), steps, modified, started)
        steps.append(
            step(
                f"EntryExport{action.capitalize()}",
                "export",
                Status.SUCCESS,
                f"{name} '{work.display}' was {_VERBS[action]} in {self.app_name}",
            )
        )
        state.escrow_count = 0
        return Outcome(
            action, Status.SUCCESS, state, steps, modified, duration_ms=int((time.monotonic() - started) * 1000)
        )

    def _failed(
        self,
        work: Work,
        exc: ConnectorError,
        steps: list[dict[str, Any]],
        modified: list[dict[str, Any]],
        started: float,
    ) -> Outcome:
        if isinstance(exc, CredentialsError | ComplianceError):
            with self._lock:
                if self.fatal is None:
                    self.fatal = exc
        steps.append(
            step(
                f"EntryExport{work.action.capitalize()}",
                "export",
                Status.FAILURE,
                f"Failed to {work.action} {label(work.kind)} '{work.display}' in {self.app_name}",
                {"ReportableIdentifier": work.display},
            )
        )
        return Outcome(
            work.action if work.action in SENT_ACTIONS else Action.OTHER,
            Status.FAILURE,
            None,
            steps,
            modified,
            error_info(exc, self.app_name),
            int((time.monotonic() - started) * 1000),
            escrow=not isinstance(exc, CredentialsError | ComplianceError),
        )

    # --- matching --------------------------------------------------------------------------------------------

    def _matching_values(self, work: Work) -> list[tuple[str, Any]]:
        mapping_obj = self.schema.for_kind(work.kind)
        if mapping_obj is None:
            return []
        out = []
        for attribute in mapping_obj.matching:
            value = work.values.get(attribute.target)
            if value not in (None, ""):
                out.append((attribute.target, value))
        return out

    def build_index(self, kind: str) -> None:
        """List the target once (paged) and index it by the matching attributes: an initial cycle of N objects
        then costs one scan plus N creates instead of N queries plus N creates."""
        mapping_obj = self.schema.for_kind(kind)
        if mapping_obj is None or kind in self._index:
            return
        paths = [a.target for a in mapping_obj.matching]
        index: dict[str, dict[str, TargetObject]] = {p: {} for p in paths}
        try:
            for found in self.connect().scan(kind, paths):
                for path in paths:
                    value = read_path(found.data, path)
                    if value is not None:
                        index[path].setdefault(str(value).lower(), found)
        except ConnectorError as exc:
            if isinstance(exc, CredentialsError):
                raise
            log.info("target listing failed (%s); matching object by object", exc.code)
            return
        self._index[kind] = index

    def _match(self, work: Work, steps: list[dict[str, Any]], use_index: bool) -> TargetObject | None:
        name = label(work.kind)
        candidates = self._matching_values(work)
        if not candidates:
            raise PermanentError("ImportSkipped", f"{name} '{work.display}' has no value for a matching attribute")
        index = self._index.get(work.kind) if use_index else None
        for path, value in candidates:
            if index is not None and path in index:
                hit = index[path].get(str(value).lower())
                hits = [hit] if hit is not None else []
            else:
                hits = self.connect().find(work.kind, path, value)
            if len(hits) > 1:
                raise PermanentError(
                    "DuplicateTargetEntries", f"{len(hits)} {name.lower()}s in the target have {path} '{value}'"
                )
            if hits:
                steps.append(
                    step(
                        "EntryMatch",
                        "matching",
                        Status.SUCCESS,
                        f"Matched {name} '{work.display}' on {path} '{value}' (target id {hits[0].id})",
                        {path: value},
                    )
                )
                return hits[0]
        return None

    # --- writing -----------------------------------------------------------------------------------------------

    def _create(
        self, work: Work, state: ObjState, steps: list[dict[str, Any]], modified: list[dict[str, Any]]
    ) -> Action:
        name = label(work.kind)
        connector = self.connect()
        values = {k: v for k, v in work.values.items() if not k.startswith("__")}
        attempts = 0
        use_index = True
        while True:
            attempts += 1
            found = self._match(work, steps, use_index)
            if found is not None:
                return self._link(work, state, found, values, steps, modified)
            if attempts == 1:
                steps.append(
                    step(
                        "EntrySynchronizationAdd",
                        "matching",
                        Status.SUCCESS,
                        f"{name} '{work.display}' will be created (no matching {name.lower()} found)",
                    )
                )
            resource = connector.resource(work.kind, values)
            if work.kind == "group" and work.members is not None:
                resource.setdefault("members", [])
            try:
                created = connector.create(work.kind, resource)
            except ConflictError:
                use_index = False  # it exists after all (e.g. a lost response): query and link it
                if attempts >= 3:
                    raise
                continue
            except TransientError:
                # The POST may have reached the target: never re-POST blindly, match again first.
                use_index = False
                if attempts >= 4:
                    raise
                self.sleep(0.2 * 2**attempts)
                continue
            state.target_id, state.version, state.state = created.id, created.version, "active"
            state.exported = values
            state.members = []
            for path, value in values.items():
                modified.append(modified_property(path, None, value))
            if work.members is not None:
                self._sync_members(work, state, steps)
            return Action.CREATE

    def _link(
        self,
        work: Work,
        state: ObjState,
        found: TargetObject,
        values: dict[str, Any],
        steps: list[dict[str, Any]],
        modified: list[dict[str, Any]],
    ) -> Action:
        """A matched object: bring it to the mapped values (what the target holds is read from the match)."""
        connector = self.connect()
        data = found.data
        if work.kind == "group" or not any(read_path(data, p) is not None for p in values if p != "userName"):
            fetched = connector.get(work.kind, found.id)
            data = fetched.data if fetched is not None else data
            found = fetched or found
        changes = []
        mapping_obj = self.schema.for_kind(work.kind)
        add_only = {a.target for a in mapping_obj.attributes if a.add_only} if mapping_obj else set()
        for path, value in values.items():
            if path in add_only:
                continue
            current = read_path(data, path)
            if not same(current, value):
                changes.append(Change(path, current, value))
        state.target_id, state.version, state.state = found.id, found.version, "active"
        if changes:
            state.version = connector.update(work.kind, found.id, changes, state.version)
        state.exported = dict(values)
        for change in changes:
            modified.append(modified_property(change.path, change.old, change.new))
        if work.kind == "group" and work.members is not None:
            members = data.get("members")
            current_targets = (
                {str(m.get("value")) for m in members if isinstance(m, dict)} if isinstance(members, list) else set()
            )
            targets: dict[str, str] = work.values.get(MEMBER_TARGETS, {})
            state.members = [m for m, t in targets.items() if t in current_targets]
            self._sync_members(work, state, steps)
        return Action.UPDATE if changes or work.kind == "group" else Action.OTHER

    def _sync_members(self, work: Work, state: ObjState, steps: list[dict[str, Any]]) -> bool:
        """Send the member deltas of a group; True when something was sent."""
        if work.members is None or state.target_id is None:
            return False
        targets: dict[str, str] = work.values.get(MEMBER_TARGETS, {})
        desired = [m for m in work.members if m in targets]
        exported = set(state.members)
        add = [targets[m] for m in desired if m not in exported]
        remove = [targets[m] for m in exported if m not in set(desired) and m in targets]
        if work.values.get(RECONCILE_MEMBERS):
            current = self.connect().members(state.target_id)
            if current is not None:
                want = {targets[m] for m in desired}
                managed = set(targets.values())
                add = sorted(want - set(current))
                remove = sorted((set(current) & managed) - want)
        if add or remove:
            state.version = self.connect().change_members(state.target_id, add, remove, state.version)
            steps.append(
                step(
                    "EntryExportMembers",
                    "export",
                    Status.SUCCESS,
                    f"Group '{work.display}': {len(add)} member(s) added, {len(remove)} removed",
                    {"added": len(add), "removed": len(remove)},
                )
            )
        state.members = sorted(desired)
        return bool(add or remove)
