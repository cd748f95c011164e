"""The provisioning facade for the Graph synchronization API and the ``hospes sync`` CLI (no HTTP here).

``ProvisioningService(sessions, settings, box)``; every method takes the tenant id and checks that the service
principal and the job belong to it. Return values are plain dicts shaped like the Graph resources
(``synchronizationJob``, ``synchronizationStatus``, ``synchronizationSchema``, ``provisioningObjectSummary``), so a
router only serializes them. Errors are ``hospes.domain.errors`` exceptions (NotFound, InvalidInput, Conflict).
Mutations are audited through ``Services.write`` (actor: the caller's principal, or the system).

Methods:
    create_job(tenant_id, sp_id, template_id="scim") -> job          list_jobs(tenant_id, sp_id) -> [job]
    get_job(tenant_id, sp_id, job_id) -> job                           delete_job(tenant_id, sp_id, job_id)
    update_job_settings(tenant_id, sp_id, job_id, [{name, value}]) -> job
    put_secrets(tenant_id, sp_id, secrets)      (write-only; ``secret_keys`` lists which keys are set)
    get_schema / replace_schema(tenant_id, sp_id, job_id, schema) / reset_schema
    start / pause(tenant_id, sp_id, job_id)     restart(tenant_id, sp_id, job_id, reset_scope)
    validate_credentials(tenant_id, sp_id, job_id=None, credentials=None, use_saved=True)
    provision_on_demand(tenant_id, sp_id, job_id, subjects=[(object_id, "User"|"Group")]) -> [result]
    dry_run(tenant_id, sp_id, job_id) -> {summary, actions}
    status(tenant_id, sp_id, job_id) -> synchronizationStatus
    logs(tenant_id, LogQuery) -> LogPage          get_log(tenant_id, log_id) -> provisioningObjectSummary
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.domain.clock import Clock, utcnow
from hospes.domain.errors import ConflictError, DomainError, InvalidInputError, NotFoundError
from hospes.domain.principals import Principal, system_principal
from hospes.domain.provisioning import RUNNING_CODES, Action, CycleKind, JobCode, Status
from hospes.provisioning.applier import ConnectorFactory, Outcome, error_info, intro_steps
from hospes.provisioning.connector import ConnectorError
from hospes.provisioning.credentials import JOB_SETTINGS, JobConfig, normalize_secrets, seal, unseal
from hospes.provisioning.engine import Cycle, Engine
from hospes.provisioning.planner import Work
from hospes.provisioning.schema import compile_schema, default_schema, merge_schema
from hospes.provisioning.source import Directory
from hospes.provisioning.ssrf import OutboundBlockedError, OutboundPolicy
from hospes.services.base import Services
from hospes.settings import Settings
from hospes.storage.tables import ServicePrincipal
from hospes.storage.tables_provisioning import (
    ProvisionedObject,
    ProvisioningJob,
    ProvisioningLog,
    ProvisioningSecrets,
)

TEMPLATES = ("scim",)
RESET_SCOPES = ("None", "ConnectorDataStore", "Escrows", "Watermark", "QuarantineState", "Full", "ForceDeletes")
DEFAULT_RESTART = frozenset({"Watermark", "Escrows", "QuarantineState"})
INITIATOR = {"id": "", "displayName": "Hospes Provisioning Service", "initiatorType": "system"}


class CredentialsRejectedError(DomainError):
    """validateCredentials: the target refused the credentials or is not usable."""

    code = "BadRequest"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def parse_reset_scope(value: str | Iterable[str] | None) -> frozenset[str]:
    """``"Watermark, Escrows"`` or a list; empty or None is the portal's "Restart provisioning"."""
    if value is None:
        return DEFAULT_RESTART
    items = [p.strip() for p in value.split(",")] if isinstance(value, str) else [str(v).strip() for v in value]
    found = {i for i in items if i}
    if not found:
        return DEFAULT_RESTART
    by_lower = {s.lower(): s for s in RESET_SCOPES}
    unknown = [i for i in found if i.lower() not in by_lower]
    if unknown:
        raise InvalidInputError(f"Unknown resetScope value: {', '.join(sorted(unknown))}.", target="resetScope")
    return frozenset(by_lower[i.lower()] for i in found)


@dataclass
class LogQuery:
    """Filters of ``GET /auditLogs/provisioning`` (the router turns ``$filter`` into these)."""

    since: datetime | None = None  # activityDateTime ge
    until: datetime | None = None  # activityDateTime le
    job_id: str | None = None
    cycle_id: str | None = None
    change_id: str | None = None
    action: str | None = None  # provisioningAction
    status: str | None = None  # provisioningStatusInfo/status
    identity_id: str | None = None  # sourceIdentity/id or targetIdentity/id
    identity_name: str | None = None  # sourceIdentity/displayName (contains, case-insensitive)
    identity_type: str | None = None  # User | Group
    # Graph $filter equalities: sourceIdentity/id, targetIdentity/id, sourceIdentity/displayName (any case).
    source_id: str | None = None
    target_id: str | None = None
    source_name: str | None = None
    sp_id: str | None = None
    top: int = 100
    after: str | None = None  # opaque cursor from a previous page (``LogPage.next``)


@dataclass
class LogPage:
    items: list[dict[str, Any]]
    next: str | None = None


@dataclass
class Progress:
    kind: str | None
    cycle_id: str | None
    done: int
    total: int
    rate: float  # objects per second
    eta_seconds: float | None
    started: datetime | None
    running: bool


@dataclass
class ProvisioningService:
    sessions: sessionmaker[Session]
    settings: Settings
    box: SecretBox
    connector_factory: ConnectorFactory | None = None
    clock: Clock = utcnow
    sleep: Callable[[float], None] = time.sleep  # the engine's waits (a retried create's backoff)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = Engine(self.sessions, self.settings, self.box, self.connector_factory, self.clock, self.sleep)

    # --- lookups ----------------------------------------------------------------------------------------

    def _services(self, tenant_id: str, actor: Principal | None) -> Services:
        return Services(self.sessions, actor or system_principal(tenant_id), self.clock)

    def _sp(self, session: Session, tenant_id: str, sp_id: str) -> ServicePrincipal:
        sp = session.scalar(
            select(ServicePrincipal).where(ServicePrincipal.tenant_id == tenant_id, ServicePrincipal.id == sp_id)
        )
        if sp is None:
            raise NotFoundError(sp_id)
        return sp

    def _job(self, session: Session, tenant_id: str, sp_id: str, job_id: str, lock: bool = False) -> ProvisioningJob:
        stmt = select(ProvisioningJob).where(
            ProvisioningJob.tenant_id == tenant_id, ProvisioningJob.sp_id == sp_id, ProvisioningJob.id == job_id
        )
        job = session.scalar(stmt.with_for_update() if lock else stmt)
        if job is None:
            raise NotFoundError(job_id)
        return job

    def _secrets(self, session: Session, sp_id: str) -> dict[str, str]:
        row = session.get(ProvisioningSecrets, sp_id)
        return unseal(self.box, sp_id, row.sealed if row is not None else None)

    def _config(self, session: Session, job: ProvisioningJob) -> JobConfig:
        return JobConfig.build(self._secrets(session, job.sp_id), dict(job.settings or {}), self.settings)

    # --- jobs -------------------------------------------------------------------------------------------

    def create_job(
        self, tenant_id: str, sp_id: str, template_id: str = "scim", *, actor: Principal | None = None
    ) -> dict[str, Any]:
        if template_id not in TEMPLATES:
            raise InvalidInputError(
                f"Unknown synchronization template '{template_id}'; supported: {', '.join(TEMPLATES)}.",
                target="templateId",
            )
        with self._services(tenant_id, actor).write("ProvisioningManagement", "Add provisioning job") as op:
            sp = self._sp(op.session, tenant_id, sp_id)
            exists = op.session.scalar(
                select(ProvisioningJob.id).where(
                    ProvisioningJob.tenant_id == tenant_id,
                    ProvisioningJob.sp_id == sp_id,
                    ProvisioningJob.template_id == template_id,
                )
            )
            if exists:
                raise ConflictError(f"The service principal already has a '{template_id}' job ({exists}).")
            job_id = f"{template_id}.{uuid.uuid4().hex}"
            job = ProvisioningJob(
                id=job_id,
                tenant_id=tenant_id,
                sp_id=sp.id,
                template_id=template_id,
                schema=default_schema(job_id),
                settings={},
                code=JobCode.NOT_RUN,
                full_pending=True,
                watermark=0,
                force_deletes=False,
                progress_done=0,
                progress_total=0,
                successive_failures=0,
                created_at=op.now,
                updated_at=op.now,
            )
            op.session.add(job)
            op.session.flush()
            op.target("ServicePrincipal", sp.id, sp.display_name)
            op.details.update(jobId=job_id, templateId=template_id)
            return self._job_json(op.session, job)

    def list_jobs(self, tenant_id: str, sp_id: str) -> list[dict[str, Any]]:
        with self.sessions() as session:
            self._sp(session, tenant_id, sp_id)
            jobs = session.scalars(
                select(ProvisioningJob)
                .where(ProvisioningJob.tenant_id == tenant_id, ProvisioningJob.sp_id == sp_id)
                .order_by(ProvisioningJob.created_at)
            )
            return [self._job_json(session, job) for job in jobs]

    def get_job(self, tenant_id: str, sp_id: str, job_id: str) -> dict[str, Any]:
        with self.sessions() as session:
            return self._job_json(session, self._job(session, tenant_id, sp_id, job_id))

    def tenant_jobs(self, tenant_id: str) -> list[tuple[str, str]]:
        """(service principal id, job id) of every job of a tenant (for the CLI)."""
        with self.sessions() as session:
            rows = session.execute(
                select(ProvisioningJob.sp_id, ProvisioningJob.id)
                .where(ProvisioningJob.tenant_id == tenant_id)
                .order_by(ProvisioningJob.created_at)
            )
            return [(sp, job) for sp, job in rows]

    def delete_job(self, tenant_id: str, sp_id: str, job_id: str, *, actor: Principal | None = None) -> None:
        with self._services(tenant_id, actor).write("ProvisioningManagement", "Delete provisioning job") as op:
            job = self._job(op.session, tenant_id, sp_id, job_id, lock=True)
            op.target("ServicePrincipal", sp_id)
            op.details.update(jobId=job_id)
            op.session.execute(delete(ProvisionedObject).where(ProvisionedObject.job_id == job.id))
            op.session.delete(job)

    def delete_synchronization(self, tenant_id: str, sp_id: str, *, actor: Principal | None = None) -> None:
        """``DELETE .../synchronization``: every job of the principal (with its target links) and its secrets, in
        one transaction, so a failure leaves the configuration whole."""
        with self._services(tenant_id, actor).write(
            "ProvisioningManagement", "Delete provisioning configuration"
        ) as op:
            sp = self._sp(op.session, tenant_id, sp_id)
            jobs = list(
                op.session.scalars(
                    select(ProvisioningJob)
                    .where(ProvisioningJob.tenant_id == tenant_id, ProvisioningJob.sp_id == sp.id)
                    .with_for_update()
                )
            )
            for job in jobs:
                op.session.execute(delete(ProvisionedObject).where(ProvisionedObject.job_id == job.id))
                op.session.delete(job)
            op.session.execute(delete(ProvisioningSecrets).where(ProvisioningSecrets.sp_id == sp.id))
            op.target("ServicePrincipal", sp.id, sp.display_name)
            op.details.update(jobIds=[job.id for job in jobs])

    def update_job_settings(
        self, tenant_id: str, sp_id: str, job_id: str, values: Any, *, actor: Principal | None = None
    ) -> dict[str, Any]:
        pairs: dict[str, str] = {}
        items = values if isinstance(values, list) else [{"name": k, "value": v} for k, v in dict(values).items()]
        for item in items:
            if not isinstance(item, dict) or "name" not in item:
                raise InvalidInputError(
                    "Job settings are a list of {name, value}.", target="synchronizationJobSettings"
                )
            name, value = str(item["name"]), "" if item.get("value") is None else str(item["value"])
            if name not in JOB_SETTINGS:
                raise InvalidInputError(f"Unknown job setting '{name}'.", target="synchronizationJobSettings")
            if name == "PatchCompatibility" and value.lower() not in ("rfc", "entra"):
                raise InvalidInputError("PatchCompatibility must be 'rfc' or 'entra'.", target=name)
            if name != "PatchCompatibility" and value and not value.isdigit():
                raise InvalidInputError(f"{name} must be a positive integer.", target=name)
            pairs[name] = value
        with self._services(tenant_id, actor).write("ProvisioningManagement", "Update provisioning setting") as op:
            job = self._job(op.session, tenant_id, sp_id, job_id, lock=True)
            job.settings = {**(job.settings or {}), **pairs}
            job.updated_at = op.now
            op.target("ServicePrincipal", sp_id)
            op.details.update(jobId=job_id, settings=sorted(pairs))
            return self._job_json(op.session, job)

    def _job_json(self, session: Session, job: ProvisioningJob) -> dict[str, Any]:
        config = self._config(session, job)
        code = self._code(job, config)
        return {
            "id": job.id,
            "templateId": job.template_id,
            "schedule": {
                "expiration": None,
                # Event-driven: changes flow within seconds; this is the reconciliation interval.
                "interval": f"PT{int(self.settings.provisioning_reconcile_seconds)}S",
                "state": "Active" if code in RUNNING_CODES else "Disabled",
            },
            "status": self._status(session, job, config),
            "synchronizationJobSettings": [
                {"name": name, "value": (job.settings or {}).get(name, default)}
                for name, default in JOB_SETTINGS.items()
            ],
        }

    # --- secrets ----------------------------------------------------------------------------------------

    def put_secrets(self, tenant_id: str, sp_id: str, values: Any, *, actor: Principal | None = None) -> None:
        """Replace the service principal's synchronization secrets. Encrypted at rest, never returned."""
        pairs = normalize_secrets(values)
        policy = OutboundPolicy.parse(self.settings.outbound_allow)
        for key in ("BaseAddress", "Oauth2TokenExchangeUri"):
            url = pairs.get(key, "").strip()
            if url:
                try:
                    policy.check_url(url)
                except OutboundBlockedError as exc:
                    raise InvalidInputError(f"{key}: {exc}", target=key) from None
        with self._services(tenant_id, actor).write(
            "ProvisioningManagement", "Update provisioning setting or credentials"
        ) as op:
            sp = self._sp(op.session, tenant_id, sp_id)
            row = op.session.get(ProvisioningSecrets, sp.id)
            if row is None:
                row = ProvisioningSecrets(sp_id=sp.id, tenant_id=tenant_id, sealed="")
                op.session.add(row)
            row.sealed = seal(self.box, sp.id, pairs)
            row.updated_at = op.now
            op.target("ServicePrincipal", sp.id, sp.display_name)
            op.details.update(keys=sorted(pairs))

    def secret_keys(self, tenant_id: str, sp_id: str) -> list[str]:
        with self.sessions() as session:
            self._sp(session, tenant_id, sp_id)
            return sorted(self._secrets(session, sp_id))

    # --- schema -----------------------------------------------------------------------------------------

    def get_schema(self, tenant_id: str, sp_id: str, job_id: str) -> dict[str, Any]:
        with self.sessions() as session:
            return dict(self._job(session, tenant_id, sp_id, job_id).schema)

    def replace_schema(
        self, tenant_id: str, sp_id: str, job_id: str, schema: dict[str, Any], *, actor: Principal | None = None
    ) -> None:
        """PUT (or the SDK's PATCH) of the whole schema: validated, then a full cycle re-evaluates everything."""
        with self._services(tenant_id, actor).write(
            "ProvisioningManagement", "Update attribute mappings or scope"
        ) as op:
            job = self._job(op.session, tenant_id, sp_id, job_id, lock=True)
            merged = merge_schema(job.schema, schema)
            merged["id"] = job.id
            compile_schema(merged)  # raises InvalidInputError with the first problem
            job.schema = merged
            job.full_pending, job.cycle_id = True, None
            job.updated_at = op.now
            op.target("ServicePrincipal", sp_id)
            op.details.update(jobId=job_id)

    def reset_schema(self, tenant_id: str, sp_id: str, job_id: str, *, actor: Principal | None = None) -> None:
        with self._services(tenant_id, actor).write("ProvisioningManagement", "Restore default mappings") as op:
            job = self._job(op.session, tenant_id, sp_id, job_id, lock=True)
            job.schema = default_schema(job.id)
            job.full_pending, job.cycle_id = True, None
            job.updated_at = op.now
            op.target("ServicePrincipal", sp_id)

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self, tenant_id: str, sp_id: str, job_id: str, *, actor: Principal | None = None) -> None:
        with self._services(tenant_id, actor).write("ProvisioningManagement", "Enable/start provisioning") as op:
            job = self._job(op.session, tenant_id, sp_id, job_id, lock=True)
            if not self._config(op.session, job).configured:
                raise InvalidInputError("Set the BaseAddress and SecretToken secrets before starting the job.")
            if job.code in (JobCode.NOT_RUN, JobCode.PAUSED):
                job.code = JobCode.ACTIVE
            job.next_attempt_at = None
            job.updated_at = op.now
            op.target("ServicePrincipal", sp_id)
            op.details.update(jobId=job_id)

    def pause(self, tenant_id: str, sp_id: str, job_id: str, *, actor: Principal | None = None) -> None:
        """Stops after the objects in flight; the watermark and links stay, ``start`` resumes."""
        with self._services(tenant_id, actor).write("ProvisioningManagement", "Disable/pause provisioning") as op:
            job = self._job(op.session, tenant_id, sp_id, job_id, lock=True)
            job.code = JobCode.PAUSED
            job.updated_at = op.now
            op.target("ServicePrincipal", sp_id)
            op.details.update(jobId=job_id)

    def restart(
        self,
        tenant_id: str,
        sp_id: str,
        job_id: str,
        reset_scope: str | Iterable[str] | None = None,
        *,
        actor: Principal | None = None,
    ) -> None:
        scopes = parse_reset_scope(reset_scope)
        if "Full" in scopes:
            scopes = scopes | {"Watermark", "Escrows", "QuarantineState", "ConnectorDataStore"}
        with self._services(tenant_id, actor).write("ProvisioningManagement", "Enable/restart provisioning") as op:
            job = self._job(op.session, tenant_id, sp_id, job_id, lock=True)
            if not self._config(op.session, job).configured:
                raise InvalidInputError("Set the BaseAddress and SecretToken secrets before restarting the job.")
            if "Watermark" in scopes or "ConnectorDataStore" in scopes:
                job.full_pending, job.cycle_id = True, None
            if "ConnectorDataStore" in scopes:
                # Break the source-target links; the next cycle matches every object again (no duplicates).
                op.session.execute(delete(ProvisionedObject).where(ProvisionedObject.job_id == job.id))
            elif "Escrows" in scopes:
                op.session.execute(
                    update(ProvisionedObject)
                    .where(ProvisionedObject.job_id == job.id)
                    .values(escrow_count=0, escrow_next_at=None, last_error=None)
                )
            if "QuarantineState" in scopes or "ForceDeletes" in scopes:
                job.quarantine, job.next_attempt_at, job.notified_reason = None, None, None
                job.successive_failures = 0
            if "ForceDeletes" in scopes:
                job.force_deletes = True
            if job.code in (JobCode.NOT_RUN, JobCode.PAUSED) or "QuarantineState" in scopes or "ForceDeletes" in scopes:
                job.code = JobCode.ACTIVE
            job.updated_at = op.now
            op.target("ServicePrincipal", sp_id)
            op.details.update(jobId=job_id, resetScope=sorted(scopes))

    # --- connection -------------------------------------------------------------------------------------

    def validate_credentials(
        self,
        tenant_id: str,
        sp_id: str,
        job_id: str | None = None,
        credentials: Any = None,
        use_saved: bool = True,
    ) -> None:
        """Test Connection: query the target for a user that cannot exist (expects 200 and no result)."""
        given = normalize_secrets(credentials) if credentials else {}
        with self.sessions() as session:
            self._sp(session, tenant_id, sp_id)
            saved = self._secrets(session, sp_id) if use_saved else {}
            job_settings: dict[str, str] = {}
            if job_id:
                job_settings = dict(self._job(session, tenant_id, sp_id, job_id).settings or {})
        config = JobConfig.build({**saved, **given}, job_settings, self.settings)
        if not config.configured:
            raise InvalidInputError("BaseAddress is required.", target="BaseAddress")
        try:
            connector = self.engine.connector_factory(config)
        except ConnectorError as exc:
            raise CredentialsRejectedError(
                exc.message, code=f"SystemForCrossDomainIdentityManagement{exc.code}"
            ) from None
        try:
            connector.test()
        except ConnectorError as exc:
            raise CredentialsRejectedError(
                f"Test connection failed: {exc.message}", code=f"SystemForCrossDomainIdentityManagement{exc.code}"
            ) from None
        finally:
            connector.close()

    # --- on demand and dry run --------------------------------------------------------------------------

    def _cycle(self, tenant_id: str, sp_id: str, job_id: str, kind: CycleKind) -> Cycle:
        with self.sessions() as session:
            self._job(session, tenant_id, sp_id, job_id)
        run = self.engine.open_cycle(job_id, kind)
        if not run.config.configured:
            raise InvalidInputError("Set the BaseAddress and SecretToken secrets first.")
        return run

    def provision_on_demand(
        self, tenant_id: str, sp_id: str, job_id: str, subjects: list[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """Provision the given users/groups now, through the cycle's code path; returns each one's steps
        (import, scoping, matching, action) and outcome. A group brings its in-scope members along."""
        if not subjects:
            raise InvalidInputError("At least one subject is required.", target="subjects")
        run = self._cycle(tenant_id, sp_id, job_id, CycleKind.ON_DEMAND)
        results: list[dict[str, Any]] = []
        try:
            for object_id, type_name in subjects:
                kind = str(type_name or "User").lower()
                if kind not in ("user", "group"):
                    raise InvalidInputError(f"objectTypeName must be User or Group, not '{type_name}'.")
                if kind == "group":
                    if run.schema.group is None or not run.schema.group.enabled:
                        raise InvalidInputError("The job's group mapping is disabled.")
                    with self.sessions() as session:
                        members = sorted(Directory(session, tenant_id).member_users([object_id]))
                    for work in run.plan_users(members) if members else []:
                        if work.action in (Action.CREATE, Action.UPDATE):
                            self._on_demand_one(run, work)
                    works = run.plan_groups([object_id])
                else:
                    works = run.plan_users([object_id])
                work = works[0]
                if work.source is None and work.state is None:
                    raise NotFoundError(object_id)
                results.append(self._on_demand_one(run, work))
        finally:
            run.close()
        return results

    def _on_demand_one(self, run: Cycle, work: Work) -> dict[str, Any]:
        started = time.monotonic()
        if work.action == Action.SKIP:
            outcome_steps = intro_steps(work)
            outcome_steps.append(
                {
                    "name": "EntrySynchronizationSkipped",
                    "provisioningStepType": "processing",
                    "status": "skipped",
                    "description": work.reason,
                    "details": {},
                }
            )
            outcome = Outcome(Action.OTHER, Status.SKIPPED, None, outcome_steps, [])
        else:
            try:
                run.applier.connect().discover()
                outcome = run.applier.apply(work)
            except ConnectorError as exc:
                steps = intro_steps(work)
                outcome = Outcome(work.action, Status.FAILURE, None, steps, [], error_info(exc, run.info.app_name))
        outcome.duration_ms = int((time.monotonic() - started) * 1000)
        run.journal.commit(work, outcome)
        return {
            "objectId": work.source_id,
            "objectTypeName": "User" if work.kind == "user" else "Group",
            "displayName": work.display,
            "action": outcome.action,
            "status": outcome.status,
            "targetId": outcome.state.target_id if outcome.state else (work.state.target_id if work.state else None),
            "provisioningSteps": outcome.steps,
            "modifiedProperties": outcome.modified,
            "errorInformation": outcome.error,
        }

    def dry_run(self, tenant_id: str, sp_id: str, job_id: str) -> dict[str, Any]:
        """What a full cycle would do now, without a single request to the target. Group member deltas assume
        the users as linked today (users the cycle would create are not counted as members yet)."""
        run = self._cycle(tenant_id, sp_id, job_id, CycleKind.DRY_RUN)
        users = run.plan_users(None)
        groups = run.plan_groups(None)
        works = [w for w in [*users, *groups] if w.action != Action.SKIP]
        summary = {str(action): 0 for action in (Action.CREATE, Action.UPDATE, Action.DISABLE, Action.DELETE)}
        for work in works:
            summary[work.action] = summary.get(work.action, 0) + 1
        deletes = summary["disable"] + summary["delete"]
        return {
            "summary": summary,
            "evaluated": len(users) + len(groups),
            "deletionThreshold": run.config.delete_threshold if run.config.delete_threshold_enabled else None,
            "wouldExceedDeletionThreshold": run.config.delete_threshold_enabled
            and deletes > run.config.delete_threshold,
            "actions": [w.describe() for w in works],
        }

    # --- status -----------------------------------------------------------------------------------------

    @staticmethod
    def _code(job: ProvisioningJob, config: JobConfig) -> str:
        if not config.configured:
            return JobCode.NOT_CONFIGURED
        return job.code

    def status(self, tenant_id: str, sp_id: str, job_id: str) -> dict[str, Any]:
        with self.sessions() as session:
            job = self._job(session, tenant_id, sp_id, job_id)
            return self._status(session, job, self._config(session, job))

    def progress(self, tenant_id: str, sp_id: str, job_id: str) -> Progress:
        with self.sessions() as session:
            return self._progress(self._job(session, tenant_id, sp_id, job_id))

    def _progress(self, job: ProvisioningJob) -> Progress:
        now = self.clock()
        running = bool(job.cycle_started_at) and job.progress_done < job.progress_total
        elapsed = (now - job.cycle_started_at).total_seconds() if job.cycle_started_at else 0.0
        rate = job.progress_done / elapsed if elapsed > 0 and job.progress_done else 0.0
        left = job.progress_total - job.progress_done
        eta = left / rate if rate > 0 and left > 0 else (0.0 if left <= 0 else None)
        return Progress(
            job.cycle_kind,
            job.cycle_id,
            job.progress_done,
            job.progress_total,
            rate,
            eta,
            job.cycle_started_at,
            running,
        )

    def _status(self, session: Session, job: ProvisioningJob, config: JobConfig) -> dict[str, Any]:
        counts = dict(
            session.execute(
                select(ProvisionedObject.source_type, func.count())
                .where(ProvisionedObject.job_id == job.id, ProvisionedObject.state.in_(("active", "disabled")))
                .group_by(ProvisionedObject.source_type)
            ).all()
        )
        escrowed = session.scalar(
            select(func.count()).where(
                ProvisionedObject.job_id == job.id, ProvisionedObject.escrow_next_at.is_not(None)
            )
        )
        progress = self._progress(job)
        last = job.last_execution
        exports = last if last and last.get("countExported") else None
        return {
            "code": self._code(job, config),
            "countSuccessiveCompleteFailures": job.successive_failures,
            "escrowsPruned": False,
            "lastExecution": last,
            "lastSuccessfulExecution": last if last and last.get("state") != "Failed" else None,
            "lastSuccessfulExecutionWithExports": exports if exports and exports.get("state") != "Failed" else None,
            "progress": []
            if job.cycle_started_at is None
            else [
                {
                    "completedUnits": progress.done,
                    "totalUnits": progress.total,
                    "units": "Objects",
                    "progressObservationDateTime": _iso(job.updated_at),
                    # Hospes additions: object-accurate rate and time left of the current cycle.
                    "ratePerSecond": round(progress.rate, 2),
                    "estimatedSecondsLeft": None if progress.eta_seconds is None else round(progress.eta_seconds, 1),
                    "cycleKind": job.cycle_kind,
                    "cycleId": job.cycle_id,
                }
            ],
            "quarantine": job.quarantine,
            "steadyStateFirstAchievedTime": _iso(job.steady_first_at) or "0001-01-01T00:00:00Z",
            "steadyStateLastAchievedTime": _iso(job.steady_last_at) or "0001-01-01T00:00:00Z",
            "synchronizedEntryCountByType": [
                {"key": "User", "value": int(counts.get("user", 0))},
                {"key": "Group", "value": int(counts.get("group", 0))},
            ],
            "countEscrowed": int(escrowed or 0),
            "troubleshootingUrl": None,
        }

    # --- logs -------------------------------------------------------------------------------------------

    def logs(self, tenant_id: str, query: LogQuery) -> LogPage:
        stmt = select(ProvisioningLog).where(ProvisioningLog.tenant_id == tenant_id)
        if query.since is not None:
            stmt = stmt.where(ProvisioningLog.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(ProvisioningLog.at <= query.until)
        for column, value in (
            (ProvisioningLog.job_id, query.job_id),
            (ProvisioningLog.cycle_id, query.cycle_id),
            (ProvisioningLog.change_id, query.change_id),
            (ProvisioningLog.action, query.action),
            (ProvisioningLog.status, query.status),
            (ProvisioningLog.sp_id, query.sp_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if query.identity_id is not None:
            stmt = stmt.where(
                or_(ProvisioningLog.source_id == query.identity_id, ProvisioningLog.target_id == query.identity_id)
            )
        if query.identity_name is not None:
            stmt = stmt.where(func.lower(ProvisioningLog.source_name).contains(query.identity_name.lower()))
        if query.source_id is not None:
            stmt = stmt.where(ProvisioningLog.source_id == query.source_id)
        if query.target_id is not None:
            stmt = stmt.where(ProvisioningLog.target_id == query.target_id)
        if query.source_name is not None:
            stmt = stmt.where(func.lower(ProvisioningLog.source_name) == query.source_name.lower())
        if query.identity_type is not None:
            stmt = stmt.where(ProvisioningLog.source_type == query.identity_type.lower())
        if query.after:
            try:
                at_text, _, id_text = query.after.partition("|")
                at, last_id = datetime.fromisoformat(at_text), int(id_text)
            except ValueError:
                raise InvalidInputError("Invalid paging cursor.", target="$skiptoken") from None
            stmt = stmt.where(
                or_(ProvisioningLog.at < at, and_(ProvisioningLog.at == at, ProvisioningLog.id < last_id))
            )
        top = max(1, min(query.top, 1000))
        with self.sessions() as session:
            rows = list(
                session.scalars(stmt.order_by(ProvisioningLog.at.desc(), ProvisioningLog.id.desc()).limit(top + 1))
            )
            names = self._sp_names(session, tenant_id, {r.sp_id for r in rows})
        more = len(rows) > top
        rows = rows[:top]
        items = [self._log_json(r, names) for r in rows]
        cursor = f"{rows[-1].at.isoformat()}|{rows[-1].id}" if more and rows else None
        return LogPage(items, cursor)

    def get_log(self, tenant_id: str, log_id: str) -> dict[str, Any]:
        try:
            key = int(log_id)
        except ValueError:
            raise NotFoundError(log_id) from None
        with self.sessions() as session:
            row = session.scalar(
                select(ProvisioningLog).where(ProvisioningLog.tenant_id == tenant_id, ProvisioningLog.id == key)
            )
            if row is None:
                raise NotFoundError(log_id)
            return self._log_json(row, self._sp_names(session, tenant_id, {row.sp_id}))

    @staticmethod
    def _sp_names(session: Session, tenant_id: str, ids: set[str]) -> dict[str, str]:
        if not ids:
            return {}
        rows = session.execute(
            select(ServicePrincipal.id, ServicePrincipal.display_name).where(
                ServicePrincipal.tenant_id == tenant_id, ServicePrincipal.id.in_(sorted(ids))
            )
        )
        return {sp_id: name for sp_id, name in rows}

    @staticmethod
    def _log_json(row: ProvisioningLog, names: dict[str, str]) -> dict[str, Any]:
        identity_type = "User" if row.source_type == "user" else "Group"
        app = names.get(row.sp_id, "")
        return {
            "id": str(row.id),
            "activityDateTime": _iso(row.at),
            "tenantId": row.tenant_id,
            "jobId": row.job_id,
            "cycleId": row.cycle_id,
            "changeId": row.change_id,
            "durationInMilliseconds": row.duration_ms,
            "initiatedBy": dict(INITIATOR),
            "provisioningAction": row.action,
            "provisioningStatusInfo": {"status": row.status, "errorInformation": row.error},
            "provisioningSteps": row.steps,
            "modifiedProperties": row.modified,
            "servicePrincipal": {"id": row.sp_id, "displayName": app},
            "sourceSystem": {"id": row.tenant_id, "displayName": "Hospes", "details": {}},
            "targetSystem": {"id": row.sp_id, "displayName": app, "details": {"ServicePrincipalId": row.sp_id}},
            "sourceIdentity": {
                "id": row.source_id,
                "displayName": row.source_name or "",
                "identityType": identity_type,
                "details": {},
            },
            "targetIdentity": {
                "id": row.target_id or "",
                "displayName": row.source_name if row.target_id else "",
                "identityType": identity_type,
                "details": {},
            },
        }
