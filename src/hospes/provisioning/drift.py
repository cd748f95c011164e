"""Drift repair: the synchronized users a target's own administrators changed are brought back to the source's
values within seconds, from the target's change feed (the ``DriftFeed`` capability of a connector: another
deployment's ``/users/delta``, or the target tenant's change log), not at a full restart.

Each read starts at the position kept with the job (``provisioning_jobs.drift_position``) and names the target
users changed since. Only the users this job links are looked at; each is planned as usual (scope, assignment,
the mapping's values) and its desired values are compared with what the target holds now, not with what the job
last exported. A difference is an update logged with the reason "drift repaired"; equal values are nothing,
which is what makes the job's own writes (they come back through the feed too) a no-op instead of a loop, and a
repeated read harmless. The position is written only after the repairs it led to are recorded, so a crash reads
the same changes again; a position the target no longer honours (expired, or from another target) is replaced by one
full comparison of the synchronized users and a fresh position. A new job starts from its first read on
(``LATEST``); a restart or reconciliation makes the next read a full comparison.

Lifecycle (the target's admin decides about its own tenant):

* an edit (``jobTitle``, ``accountEnabled``, ...): repaired to the source's values;
* a user soft-deleted in the target: stays deleted, never restored against that admin's will; the logs say so
  (``AzureActiveDirectoryObjectDeletedInTarget``, status skipped) and later changes of the source user fail with
  that error until the user leaves scope, as before;
* a user purged from the target: the source user is still in scope, so it is provisioned again (the reference
  re-provisions users who left the target organisation at its next cycle);
* users leaving scope, and attributes no mapping sends, are the source's passes' business, not drift: the anchor,
  the UPN (the target's own) and the manager (a reference synchronization resolves itself) are never compared.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.provisioning import Action, CycleKind, Status
from hospes.provisioning.applier import Outcome, intro_steps, step
from hospes.provisioning.connector import (
    LATEST,
    Among,
    Change,
    Connector,
    ConnectorError,
    DriftFeed,
    DriftWindow,
    PositionExpiredError,
    TargetObject,
)
from hospes.provisioning.credentials import JobConfig
from hospes.provisioning.directory import ANCHOR, MANAGER, SOFT_DELETED, UPN, WRITABLE
from hospes.provisioning.journal import load_states
from hospes.provisioning.lease import JobLease
from hospes.provisioning.planner import Work, evaluate, same, source_view
from hospes.storage.tables_provisioning import ProvisionedObject, ProvisioningJob

if TYPE_CHECKING:
    from hospes.provisioning.engine import Cycle, Engine

log = logging.getLogger("hospes.provisioning")

REPAIRED = "drift repaired: the target's values were changed outside synchronization"
DELETED_IN_TARGET = "AzureActiveDirectoryObjectDeletedInTarget"
_NOT_COMPARED = frozenset({ANCHOR, SOFT_DELETED, UPN, MANAGER})
_SAVE_EVERY = 60.0  # seconds: an unchanged feed's newer position is written at most this often
_IN_CHUNK = 500


def _plain(value: Any) -> Any:
    """A value as both sides can hold it: one-element lists as their element, empty as absent."""
    if isinstance(value, list | tuple):
        value = value[0] if len(value) == 1 else (None if not value else list(value))
    return None if value == "" else value


def drifted(desired: dict[str, Any], current: dict[str, Any]) -> list[Change]:
    """What the target holds that differs from the mapped values (only what the target reports is compared)."""
    changes = []
    for path, want in desired.items():
        if path.startswith("__") or path in _NOT_COMPARED or path not in current:
            continue
        have = current[path]
        if not same(_plain(have), _plain(want)):
            changes.append(Change(path, have, want))
    return changes


class DriftWatch:
    """When each job's feed is due (every ``interval`` seconds per job, in this process), and the positions read
    but not yet written: every read hands out a newer position, written with a repair or once a minute (a feed
    made of the job's own writes would otherwise cost a write per read). An older position is always safe to
    read from again: it only means comparing some users twice."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}
        self._newer: dict[str, tuple[str | None, str, float]] = {}  # job -> (saved, newer, saved at)
        self._compare: set[str] = set()  # jobs whose next read compares every user
        self._lock = threading.Lock()

    def due(self, job_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._next.get(job_id, 0.0) > now:
                return False
            self._next[job_id] = now + self.interval
            return True

    def compare_all(self, job_id: str, saved: str | None) -> None:
        """After a restart or reconciliation of a job that has read its feed: the next read compares every user
        (what no feed showed, such as edits made while its first cycle ran, is repaired then)."""
        if saved is not None:
            with self._lock:
                self._compare.add(job_id)

    def start(self, job_id: str, saved: str | None) -> str | None:
        """Where the next read starts: None (compare every user) when asked to; ``LATEST`` for a job that never
        read its feed (its first cycle has just written every user), else the newest position read."""
        with self._lock:
            if job_id in self._compare:
                self._compare.discard(job_id)
                return None
            memo = self._newer.get(job_id)
        if saved is None and memo is None:
            return LATEST
        return memo[1] if memo is not None and memo[0] == saved else saved

    def keep(self, job_id: str, saved: str | None, newer: str, changed: bool) -> bool:
        """Remember ``newer``; True when it should be written now."""
        now = time.monotonic()
        with self._lock:
            memo = self._newer.get(job_id)
            write = changed or saved is None or memo is None or memo[0] != saved or now - memo[2] >= _SAVE_EVERY
            self._newer[job_id] = (newer, newer, now) if write else (saved, newer, memo[2] if memo else now)
            return write

    def repair(
        self,
        engine: Engine,
        job_id: str,
        feed: tuple[JobConfig, str | None],
        shutdown: threading.Event | None,
        lease: JobLease | None,
    ) -> bool:
        """Read the job's feed (``feed``: its configuration and saved position) and repair what drifted; True when
        something was repaired or logged. A read that finds nothing opens no cycle: it runs every few seconds."""
        config, saved = feed
        connector: Connector | None = None
        cycle: Cycle | None = None
        try:
            connector = engine.connector_factory(config)
            if not isinstance(connector, DriftFeed):
                with self._lock:
                    self._next[job_id] = float("inf")  # a SCIM target: no feed to read, ever
                return False
            window = _read(connector, self.start(job_id, saved), job_id, _linked_among(engine, job_id))
            with engine.read_sessions() as session:
                suspects = suspected(session, job_id, window)
            repairs: list[Work] = []
            notes: list[tuple[Work, Outcome]] = []
            if suspects:
                cycle = engine.open_cycle(job_id, CycleKind.INCREMENTAL, shutdown=shutdown, lease=lease)
                cycle.applier._connector, connector = connector, None  # the cycle closes it
                repairs, notes = plan_repairs(cycle, cycle.applier.connect(), window, suspects)
        except ConnectorError as exc:
            # The next pass with work meets the same refusal and quarantines if it must; a feed read does not.
            log.info("provisioning job %s: the target's change feed could not be read (%s)", job_id, exc.error_code)
            return False
        except Exception:  # a fault of the repair must never hold the job's own passes
            log.exception("provisioning job %s: drift repair failed", job_id)
            return False
        finally:
            if connector is not None:
                connector.close()
            if cycle is not None and not (repairs or notes):
                cycle.close()
        if cycle is not None and (repairs or notes):
            recorded: list[bool] = []

            def body() -> None:
                if repairs:
                    cycle.start_target()
                for work, outcome in notes:
                    cycle.journal.commit(work, outcome)
                cycle.apply_phase(repairs)
                recorded.append(True)

            cycle.run_pass(body, watermark=None, full=False)
            if not recorded:
                return True  # stopped (quarantine, pause): the same changes are read again
        if self.keep(job_id, saved, window.position, bool(repairs or notes) or window.full):
            save_position(engine.sessions, job_id, window.position, lease)
        return bool(repairs or notes)


def _read(connector: DriftFeed, position: str | None, job_id: str, among: Among) -> DriftWindow:
    try:
        return connector.drift("user", position, among)
    except PositionExpiredError as exc:
        log.info("provisioning job %s: drift position refused (%s); comparing every user", job_id, exc.message)
        return connector.drift("user", None, among)


def _linked_among(engine: Engine, job_id: str) -> Among:
    def among(target_ids: list[str]) -> Collection[str]:
        with engine.read_sessions() as session:
            return _linked(session, job_id, target_ids).keys()

    return among


def save_position(sessions: sessionmaker[Session], job_id: str, position: str, lease: JobLease | None) -> None:
    stmt = update(ProvisioningJob).where(ProvisioningJob.id == job_id)
    if lease is not None:
        stmt = stmt.where(lease.held())
    with sessions.begin() as session:
        session.execute(stmt.values(drift_position=position))


def _linked(session: Session, job_id: str, target_ids: list[str]) -> dict[str, str]:
    """Target id -> source id of the users this job links among ``target_ids``."""
    out: dict[str, str] = {}
    stmt = select(ProvisionedObject.target_id, ProvisionedObject.source_id).where(
        ProvisionedObject.job_id == job_id,
        ProvisionedObject.source_type == "user",
        ProvisionedObject.state.in_(("active", "disabled")),
    )
    for i in range(0, len(target_ids), _IN_CHUNK):
        chunk = target_ids[i : i + _IN_CHUNK]
        out.update((t, s) for t, s in session.execute(stmt.where(ProvisionedObject.target_id.in_(chunk))) if t)
    return out


def suspected(session: Session, job_id: str, window: DriftWindow) -> list[str]:
    """Source ids of the users this job links whose target values differ from what the job last sent (most of a
    feed is the job's own writes coming back: those are not planned at all). A value the target holds that the
    job never sent counts, so an attribute filled in the target is found too; the mapping decides later."""
    current = {found.id: found for found in window.objects}
    linked = _linked(session, job_id, sorted(set(current) | set(window.gone)))
    states = load_states(session, job_id, "user", sorted(set(linked.values())))
    suspects = []
    for target_id, source_id in linked.items():
        now, last = current.get(target_id), states.get(source_id)
        if last is None:
            continue
        if now is None or now.data.get(SOFT_DELETED):
            suspects.append(source_id)
            continue
        exported = {path: last.exported.get(path) for path in now.data if path in WRITABLE}
        if drifted(exported, now.data):
            suspects.append(source_id)
    return sorted(suspects)


def plan_repairs(
    cycle: Cycle, connector: Connector, window: DriftWindow, suspects: list[str]
) -> tuple[list[Work], list[tuple[Work, Outcome]]]:
    """The updates (and re-creations) that bring the ``suspects`` back, and the log rows of users the target's
    admin deleted."""
    mapping_obj = cycle.schema.user
    current = {found.id: found for found in window.objects}
    gone = set(window.gone)
    repairs: list[Work] = []
    notes: list[tuple[Work, Outcome]] = []
    for work in cycle.plan_users(suspects):
        state, src = work.state, work.source
        in_scope = work.action in (Action.UPDATE, Action.SKIP) and bool(work.values)
        if state is None or not state.linked or src is None or not in_scope or state.target_id is None:
            continue  # not linked, or leaving scope: the source's own passes decide
        found: TargetObject | None = current.get(state.target_id)
        if found is not None and found.data.get(SOFT_DELETED):
            found = connector.get("user", state.target_id)  # deleted then, maybe restored since
            if found is not None and found.data.get(SOFT_DELETED):
                notes.append(_deleted_note(work))
                continue
        elif found is None and state.target_id not in gone:
            continue
        scope = work.reason.split(";")[0]
        if found is None:  # purged in the target while in scope: provisioned again
            if "Add" in mapping_obj.flow_types:
                values = evaluate(mapping_obj, source_view(src, False), creating=True)
                reason = f"{scope}; the user was removed from the target tenant; provisioned again"
                pending = replace(state, target_id=None, state="pending")
                repairs.append(
                    replace(
                        work,
                        action=Action.CREATE,
                        reason=reason,
                        values=values,
                        changes=[],
                        state=pending,
                        change_type="Add",
                    )
                )
            continue
        changes = drifted(work.values, found.data)
        if not changes or "Update" not in mapping_obj.flow_types:
            continue
        # What the target holds now stands in for what was exported: the update sends exactly the differences.
        seen = replace(state, exported={**state.exported, **{c.path: c.old for c in changes}})
        reason = f"{scope}; {REPAIRED}"
        repairs.append(
            replace(work, action=Action.UPDATE, reason=reason, changes=changes, state=seen, change_type="Update")
        )
    return repairs, notes


def _deleted_note(work: Work) -> tuple[Work, Outcome]:
    """The log row of a synchronized user its target's admin deleted: it is left deleted (nothing recorded)."""
    message = (
        f"User '{work.display}' was deleted in the target tenant outside synchronization; synchronization does not "
        "restore it against the target's administrators"
    )
    note = Work(work.kind, work.source_id, work.display, Action.SKIP, work.reason, state=work.state, source=work.source)
    steps = [*intro_steps(note), step("EntryExportUpdate", "export", Status.SKIPPED, message)]
    error = {
        "errorCode": DELETED_IN_TARGET,
        "errorCategory": "nonServiceFailure",
        "reason": message,
        "additionalDetails": None,
        "recommendedAction": "Restore the user in the target tenant, or remove it from the synchronization's scope.",
    }
    return note, Outcome(Action.OTHER, Status.SKIPPED, None, steps, [], error)
