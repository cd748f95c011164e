"""The provisioning engine: plans what a target must receive (``planner``) and applies it through a connector
(``applier``), recording each object (``journal``) and the cycle's effect on the job (``lifecycle``).

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
* **drift repair** (cross-tenant targets with a change feed, every few seconds): see ``drift``.

The watermark moves only after a whole pass is done; each object is recorded as soon as the target accepted it
(see ``journal``), and every create is matched first (see ``applier``), so a crash re-plans and neither loses nor
duplicates an object. Users are applied before groups in every pass, so group members can be resolved to target
ids.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.domain.changes import MEMBER_CHANGES, ChangeRecord, ChangeType, ObjectType
from hospes.domain.clock import Clock, utcnow
from hospes.domain.provisioning import HELD_FOR_ADMIN, RUNNING_CODES, Action, CycleKind, JobCode, Status, StopReason
from hospes.provisioning.applier import Applier, ConnectorFactory, Outcome, intro_steps
from hospes.provisioning.connector import Connector, ConnectorError, PermanentError
from hospes.provisioning.credentials import JobConfig, unseal
from hospes.provisioning.directory import DirectoryConnector
from hospes.provisioning.drift import DriftWatch
from hospes.provisioning.echo import EchoMarks, only_echoes
from hospes.provisioning.graph_target import GraphConnector, GraphTargetConfig
from hospes.provisioning.journal import Journal, load_states
from hospes.provisioning.lease import JobLease
from hospes.provisioning.lifecycle import Counters, CycleInfo, CycleStopped, Lifecycle, stop_reason
from hospes.provisioning.planner import Work, held_deletes, plan_members, plan_one
from hospes.provisioning.schema import CompiledSchema, compile_schema
from hospes.provisioning.scim import ScimConfig, ScimConnector
from hospes.provisioning.source import Assignments, Directory
from hospes.provisioning.ssrf import OutboundPolicy
from hospes.settings import Settings
from hospes.storage import changelog
from hospes.storage.engine import read_sessions_of
from hospes.storage.tables import ServicePrincipal, Tenant
from hospes.storage.tables_provisioning import ProvisionedObject, ProvisioningJob, ProvisioningSecrets

SOURCE_KINDS = (ObjectType.USER, ObjectType.GROUP)
Pass = tuple["Cycle", list[ChangeRecord], list[tuple[str, str]]]  # an incremental pass: the changes, the escrow due
BATCH = 5000  # change rows per incremental pass (Entra handles up to 5,000 changes in one incremental cycle)
SCAN_MIN = 50  # creates in one pass from which the target is listed once instead of queried per object


def default_connector_factory(settings: Settings, sessions: sessionmaker[Session] | None = None) -> ConnectorFactory:
    """SCIM targets, and (given the database) tenants of this deployment for cross-tenant synchronization."""
    policy = OutboundPolicy.parse(settings.outbound_allow)

    def make(config: JobConfig) -> Connector:
        if config.cross_tenant:
            if sessions is None:
                raise PermanentError("NotSupported", "Cross-tenant synchronization needs the directory")
            if config.remote:
                target = GraphTargetConfig(
                    base_url=config.base_address,
                    tenant=config.target_tenant,
                    client_id=config.client_id,
                    client_secret=config.client_secret,
                    source_tenant=config.source_tenant,
                    timeout=settings.provisioning_timeout_seconds,
                    concurrency=config.concurrency,
                )
                return GraphConnector(target, sessions, policy)
            retention = settings.change_log_retention_days
            return DirectoryConnector(sessions, config.source_tenant, config.target_tenant, retention)
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
    """``clock`` and ``sleep`` are the engine's only time sources (the create retry's backoff included), so
    tests drive backoffs, escrow and quarantine retries with a fake clock."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        box: SecretBox,
        connector_factory: ConnectorFactory | None = None,
        clock: Clock = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sessions, self.settings, self.box, self.clock, self.sleep = sessions, settings, box, clock, sleep
        self.read_sessions = read_sessions_of(sessions)
        self.connector_factory = connector_factory or default_connector_factory(settings, sessions)
        self.echo_marks = EchoMarks(sessions)
        self.drift = DriftWatch(settings.provisioning_drift_seconds)

    def job_config(self, session: Session, job: ProvisioningJob) -> JobConfig:
        sealed = session.get(ProvisioningSecrets, job.sp_id)
        secrets = unseal(self.box, job.sp_id, sealed.sealed if sealed is not None else None)
        config = JobConfig.build(secrets, dict(job.settings or {}), self.settings)
        config.source_tenant = job.tenant_id
        return config

    def open_cycle(
        self,
        job_id: str,
        kind: CycleKind,
        *,
        shutdown: threading.Event | None = None,
        lease: JobLease | None = None,
        read: tuple[Session, ProvisioningJob, JobConfig] | None = None,
    ) -> Cycle:
        """``read``: a session, the job and its configuration already in hand (the runner's step), so a pass does
        not read them again."""
        if read is not None:
            info, config, schema, probe = self._cycle_info(*read, kind)
        else:
            with self.sessions() as session:
                job = session.get(ProvisioningJob, job_id)
                if job is None:
                    raise LookupError(job_id)
                info, config, schema, probe = self._cycle_info(session, job, self.job_config(session, job), kind)
        counters, halt = Counters(), threading.Event()
        return Cycle(
            sessions=self.sessions,
            info=info,
            config=config,
            schema=schema,
            applier=Applier(config, schema, info.app_name, self.connector_factory, self.sleep),
            journal=Journal(self.sessions, info, self.clock, self.settings.provisioning_escrow_base_seconds, lease),
            lifecycle=Lifecycle(self.sessions, self.settings, self.clock, info, config, counters, halt, lease),
            counters=counters,
            clock=self.clock,
            halt=halt,
            shutdown=shutdown,
            probe=probe,
            reads=self.read_sessions,
        )

    def _cycle_info(
        self, session: Session, job: ProvisioningJob, config: JobConfig, kind: CycleKind
    ) -> tuple[CycleInfo, JobConfig, CompiledSchema, bool]:
        sp = session.get(ServicePrincipal, job.sp_id)
        tenant = session.get(Tenant, job.tenant_id)
        info = CycleInfo(
            job_id=job.id,
            tenant_id=job.tenant_id,
            sp_id=job.sp_id,
            kind=kind,
            app_name=sp.display_name if sp is not None else job.sp_id,
            tenant_name=tenant.display_name if tenant is not None else "",
            tenant_language=tenant.preferred_language if tenant is not None else None,
            force_deletes=job.force_deletes,
            cycle_id=str(uuid.uuid4()),
            began_at=self.clock(),
        )
        return info, config, compile_schema(job.schema), job.code == JobCode.QUARANTINE

    def step(self, job_id: str, shutdown: threading.Event | None = None, lease: JobLease | None = None) -> bool:
        """Do the next piece of work of an active job; False when there was nothing to do. ``lease``: the runner's,
        fencing every write of the cycle."""
        now = self.clock()
        # One read-only transaction (on SQLite it takes no write lock) for the job, its change-log window and the
        # pass's own setup: an idle job costs a few index reads, a pass reads none of them twice.
        with self.read_sessions() as session:
            job = session.get(ProvisioningJob, job_id)
            if job is None or job.code not in RUNNING_CODES:
                return False
            if job.code == JobCode.QUARANTINE:
                reason = (job.quarantine or {}).get("reason")
                if reason in HELD_FOR_ADMIN and not job.force_deletes:
                    return False  # waits for an admin: restart with ForceDeletes, or fix the source and restart
            if job.next_attempt_at is not None and job.next_attempt_at > now:
                return False  # quarantine or target-unavailable backoff
            config = self.job_config(session, job)
            if not config.configured:
                return False
            full = job.full_pending
            reconcile = (
                not full
                and job.code == JobCode.ACTIVE
                and (
                    job.last_reconcile_at is None
                    or (now - job.last_reconcile_at).total_seconds() >= self.settings.provisioning_reconcile_seconds
                )
            )
            if full or reconcile:
                kind = CycleKind.INITIAL if full else CycleKind.RECONCILE
                cycle = self.open_cycle(job_id, kind, shutdown=shutdown, lease=lease, read=(session, job, config))
                owed: Pass | int | None = None
            else:
                owed = self._incremental(session, job, config, now, shutdown, lease)
            drift = not (full or reconcile) and config.cross_tenant and job.code == JobCode.ACTIVE
            feed = (config, job.drift_position)
        if full or reconcile:
            self.echo_marks.forget(job_id)
            self.drift.compare_all(job_id, feed[1])
            cycle.full(reconcile=reconcile)
        elif isinstance(owed, int):
            self.echo_marks.passed(job_id, owed, lease)
        elif owed is not None:
            owed[0].incremental(owed[1], owed[2])
        repaired = drift and self.drift.due(job_id) and self.drift.repair(self, job_id, feed, shutdown, lease)
        return full or reconcile or owed is not None or repaired

    def _incremental(
        self,
        session: Session,
        job: ProvisioningJob,
        config: JobConfig,
        now: datetime,
        shutdown: threading.Event | None,
        lease: JobLease | None,
    ) -> Pass | int | None:
        """The incremental pass a job owes (None: nothing to do; a sequence number: only echoes up to it)."""
        # The two object types are read in two statements: one head caps both, so the watermark (the last row
        # read) never passes a change that committed between them.
        upto = changelog.head(session, job.tenant_id, SOURCE_KINDS)
        start = self.echo_marks.start(job.id, job.watermark)
        rows = changelog.after(session, job.tenant_id, SOURCE_KINDS, start, BATCH, upto=upto)
        due = list(
            session.execute(
                select(ProvisionedObject.source_type, ProvisionedObject.source_id)
                .where(ProvisionedObject.job_id == job.id, ProvisionedObject.escrow_next_at <= now)
                .limit(BATCH)
            )
        )
        # Users synchronized into this tenant, seen by its own outbound cross-tenant jobs: nothing to do.
        echoes = bool(rows) and config.cross_tenant and not due and job.code == JobCode.ACTIVE
        if echoes and only_echoes(session, job.tenant_id, job.id, rows):
            return rows[-1].seq
        if not rows and not due and job.code != JobCode.QUARANTINE:
            return None
        cycle = self.open_cycle(
            job.id, CycleKind.INCREMENTAL, shutdown=shutdown, lease=lease, read=(session, job, config)
        )
        return cycle, rows, [(kind, oid) for kind, oid in due]


@dataclass
class Cycle:
    """One pass of one job: plans, applies and records, with the counters of this pass."""

    sessions: sessionmaker[Session]
    info: CycleInfo
    config: JobConfig
    schema: CompiledSchema
    applier: Applier
    journal: Journal
    lifecycle: Lifecycle
    counters: Counters
    clock: Clock
    halt: threading.Event  # set when the job was paused or deleted, or its objects could not be recorded
    shutdown: threading.Event | None = None
    probe: bool = False  # a quarantined job's retry: test the connection before anything else
    reads: sessionmaker[Session] | None = None  # read-only sessions for planning (``sessions`` when None)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _read(self) -> Session:
        return (self.reads or self.sessions)()

    def halted(self) -> bool:
        return self.halt.is_set() or (self.shutdown is not None and self.shutdown.is_set())

    def close(self) -> None:
        self.applier.close()

    # --- passes ---------------------------------------------------------------------------------------------

    def run_pass(self, body: Callable[[], None], *, watermark: int | None, full: bool) -> None:
        """Begin, run ``body``, then finish the cycle, or record why it stopped (a stop never raises)."""
        self.lifecycle.begin()
        try:
            body()
        except CycleStopped as stopped:
            self.lifecycle.stopped(stopped)
            return
        except ConnectorError as exc:
            self.lifecycle.stopped(CycleStopped(stop_reason(exc), exc))
            return
        finally:
            self.close()
        self.lifecycle.finish(watermark=watermark, full_done=full, reconciled=full)

    def full(self, reconcile: bool = False) -> None:
        watermark = self._latest_seq()  # read before the source: racing changes come again

        def body() -> None:
            self.start_target()
            self.apply_phase(self.plan_users(None))
            self.apply_phase(self.plan_groups(None, reconcile=reconcile))

        self.run_pass(body, watermark=watermark, full=True)

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

        def body() -> None:
            with self._read() as session:
                users.update(Directory(session, self.info.tenant_id).member_users(widen))
                for state in load_states(session, self.info.job_id, "group", sorted(widen)).values():
                    users.update(state.members)
            if users or groups or self.probe:
                self.start_target()
            plan = self.plan_users(sorted(users)) if users else []
            self.apply_phase(plan)
            if self.schema.group is not None:
                with self._read() as session:
                    # Groups holding a user whose target state changed must re-send their member deltas.
                    groups.update(
                        Directory(session, self.info.tenant_id).groups_of(
                            w.source_id for w in plan if w.action in (Action.CREATE, Action.DELETE)
                        )
                    )
            self.apply_phase(self.plan_groups(sorted(groups)) if groups else [])

        self.run_pass(body, watermark=rows[-1].seq if rows else None, full=False)

    def start_target(self) -> None:
        self.applier.connect().discover()
        if self.probe:
            self.applier.connect().test()

    def _latest_seq(self) -> int:
        with self._read() as session:
            return changelog.head(session, self.info.tenant_id)

    # --- planning -------------------------------------------------------------------------------------------

    def plan_users(self, ids: list[str] | None) -> list[Work]:
        with self._read() as session:
            assignments = Assignments.load(session, self.info.tenant_id, self.info.sp_id)
            directory = Directory(session, self.info.tenant_id)
            via_group: dict[str, list[str]] = {}
            for group_id in directory.live_groups(assignments.groups):
                for member in directory.member_users([group_id]):
                    via_group.setdefault(member, []).extend(assignments.groups[group_id])
            roles = {
                uid: [*assignments.users.get(uid, []), *via_group.get(uid, [])]
                for uid in set(assignments.users) | set(via_group)
            }
            sources = directory.users(ids, roles)
            states = load_states(session, self.info.job_id, "user", ids)
        all_ids = sorted(set(sources) | set(states)) if ids is None else ids
        return [
            plan_one(
                self.schema.user,
                uid,
                sources.get(uid),
                states.get(uid),
                self.config,
                assigned=self.config.sync_all or uid in assignments.users or uid in via_group,
                default_only=uid in assignments.default_only,
            )
            for uid in all_ids
        ]

    def plan_groups(self, ids: list[str] | None, reconcile: bool = False) -> list[Work]:
        mapping_obj = self.schema.group
        if mapping_obj is None or not mapping_obj.enabled:
            return []  # a disabled group mapping stops group provisioning; it deletes nothing
        with self._read() as session:
            assignments = Assignments.load(session, self.info.tenant_id, self.info.sp_id)
            sources = Directory(session, self.info.tenant_id).groups(ids)
            states = load_states(session, self.info.job_id, "group", ids)
            member_ids = {m for s in sources.values() for m in s.members} | {
                m for s in states.values() for m in s.members
            }
            user_states = load_states(session, self.info.job_id, "user", sorted(member_ids)) if member_ids else {}
        all_ids = sorted(set(sources) | set(states)) if ids is None else ids
        works: list[Work] = []
        for gid in all_ids:
            src = sources.get(gid)
            work = plan_one(
                mapping_obj,
                gid,
                src,
                states.get(gid),
                self.config,
                assigned=self.config.sync_all or gid in assignments.groups,
                default_only=gid in assignments.default_only,
            )
            works.append(plan_members(work, mapping_obj, src, user_states, reconcile=reconcile))
        return works

    # --- applying -------------------------------------------------------------------------------------------

    def _hold_deletes(self, works: list[Work]) -> None:
        held = held_deletes(works, self.config, allowed=self.info.force_deletes or self.info.on_demand)
        if not held:
            return
        threshold = self.config.delete_threshold
        self.journal.record_held(held, f"{len(held)} deletions in this cycle exceed the threshold of {threshold}")
        raise CycleStopped(
            StopReason.TOO_MANY_DELETES,
            PermanentError(
                StopReason.TOO_MANY_DELETES,
                f"{len(held)} disables or deletes exceed the accidental-deletion threshold of {threshold}; "
                "restart with ForceDeletes to apply them",
            ),
        )

    def apply_phase(self, works: list[Work]) -> None:
        active = [w for w in works if w.action != Action.SKIP]
        self.counters.imported += len(works)
        self.counters.skipped += len(works) - len(active)
        if self.info.kind == CycleKind.INCREMENTAL:
            for work in works:
                if work.action == Action.SKIP and work.state is not None and work.source is not None:
                    self.journal.commit(work, Outcome(Action.OTHER, Status.SKIPPED, None, intro_steps(work), []))
        if not active:
            return
        self._hold_deletes(active)
        creates = [w for w in active if w.action == Action.CREATE]
        if len(creates) >= SCAN_MIN:
            self.applier.build_index(creates[0].kind)
        with self._lock:
            self.counters.total += len(active)
        # A short incremental pass shows its progress and notices a pause at its end (``Lifecycle.finish``).
        announce = self.info.kind != CycleKind.INCREMENTAL or len(active) >= SCAN_MIN
        if announce:
            self.lifecycle.progress(force=True)
        workers = max(1, self.config.concurrency)
        with self.journal.writer(on_failure=self.halt.set, group=len(active) > 1) as write:
            if workers == 1 or len(active) == 1:
                for work in active:
                    self._apply_and_record(work, write)
                    self.lifecycle.progress()
            else:
                with ThreadPoolExecutor(workers, thread_name_prefix=f"prov-{self.info.job_id[-6:]}") as pool:
                    futures = [pool.submit(self._apply_and_record, w, write) for w in active]
                    for future in as_completed(futures):
                        future.result()
                        self.lifecycle.progress()
        if announce:
            self.lifecycle.progress(force=True)
        if self.applier.fatal is not None:
            raise CycleStopped(stop_reason(self.applier.fatal), self.applier.fatal)
        if self.halted():
            raise CycleStopped(StopReason.STOPPED)
        self.counters.check_failure_rate()

    def _apply_and_record(self, work: Work, write: Callable[[Work, Outcome], None]) -> None:
        if self.applier.fatal is not None or self.halted():
            return
        outcome = self.applier.apply(work)
        outcome.at = self.clock()
        write(work, outcome)
        with self._lock:
            self.counters.done += 1
            if outcome.status == Status.FAILURE:
                self.counters.failures += 1
                if outcome.escrow:
                    self.counters.escrowed += 1
            elif outcome.status == Status.SUCCESS and outcome.action != Action.OTHER:
                self.counters.exported += 1
