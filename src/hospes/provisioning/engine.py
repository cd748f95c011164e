"""The provisioning engine: plans what a target must receive and applies it through a connector.

Units of work (``Engine.step``), each resumable:

* **full cycle** (new job, restart, schema change): every source object and every object the job manages is
  evaluated; the change-log watermark is read *before* the source, so a change racing the cycle is seen again
  by the next incremental pass, never lost.
* **incremental**: the change-log rows after the watermark (at most ``BATCH`` per pass) name the touched users
  and groups; only they are evaluated. The runner polls the log every fraction of a second, so a change reaches
  the target within seconds, not a 40-minute interval.
* **escrow retries**: objects whose last attempt failed, when their backoff is due.
* **reconciliation** (periodic): a full evaluation that also reads group members back from the target and
  repairs drift.

Crash safety: the source-id -> target-id link and what was exported are committed per object, right after the
target accepted it; the watermark moves only after a whole batch is done. A process killed mid-cycle therefore
re-plans on restart, finds the done objects unchanged (nothing to send) and the rest still to do. The one window
- a create accepted by the target but not yet committed here - is closed by matching before every create (and
on a 409), so it links the existing object instead of creating a duplicate.

Users are applied before groups in every pass, so group members can be resolved to target ids.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.domain.changes import MEMBER_CHANGES, ChangeRecord, ChangeType, ObjectType
from hospes.domain.clock import utcnow
from hospes.provisioning import mapping
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
from hospes.provisioning.credentials import JobConfig, unseal
from hospes.provisioning.notify import enqueue_notice
from hospes.provisioning.paths import read_path
from hospes.provisioning.schema import BOOLEAN_TARGETS, CompiledSchema, ObjectMapping, compile_schema
from hospes.provisioning.scim import ScimConfig, ScimConnector, connector_error
from hospes.provisioning.source import Assignments, Directory, SourceObject
from hospes.provisioning.ssrf import OutboundPolicy
from hospes.settings import Settings
from hospes.storage import changelog
from hospes.storage.tables import ServicePrincipal, Tenant
from hospes.storage.tables_provisioning import (
    ProvisionedObject,
    ProvisioningJob,
    ProvisioningLog,
    ProvisioningSecrets,
)

log = logging.getLogger("hospes.provisioning")

SOURCE_KINDS = (ObjectType.USER, ObjectType.GROUP)
BATCH = 5000  # change rows per incremental pass (the reference fits < 5,000 changes in one incremental cycle)
SCAN_MIN = 50  # creates in one pass from which the target is listed once instead of queried per object
ESCROW_MAX = timedelta(days=1)
QUARANTINE_MAX = timedelta(days=1)
QUARANTINE_DISABLE_AFTER = timedelta(days=28)
# Failure-rate quarantine (reference §4.5): evaluated from 5,000 failures; > 40 % or > 40,000 failures.
FAILURE_MIN, FAILURE_RATIO, FAILURE_MAX = 5000, 0.4, 40000
SOURCE_SYSTEM = "Hospes"

ConnectorFactory = Callable[[JobConfig], Connector]


class CycleStopped(Exception):  # noqa: N818 - control flow: the cycle ends early, the job state says why
    def __init__(self, reason: str, error: ConnectorError | None = None) -> None:
        super().__init__(reason)
        self.reason, self.error = reason, error


@dataclass
class ObjState:
    """A detached copy of a ``provisioned_objects`` row."""

    target_id: str | None = None
    version: str | None = None
    state: str = "pending"
    exported: dict[str, Any] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)
    escrow_count: int = 0

    @property
    def linked(self) -> bool:
        return bool(self.target_id) and self.state in ("active", "disabled")

    @classmethod
    def of(cls, row: ProvisionedObject | None) -> ObjState | None:
        if row is None:
            return None
        return cls(
            row.target_id,
            row.target_version,
            row.state,
            dict(row.exported or {}),
            list(row.members or []),
            row.escrow_count,
        )


@dataclass
class Work:
    kind: str
    source_id: str
    display: str
    action: str  # create | update | disable | delete | skip
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
                {"displayName": c.path, "oldValue": _text(c.old), "newValue": _text(c.new)} for c in self.changes
            ],
        }


@dataclass
class Outcome:
    action: str
    status: str  # success | failure | skipped | warning
    state: ObjState | None
    steps: list[dict[str, Any]]
    modified: list[dict[str, Any]]
    error: dict[str, Any] | None = None
    duration_ms: int = 0
    escrow: bool = False
    at: datetime | None = None  # when the target answered (the log's activityDateTime)


@dataclass
class Counters:
    imported: int = 0
    exported: int = 0
    failures: int = 0
    escrowed: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "countImported": self.imported,
            "countExported": self.exported,
            "countEscrowed": self.escrowed,
            "countFailures": self.failures,
            "countSkipped": self.skipped,
        }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return _text(a) == _text(b)  # "True" from an expression vs a stored boolean
    return bool(a == b)


def _step(name: str, kind: str, status: str, description: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "provisioningStepType": kind,
        "status": status,
        "description": description,
        "details": {k: _text(v) if not isinstance(v, str) else v for k, v in (details or {}).items()},
    }


def error_info(exc: ConnectorError, target: str) -> dict[str, Any]:
    actionable = isinstance(exc, CredentialsError | ComplianceError | PermanentError) and not exc.transient
    return {
        "errorCode": f"SystemForCrossDomainIdentityManagement{exc.code}",
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


def scim_connector_factory(settings: Settings) -> ConnectorFactory:
    policy = OutboundPolicy.parse(settings.outbound_allow)

    def make(config: JobConfig) -> Connector:
        return ScimConnector(
            ScimConfig(
                base_url=config.base_address,
                token=config.token,
                auth=config.auth,
                token_url=config.token_url,
                client_id=config.client_id,
                client_secret=config.client_secret,
                compat=config.compat,
                concurrency=config.concurrency,
                timeout=settings.provisioning_timeout_seconds,
                member_chunk=config.member_chunk,
            ),
            policy,
        )

    return make


class Engine:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        box: SecretBox,
        connector_factory: ConnectorFactory | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions, self.settings, self.box, self.clock = sessions, settings, box, clock
        self.connector_factory = connector_factory or scim_connector_factory(settings)

    # --- loading --------------------------------------------------------------------------------------------

    def job_config(self, session: Session, job: ProvisioningJob) -> JobConfig:
        sealed = session.get(ProvisioningSecrets, job.sp_id)
        secrets = unseal(self.box, job.sp_id, sealed.sealed if sealed is not None else None)
        return JobConfig.build(secrets, dict(job.settings or {}), self.settings)

    def open_run(self, job_id: str, cycle_kind: str, *, shutdown: threading.Event | None = None) -> Run:
        with self.sessions() as session:
            job = session.get(ProvisioningJob, job_id)
            if job is None:
                raise LookupError(job_id)
            config = self.job_config(session, job)
            schema = compile_schema(job.schema)
            sp = session.get(ServicePrincipal, job.sp_id)
            tenant = session.get(Tenant, job.tenant_id)
            return Run(
                self,
                job_id=job.id,
                tenant_id=job.tenant_id,
                sp_id=job.sp_id,
                app_name=sp.display_name if sp is not None else job.sp_id,
                tenant_name=tenant.display_name if tenant is not None else "",
                tenant_language=tenant.preferred_language if tenant is not None else None,
                config=config,
                schema=schema,
                force_deletes=job.force_deletes,
                cycle_kind=cycle_kind,
                shutdown=shutdown,
                probe=job.code == "Quarantine",
            )

    # --- the runner's unit of work --------------------------------------------------------------------------

    def step(self, job_id: str, shutdown: threading.Event | None = None) -> bool:
        """Do the next piece of work of an active job; False when there was nothing to do."""
        now = self.clock()
        with self.sessions() as session:
            job = session.get(ProvisioningJob, job_id)
            if job is None or job.code not in ("Active", "Quarantine"):
                return False
            if job.code == "Quarantine":
                reason = (job.quarantine or {}).get("reason")
                if reason in ("TooManyDeletes", "QuarantinedOnDemand") and not job.force_deletes:
                    return False  # waits for an admin: restart with ForceDeletes, or fix the source and restart
            if job.next_attempt_at is not None and job.next_attempt_at > now:
                return False  # quarantine or target-unavailable backoff
            config = self.job_config(session, job)
            if not config.configured:
                return False
            full = job.full_pending
            reconcile = (
                not full
                and job.code == "Active"
                and (
                    job.last_reconcile_at is None
                    or (now - job.last_reconcile_at).total_seconds() >= self.settings.provisioning_reconcile_seconds
                )
            )
            watermark = job.watermark
        if full or reconcile:
            run = self.open_run(job_id, "initial" if full else "reconcile", shutdown=shutdown)
            run.full_cycle(reconcile=reconcile)
            return True
        with self.sessions() as session:
            # The two object types are read in two statements: one head caps both, so the watermark (the last
            # row read) never passes a change that committed between them.
            upto = changelog.head(session, job.tenant_id, SOURCE_KINDS)
            rows = changelog.after(session, job.tenant_id, SOURCE_KINDS, watermark, BATCH, upto=upto)
            due = list(
                session.execute(
                    select(ProvisionedObject.source_type, ProvisionedObject.source_id)
                    .where(ProvisionedObject.job_id == job_id, ProvisionedObject.escrow_next_at <= now)
                    .limit(BATCH)
                )
            )
        if not rows and not due and job.code != "Quarantine":
            return False
        run = self.open_run(job_id, "incremental", shutdown=shutdown)
        run.incremental(rows, [(kind, oid) for kind, oid in due])
        return True

    def latest_seq(self, tenant_id: str) -> int:
        with self.sessions() as session:
            return changelog.head(session, tenant_id)


@dataclass
class Run:
    """One pass of one job: the connector, the compiled schema and the counters of this cycle."""

    engine: Engine
    job_id: str
    tenant_id: str
    sp_id: str
    app_name: str
    tenant_name: str
    tenant_language: str | None
    config: JobConfig
    schema: CompiledSchema
    force_deletes: bool
    cycle_kind: str
    shutdown: threading.Event | None = None
    probe: bool = False  # a quarantined job's retry: test the connection before anything else
    halt: threading.Event = field(default_factory=threading.Event)
    cycle_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    counters: Counters = field(default_factory=Counters)
    connector: Connector | None = None
    fatal: ConnectorError | None = None
    started: float = field(default_factory=time.monotonic)
    began_at: datetime = field(default_factory=utcnow)
    on_demand: bool = False
    _index: dict[str, dict[str, dict[str, TargetObject]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: int = 0
    _total: int = 0
    _last_progress: float = 0.0
    _writes: queue.Queue[tuple[Work, Outcome] | None] | None = None
    _write_error: Exception | None = None

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.engine.sessions

    def now(self) -> datetime:
        return self.engine.clock()

    def halted(self) -> bool:
        return self.halt.is_set() or (self.shutdown is not None and self.shutdown.is_set())

    def connect(self) -> Connector:
        if self.connector is None:
            self.connector = self.engine.connector_factory(self.config)
        return self.connector

    def close(self) -> None:
        if self.connector is not None:
            self.connector.close()
            self.connector = None

    # --- cycles ---------------------------------------------------------------------------------------------

    def full_cycle(self, reconcile: bool = False) -> None:
        watermark = self.engine.latest_seq(self.tenant_id)  # read before the source: racing changes come again
        self._begin()
        try:
            self.connect().discover()
            if self.probe:
                self.connect().test()
            users = self.plan_users(None)
            self._apply_phase(users)
            groups = self.plan_groups(None, reconcile=reconcile)
            self._apply_phase(groups)
        except CycleStopped as stopped:
            self._stopped(stopped)
            return
        except ConnectorError as exc:
            self._stopped(CycleStopped(_stop_reason(exc), exc))
            return
        finally:
            self.close()
        self._finish(watermark=watermark, full_done=True, reconciled=True)

    def incremental(self, rows: list[ChangeRecord], due: list[tuple[str, str]]) -> None:
        users: set[str] = {oid for kind, oid in due if kind == "user"}
        groups: set[str] = {oid for kind, oid in due if kind == "group"}
        widen: set[str] = set()  # groups whose scope or existence changed: their members' scope may too
        for row in rows:
            if row.object_type == ObjectType.USER:
                users.add(row.object_id)
            elif row.object_type == ObjectType.GROUP:
                groups.add(row.object_id)
                if row.change_type in MEMBER_CHANGES:
                    if row.related_id and (row.related_type or "user") == "user":
                        users.add(row.related_id)
                elif row.change_type != ChangeType.UPDATED or "appRoleAssignments" in row.properties:
                    widen.add(row.object_id)
        watermark = rows[-1].seq if rows else None
        self._begin()
        try:
            with self.sessions() as session:
                directory = Directory(session, self.tenant_id)
                users |= directory.member_users(widen)
                for state_row in session.scalars(
                    select(ProvisionedObject).where(
                        ProvisionedObject.job_id == self.job_id,
                        ProvisionedObject.source_type == "group",
                        ProvisionedObject.source_id.in_(sorted(widen)),
                    )
                ):
                    users.update(state_row.members or [])
            if users or groups or self.probe:
                self.connect().discover()
            if self.probe:
                self.connect().test()
            plan = self.plan_users(sorted(users)) if users else []
            self._apply_phase(plan)
            if self.schema.group is not None:
                with self.sessions() as session:
                    # Groups holding a user whose target state changed must re-send their member deltas.
                    groups |= Directory(session, self.tenant_id).groups_of(
                        w.source_id for w in plan if w.action in ("create", "delete")
                    )
            group_plan = self.plan_groups(sorted(groups)) if groups else []
            self._apply_phase(group_plan)
        except CycleStopped as stopped:
            self._stopped(stopped)
            return
        except ConnectorError as exc:
            self._stopped(CycleStopped(_stop_reason(exc), exc))
            return
        finally:
            self.close()
        self._finish(watermark=watermark, full_done=False, reconciled=False)

    # --- planning -------------------------------------------------------------------------------------------

    def _states(self, session: Session, kind: str, ids: list[str] | None) -> dict[str, ObjState]:
        stmt = select(ProvisionedObject).where(
            ProvisionedObject.job_id == self.job_id, ProvisionedObject.source_type == kind
        )
        out: dict[str, ObjState] = {}
        if ids is None:
            rows: Iterable[ProvisionedObject] = session.scalars(stmt)
        else:
            rows = []
            for i in range(0, len(ids), 500):
                rows = [*rows, *session.scalars(stmt.where(ProvisionedObject.source_id.in_(ids[i : i + 500])))]
        for row in rows:
            state = ObjState.of(row)
            if state is not None:
                out[row.source_id] = state
        return out

    def plan_users(self, ids: list[str] | None) -> list[Work]:
        mapping_obj = self.schema.user
        with self.sessions() as session:
            assignments = Assignments.load(session, self.tenant_id, self.sp_id)
            directory = Directory(session, self.tenant_id)
            live_assigned_groups = directory.live_groups(assignments.groups)
            via_group: dict[str, list[str]] = {}
            for group_id in live_assigned_groups:
                for member in directory.member_users([group_id]):
                    via_group.setdefault(member, []).extend(assignments.groups[group_id])
            roles = {
                uid: [*assignments.users.get(uid, []), *via_group.get(uid, [])]
                for uid in set(assignments.users) | set(via_group)
            }
            sources = directory.users(ids, roles)
            states = self._states(session, "user", ids)
        all_ids = sorted(set(sources) | set(states)) if ids is None else ids
        works: list[Work] = []
        for uid in all_ids:
            src = sources.get(uid)
            assigned = self.config.sync_all or uid in assignments.users or uid in via_group
            works.append(self._plan_one(mapping_obj, uid, src, states.get(uid), assigned, assignments))
        return works

    def plan_groups(self, ids: list[str] | None, reconcile: bool = False) -> list[Work]:
        mapping_obj = self.schema.group
        if mapping_obj is None or not mapping_obj.enabled:
            return []  # a disabled group mapping stops group provisioning; it deletes nothing
        with self.sessions() as session:
            assignments = Assignments.load(session, self.tenant_id, self.sp_id)
            sources = Directory(session, self.tenant_id).groups(ids)
            states = self._states(session, "group", ids)
            member_ids = {m for s in sources.values() for m in s.members} | {
                m for s in states.values() for m in s.members
            }
            user_states = self._states(session, "user", sorted(member_ids)) if member_ids else {}
        all_ids = sorted(set(sources) | set(states)) if ids is None else ids
        works: list[Work] = []
        for gid in all_ids:
            src = sources.get(gid)
            assigned = self.config.sync_all or gid in assignments.groups
            work = self._plan_one(mapping_obj, gid, src, states.get(gid), assigned, assignments)
            if mapping_obj.syncs_members and src is not None and work.action in ("create", "update", "skip"):
                desired = sorted(m for m in src.members if (u := user_states.get(m)) is not None and u.linked)
                exported = set(work.state.members) if work.state else set()
                if work.action == "create" or set(desired) != exported or reconcile:
                    work.members = desired
                    work.values["__member_targets__"] = {m: s.target_id for m, s in user_states.items() if s.target_id}
                    if work.action == "skip" and work.state is not None and work.state.linked:
                        work.action = "update"
                        work.reason = "Group members changed" if set(desired) != exported else work.reason
                        work.values["__reconcile__"] = reconcile and set(desired) == exported
            works.append(work)
        return works

    def _view(self, src: SourceObject, soft_deleted: bool) -> dict[str, Any]:
        view = dict(src.attributes)
        view["IsSoftDeleted"] = soft_deleted
        return view

    def evaluate(self, mapping_obj: ObjectMapping, view: dict[str, Any], creating: bool) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for attribute in mapping_obj.value_mappings:
            if attribute.add_only and not creating:
                continue
            assert attribute.compiled is not None
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

    def _plan_one(
        self,
        mapping_obj: ObjectMapping,
        oid: str,
        src: SourceObject | None,
        state: ObjState | None,
        assigned: bool,
        assignments: Assignments,
    ) -> Work:
        kind = mapping_obj.kind
        label = "User" if kind == "user" else "Group"
        if src is None:
            if state is not None and state.linked:
                if "Delete" not in mapping_obj.flow_types:
                    return Work(
                        kind,
                        oid,
                        oid,
                        "skip",
                        f"{label} was deleted; Delete is not a target action",
                        state=state,
                        change_type="Delete",
                    )
                return Work(
                    kind,
                    oid,
                    state.exported.get("displayName") or state.exported.get("userName") or oid,
                    "delete",
                    f"{label} was permanently deleted in {SOURCE_SYSTEM}",
                    state=state,
                    change_type="Delete",
                )
            return Work(kind, oid, oid, "skip", f"{label} does not exist and is not managed", state=state)
        reasons: list[str] = []
        if src.soft_deleted:
            reasons.append(f"{label} is deleted (soft)")
        if not assigned:
            reasons.append(
                f"{label} has only the default-access role"
                if oid in assignments.default_only
                else f"{label} is not assigned to the application"
            )
        scoped = True
        if mapping_obj.scope is not None and not src.soft_deleted:
            try:
                scoped = bool(mapping_obj.scope.matches(self._view(src, False)))
            except Exception as exc:  # a filter that fails on this object's data leaves it out of scope
                scoped, reasons = False, [*reasons, f"scoping filter failed: {exc}"]
            if not scoped:
                reasons.append(f"{label} does not satisfy the scoping filters")
        if kind == "user" and not src.enabled:
            reasons.append("User is disabled")
        out_of_scope = bool(reasons)
        view = self._view(src, out_of_scope)
        change_type = "Add" if state is None or not state.linked else "Update"
        if out_of_scope:
            reason = "; ".join(reasons)
            if state is None or not state.linked or state.state != "active":
                return Work(
                    kind, oid, src.display_name, "skip", reason, state=state, source=src, change_type=change_type
                )
            if self.config.skip_out_of_scope_deletions:
                return Work(
                    kind,
                    oid,
                    src.display_name,
                    "skip",
                    f"{reason}; SkipOutOfScopeDeletions is set",
                    state=state,
                    source=src,
                    change_type=change_type,
                )
            if kind == "group":
                if "Delete" not in mapping_obj.flow_types:
                    return Work(kind, oid, src.display_name, "skip", reason, state=state, source=src)
                return Work(
                    kind, oid, src.display_name, "delete", reason, state=state, source=src, change_type="Delete"
                )
            changes = [Change("active", state.exported.get("active", True), False)]
            return Work(
                kind,
                oid,
                src.display_name,
                "disable",
                reason,
                changes=changes,
                state=state,
                source=src,
                change_type=change_type,
            )
        reason = f"{label} is in scope" + (" (sync all)" if self.config.sync_all else " (assigned)")
        if state is None or not state.linked:
            if "Add" not in mapping_obj.flow_types:
                return Work(
                    kind,
                    oid,
                    src.display_name,
                    "skip",
                    f"{reason}; Add is not a target action",
                    state=state,
                    source=src,
                )
            values = self.evaluate(mapping_obj, view, creating=True)
            return Work(
                kind, oid, src.display_name, "create", reason, values=values, state=state, source=src, change_type="Add"
            )
        values = self.evaluate(mapping_obj, view, creating=False)
        changes = [
            Change(path, state.exported.get(path), value)
            for path, value in values.items()
            if not _same(state.exported.get(path), value)
        ]
        if kind == "user" and state.state == "disabled" and "active" not in values:
            changes.append(Change("active", False, True))
        if not changes:
            return Work(
                kind, oid, src.display_name, "skip", f"{reason}; no change", values=values, state=state, source=src
            )
        if "Update" not in mapping_obj.flow_types:
            return Work(
                kind, oid, src.display_name, "skip", f"{reason}; Update is not a target action", state=state, source=src
            )
        return Work(
            kind,
            oid,
            src.display_name,
            "update",
            reason,
            values=values,
            changes=changes,
            state=state,
            source=src,
            change_type=change_type,
        )

    # --- applying -------------------------------------------------------------------------------------------

    def _check_deletes(self, works: list[Work]) -> None:
        deletes = [w for w in works if w.action in ("disable", "delete")]
        if (
            not self.config.delete_threshold_enabled
            or self.force_deletes
            or self.on_demand
            or len(deletes) <= self.config.delete_threshold
        ):
            return
        held = f"{len(deletes)} deletions in this cycle exceed the threshold of {self.config.delete_threshold}"
        with self.sessions.begin() as session:
            for work in deletes:
                step = _step(
                    "EntryExportStagedDelete",
                    "export",
                    "skipped",
                    f"The {work.action} of {work.kind} '{work.display}' is held: {held}",
                )
                session.add(self._log_row(work, Outcome("stagedDelete", "skipped", work.state, [step], [])))
        raise CycleStopped(
            "TooManyDeletes",
            PermanentError(
                "TooManyDeletes",
                f"{len(deletes)} disables or deletes exceed the accidental-deletion threshold of "
                f"{self.config.delete_threshold}; restart with ForceDeletes to apply them",
            ),
        )

    def _apply_phase(self, works: list[Work]) -> None:
        active = [w for w in works if w.action != "skip"]
        self.counters.imported += len(works)
        self.counters.skipped += len(works) - len(active)
        if self.cycle_kind == "incremental":
            for work in works:
                if work.action == "skip" and work.state is not None and work.source is not None:
                    self.commit(work, Outcome("other", "skipped", None, self.intro_steps(work), []))
        if not active:
            return
        self._check_deletes(active)
        creates = [w for w in active if w.action == "create"]
        if len(creates) >= SCAN_MIN:
            self._build_index(creates[0].kind)
        with self._lock:
            self._total += len(active)
        self._progress(force=True)
        workers = max(1, self.config.concurrency)
        self._writes = queue.Queue()
        writer = threading.Thread(
            target=self._writer_loop, args=(self._writes,), name=f"prov-writer-{self.job_id[-6:]}"
        )
        writer.start()
        try:
            if workers == 1 or len(active) == 1:
                for work in active:
                    self._apply_and_commit(work)
            else:
                with ThreadPoolExecutor(workers, thread_name_prefix=f"prov-{self.job_id[-6:]}") as pool:
                    futures = [pool.submit(self._apply_and_commit, w) for w in active]
                    for future in as_completed(futures):
                        future.result()
                        self._progress()
        finally:
            self._writes.put(None)
            writer.join()
            self._writes = None
        self._progress(force=True)
        if self.fatal is not None:
            raise CycleStopped(_stop_reason(self.fatal), self.fatal)
        if self.halted():
            raise CycleStopped("Stopped")
        if self.counters.failures >= FAILURE_MIN and (
            self.counters.failures > FAILURE_MAX
            or self.counters.failures / max(1, self.counters.imported) > FAILURE_RATIO
        ):
            raise CycleStopped(
                "EncounteredEscrowProportionThreshold",
                PermanentError("EscrowProportionThreshold", f"{self.counters.failures} objects failed in this cycle"),
            )

    def _apply_and_commit(self, work: Work) -> Outcome | None:
        if self.fatal is not None or self.halted():
            return None
        outcome = self.apply(work)
        outcome.at = self.now()
        if self._writes is not None:
            self._writes.put((work, outcome))
        else:
            self.commit(work, outcome)
        with self._lock:
            self._done += 1
            if outcome.status == "failure":
                self.counters.failures += 1
                if outcome.escrow:
                    self.counters.escrowed += 1
            elif outcome.status == "success" and outcome.action != "other":
                self.counters.exported += 1
        return outcome

    def intro_steps(self, work: Work) -> list[dict[str, Any]]:
        label = "User" if work.kind == "user" else "Group"
        status = "skipped" if work.action == "skip" else "success"
        return [
            _step(
                "EntryImport" + work.change_type,
                "import",
                "success",
                f"Received {label} '{work.display}' change of type ({work.change_type}) from {SOURCE_SYSTEM}",
                {"objectId": work.source_id},
            ),
            _step(
                "EntrySynchronizationScoping",
                "scoping",
                status,
                f"Determine if {label} in scope by evaluating against each scoping filter: {work.reason}",
            ),
        ]

    def apply(self, work: Work) -> Outcome:
        """Send one object's change to the target. Never raises for a target error: it becomes the outcome."""
        started = time.monotonic()
        steps = self.intro_steps(work)
        label = "User" if work.kind == "user" else "Group"
        connector = self.connect()
        state = ObjState(**vars(work.state)) if work.state is not None else ObjState()
        state.exported = dict(state.exported)
        modified: list[dict[str, Any]] = []
        try:
            if work.action == "create":
                action = self._create(work, state, steps, modified)
            elif work.action in ("update", "disable"):
                action = work.action
                assert state.target_id is not None
                steps.append(
                    _step(
                        "EntrySynchronizationUpdate",
                        "matching",
                        "success",
                        f"{label} '{work.display}' is linked to target id {state.target_id}",
                    )
                )
                changes = [c for c in work.changes]
                if changes:
                    state.version = connector.update(work.kind, state.target_id, changes, state.version)
                for change in changes:
                    state.exported[change.path] = change.new
                    modified.append(
                        {"displayName": change.path, "oldValue": _text(change.old), "newValue": _text(change.new)}
                    )
                state.state = "disabled" if work.action == "disable" else "active"
                sent = self._sync_members(work, state, steps) if work.members is not None else False
                if not changes and not sent:
                    # A reconciliation that found no drift: nothing was sent, nothing worth a log row.
                    return Outcome("other", "skipped", state, steps, [])
            elif work.action == "delete":
                action = "delete"
                if state.target_id:
                    connector.delete(work.kind, state.target_id, state.version)
                state.state = "deleted"
                state.members = []
            else:
                return Outcome("other", "skipped", None, steps, [])
        except TargetNotFoundError as exc:
            if work.action in ("update", "disable"):
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
        verb = {
            "create": "created",
            "update": "updated",
            "disable": "disabled",
            "delete": "deleted",
            "other": "matched",
        }[action]
        steps.append(
            _step(
                f"EntryExport{action.capitalize()}",
                "export",
                "success",
                f"{label} '{work.display}' was {verb} in {self.app_name}",
            )
        )
        state.escrow_count = 0
        return Outcome(action, "success", state, steps, modified, duration_ms=int((time.monotonic() - started) * 1000))

    def _failed(
        self,
        work: Work,
        exc: ConnectorError,
        steps: list[dict[str, Any]],
        modified: list[dict[str, Any]],
        started: float,
    ) -> Outcome:
        label = "User" if work.kind == "user" else "Group"
        if isinstance(exc, CredentialsError | ComplianceError):
            with self._lock:
                if self.fatal is None:
                    self.fatal = exc
        steps.append(
            _step(
                f"EntryExport{work.action.capitalize()}",
                "export",
                "failure",
                f"Failed to {work.action} {label} '{work.display}' in {self.app_name}",
                {"ReportableIdentifier": work.display},
            )
        )
        action = work.action if work.action in ("create", "update", "disable", "delete") else "other"
        escrow = not isinstance(exc, CredentialsError | ComplianceError)
        return Outcome(
            action,
            "failure",
            None,
            steps,
            modified,
            error_info(exc, self.app_name),
            int((time.monotonic() - started) * 1000),
            escrow,
        )

    def _matching_values(self, work: Work) -> list[tuple[str, Any]]:
        mapping_obj = self.schema.for_kind(work.kind)
        assert mapping_obj is not None
        out = []
        for attribute in mapping_obj.matching:
            value = work.values.get(attribute.target)
            if value not in (None, ""):
                out.append((attribute.target, value))
        return out

    def _build_index(self, kind: str) -> None:
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
        label = "User" if work.kind == "user" else "Group"
        connector = self.connect()
        candidates = self._matching_values(work)
        if not candidates:
            raise PermanentError("ImportSkipped", f"{label} '{work.display}' has no value for a matching attribute")
        index = self._index.get(work.kind) if use_index else None
        for path, value in candidates:
            if index is not None and path in index:
                hit = index[path].get(str(value).lower())
                hits = [hit] if hit is not None else []
            else:
                hits = connector.find(work.kind, path, value)
            if len(hits) > 1:
                raise PermanentError(
                    "DuplicateTargetEntries", f"{len(hits)} {label.lower()}s in the target have {path} '{value}'"
                )
            if hits:
                steps.append(
                    _step(
                        "EntryMatch",
                        "matching",
                        "success",
                        f"Matched {label} '{work.display}' on {path} '{value}' (target id {hits[0].id})",
                        {path: value},
                    )
                )
                return hits[0]
        return None

    def _create(self, work: Work, state: ObjState, steps: list[dict[str, Any]], modified: list[dict[str, Any]]) -> str:
        label = "User" if work.kind == "user" else "Group"
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
                    _step(
                        "EntrySynchronizationAdd",
                        "matching",
                        "success",
                        f"{label} '{work.display}' will be created (no matching {label.lower()} found)",
                    )
                )
            resource = mapping.build_resource(values, work.kind)
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
                time.sleep(0.2 * 2**attempts)
                continue
            state.target_id, state.version, state.state = created.id, created.version, "active"
            state.exported = values
            state.members = []
            for path, value in values.items():
                modified.append({"displayName": path, "oldValue": None, "newValue": _text(value)})
            if work.members is not None:
                self._sync_members(work, state, steps)
            return "create"

    def _link(
        self,
        work: Work,
        state: ObjState,
        found: TargetObject,
        values: dict[str, Any],
        steps: list[dict[str, Any]],
        modified: list[dict[str, Any]],
    ) -> str:
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
            if not _same(current, value):
                changes.append(Change(path, current, value))
        state.target_id, state.version, state.state = found.id, found.version, "active"
        if changes:
            state.version = connector.update(work.kind, found.id, changes, state.version)
        state.exported = dict(values)
        for change in changes:
            modified.append({"displayName": change.path, "oldValue": _text(change.old), "newValue": _text(change.new)})
        if work.kind == "group" and work.members is not None:
            members = data.get("members")
            current_targets = (
                {str(m.get("value")) for m in members if isinstance(m, dict)} if isinstance(members, list) else set()
            )
            targets: dict[str, str] = work.values.get("__member_targets__", {})
            state.members = [m for m, t in targets.items() if t in current_targets]
            self._sync_members(work, state, steps)
        return "update" if changes or work.kind == "group" else "other"

    def _sync_members(self, work: Work, state: ObjState, steps: list[dict[str, Any]]) -> bool:
        """Send the member deltas of a group; True when something was sent."""
        assert work.members is not None and state.target_id is not None
        targets: dict[str, str] = work.values.get("__member_targets__", {})
        desired = [m for m in work.members if m in targets]
        exported = set(state.members)
        add_ids = [m for m in desired if m not in exported]
        remove_ids = [m for m in exported if m not in set(desired) and m in targets]
        add = [targets[m] for m in add_ids]
        remove = [targets[m] for m in remove_ids]
        if work.values.get("__reconcile__"):
            current = self.connect().members(state.target_id)
            if current is not None:
                want = {targets[m] for m in desired}
                managed = set(targets.values())
                add = sorted(want - set(current))
                remove = sorted((set(current) & managed) - want)
        if add or remove:
            state.version = self.connect().change_members(state.target_id, add, remove, state.version)
            steps.append(
                _step(
                    "EntryExportMembers",
                    "export",
                    "success",
                    f"Group '{work.display}': {len(add)} member(s) added, {len(remove)} removed",
                    {"added": len(add), "removed": len(remove)},
                )
            )
        state.members = sorted(desired)
        return bool(add or remove)

    # --- persistence ----------------------------------------------------------------------------------------

    def _log_values(self, work: Work, outcome: Outcome) -> dict[str, Any]:
        target_id = (outcome.state.target_id if outcome.state else None) or (
            work.state.target_id if work.state else None
        )
        return {
            "tenant_id": self.tenant_id,
            "job_id": self.job_id,
            "sp_id": self.sp_id,
            "cycle_id": self.cycle_id,
            "change_id": str(uuid.uuid4()),
            "at": outcome.at or self.now(),
            "duration_ms": outcome.duration_ms,
            "action": outcome.action,
            "status": outcome.status,
            "source_type": work.kind,
            "source_id": work.source_id,
            "source_name": (work.display or "")[:256],
            "target_id": target_id,
            "steps": outcome.steps,
            "modified": outcome.modified,
            "error": outcome.error,
        }

    def _log_row(self, work: Work, outcome: Outcome) -> ProvisioningLog:
        return ProvisioningLog(**self._log_values(work, outcome))

    def commit(self, work: Work, outcome: Outcome) -> None:
        """The object's new state and its log row, in one transaction (the crash-safety unit)."""
        self._commit_many([(work, outcome)])

    def _state_values(self, work: Work, outcome: Outcome, now: datetime) -> dict[str, Any] | None:
        escrow = outcome.status == "failure" and outcome.escrow
        if outcome.state is None and not escrow:
            return None
        base = work.state or ObjState()
        state = outcome.state or base
        values: dict[str, Any] = {
            "job_id": self.job_id,
            "source_type": work.kind,
            "source_id": work.source_id,
            "tenant_id": self.tenant_id,
            "target_id": state.target_id,
            "target_version": state.version,
            "state": state.state,
            "display_name": (work.display or "")[:256],
            "exported": state.exported,
            "members": state.members,
            "escrow_count": 0,
            "escrow_next_at": None,
            "last_error": None,
            "updated_at": now,
        }
        if escrow:
            count = base.escrow_count + 1
            delay = min(
                timedelta(seconds=self.engine.settings.provisioning_escrow_base_seconds * 2 ** (count - 1)), ESCROW_MAX
            )
            values.update(
                escrow_count=count, escrow_next_at=now + delay, last_error=(outcome.error or {}).get("reason")
            )
        return values

    def _commit_many(self, items: list[tuple[Work, Outcome]]) -> None:
        """Object states (upserted) and log rows of several objects in one transaction: the writer thread
        groups the objects finished in the last few milliseconds, so a cycle of thousands of objects is not
        thousands of transactions. A crash loses at most the objects of the open group, which the next run
        re-matches in the target (never re-creates)."""
        now = self.now()
        states: list[dict[str, Any]] = []
        logs: list[dict[str, Any]] = []
        for work, outcome in items:
            values = self._state_values(work, outcome, now)
            if values is not None:
                states.append(values)
            if outcome.status != "skipped" or self.cycle_kind == "incremental" or self.on_demand:
                logs.append(self._log_values(work, outcome))
        with self.sessions.begin() as session:
            if states:
                dialect = session.get_bind().dialect.name
                make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
                stmt = make_insert(ProvisionedObject)
                keys = ("job_id", "source_type", "source_id")
                stmt = stmt.on_conflict_do_update(
                    index_elements=list(keys),
                    set_={name: getattr(stmt.excluded, name) for name in states[0] if name not in keys},
                )
                session.execute(stmt, states)
            if logs:
                session.execute(insert(ProvisioningLog), logs)

    def _writer_loop(self, queue_: queue.Queue[tuple[Work, Outcome] | None]) -> None:
        done = False
        while not done:
            item = queue_.get()
            if item is None:
                return
            time.sleep(0.005)  # let the other workers' objects join this transaction
            batch = [item]
            while len(batch) < 500:
                try:
                    more = queue_.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    done = True
                    break
                batch.append(more)
            try:
                self._commit_many(batch)
            except Exception as exc:  # the database is unavailable: stop the pass, it is retried from the watermark
                log.exception("provisioning job %s could not record %d objects", self.job_id, len(batch))
                self._write_error = exc
                self.halt.set()

    def _progress(self, force: bool = False) -> None:
        """Persist progress at most twice a second; notice a pause or delete of the job meanwhile."""
        now = time.monotonic()
        if not force and now - self._last_progress < 0.5:
            return
        self._last_progress = now
        if self.on_demand:
            return
        with self.sessions.begin() as session:
            code = session.scalar(select(ProvisioningJob.code).where(ProvisioningJob.id == self.job_id))
            if code not in ("Active", "Quarantine"):
                self.halt.set()  # paused or deleted: stop after the objects in flight
                return
            session.execute(
                update(ProvisioningJob)
                .where(ProvisioningJob.id == self.job_id)
                .values(
                    progress_done=self._done,
                    progress_total=self._total,
                    updated_at=self.now(),
                    lease_until=self.now() + timedelta(seconds=60),  # renew the runner's lease while busy
                )
            )

    def _begin(self) -> None:
        if self.on_demand:
            return
        with self.sessions.begin() as session:
            session.execute(
                update(ProvisioningJob)
                .where(ProvisioningJob.id == self.job_id)
                .values(
                    cycle_id=self.cycle_id,
                    cycle_kind=self.cycle_kind,
                    cycle_started_at=self.began_at,
                    progress_done=0,
                    progress_total=0,
                )
            )

    def _execution(self, state: str, error: ConnectorError | None) -> dict[str, Any]:
        return {
            "activityIdentifier": self.cycle_id,
            "cycleKind": self.cycle_kind,
            "countEntitled": self.counters.imported - self.counters.skipped,
            "countEntitledForProvisioning": self.counters.imported - self.counters.skipped,
            "countEscrowed": self.counters.escrowed,
            "countEscrowedRaw": self.counters.escrowed,
            "countExported": self.counters.exported,
            "countExports": self.counters.exported,
            "countImported": self.counters.imported,
            "countImportedDeltas": self.counters.imported if self.cycle_kind == "incremental" else 0,
            "countImportedReferenceDeltas": 0,
            "countFailures": self.counters.failures,
            "state": state,
            "timeBegan": self.began_at.isoformat().replace("+00:00", "Z"),
            "timeEnded": self.now().isoformat().replace("+00:00", "Z"),
            "error": None
            if error is None
            else {"code": error.code, "message": error.message, "tenantActionable": not error.transient},
        }

    def _finish(self, *, watermark: int | None, full_done: bool, reconciled: bool) -> None:
        now = self.now()
        state = "EntryLevelErrors" if self.counters.failures else "Succeeded"
        with self.sessions.begin() as session:
            job = session.get(ProvisioningJob, self.job_id, with_for_update=True)
            if job is None:
                return
            if watermark is not None and watermark > job.watermark:
                job.watermark = watermark
            # A restart or schema change made while this pass ran cleared ``cycle_id``: its full cycle is still owed.
            current = job.cycle_id == self.cycle_id
            if full_done and current:
                job.full_pending = False
            if self.force_deletes and current:
                job.force_deletes = False  # one-shot: the held deletes were applied
            if reconciled:
                job.last_reconcile_at = now
            job.last_execution = self._execution(state, None)
            job.last_success_at = now
            job.successive_failures = 0
            job.progress_done, job.progress_total = self._done, self._total
            job.next_attempt_at = None
            if job.code == "Quarantine":
                job.code, job.quarantine, job.notified_reason = "Active", None, None
            if self.counters.failures == 0:
                job.steady_first_at = job.steady_first_at or now
                job.steady_last_at = now
            job.updated_at = now

    def _stopped(self, stopped: CycleStopped) -> None:
        if stopped.reason == "Stopped":
            return  # paused or shutting down: the watermark stays, the next run picks up
        now = self.now()
        error = stopped.error or PermanentError("Unknown", stopped.reason)
        with self.sessions.begin() as session:
            job = session.get(ProvisioningJob, self.job_id, with_for_update=True)
            if job is None:
                return
            job.last_execution = self._execution("Failed", error)
            job.successive_failures = (job.successive_failures or 0) + 1
            job.progress_done, job.progress_total = self._done, self._total
            if error.transient:
                # The target is down or throttling for the whole pass: retry later, never quarantine for it.
                job.next_attempt_at = now + timedelta(seconds=min(300, 2 ** min(job.successive_failures, 9)))
                job.updated_at = now
                return
            previous = job.quarantine or {}
            series = int(previous.get("seriesCount") or 0) + 1
            base = self.engine.settings.provisioning_quarantine_retry_seconds
            next_at = now + min(timedelta(seconds=base * 2 ** (series - 1)), QUARANTINE_MAX)
            began = previous.get("seriesBegan") or now.isoformat().replace("+00:00", "Z")
            job.quarantine = {
                "currentBegan": now.isoformat().replace("+00:00", "Z"),
                "nextAttempt": next_at.isoformat().replace("+00:00", "Z"),
                "reason": stopped.reason,
                "seriesBegan": began,
                "seriesCount": series,
                "error": {"code": error.code, "message": error.message, "tenantActionable": True},
            }
            job.next_attempt_at = next_at
            job.code = "Quarantine"
            try:
                series_began = datetime.fromisoformat(str(began).replace("Z", "+00:00"))
            except ValueError:
                series_began = now
            if now - series_began > QUARANTINE_DISABLE_AFTER:
                job.code = "Paused"  # four weeks in quarantine: the reference disables the job
            if job.notified_reason != stopped.reason:
                job.notified_reason = stopped.reason
                if self.config.notify and self.config.recipients:
                    enqueue_notice(
                        session,
                        self.engine.settings,
                        tenant_id=self.tenant_id,
                        tenant_name=self.tenant_name,
                        tenant_language=self.tenant_language,
                        job_id=self.job_id,
                        app_name=self.app_name,
                        recipients=self.config.recipients,
                        reason=stopped.reason,
                        detail=error.message,
                        next_attempt=None if stopped.reason == "TooManyDeletes" else next_at,
                        now=now,
                    )
            job.updated_at = now
        log.warning("provisioning job %s quarantined: %s (%s)", self.job_id, stopped.reason, error.message)


def _stop_reason(exc: ConnectorError) -> str:
    if isinstance(exc, CredentialsError | ComplianceError):
        return "EncounteredQuarantineException"
    if exc.transient:
        return "TargetUnavailable"
    return "EncounteredQuarantineException"


def prune_logs(sessions: sessionmaker[Session], retention_days: int, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    with sessions.begin() as session:
        result = session.execute(delete(ProvisioningLog).where(ProvisioningLog.at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


__all__ = ["Engine", "Run", "Work", "Outcome", "CycleStopped", "TargetNotFoundError", "prune_logs"]
