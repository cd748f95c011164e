"""Runs of the provisioning facade: start, pause, restart, Test Connection, provision on demand and dry run.

On demand and dry runs go through the cycle's own code path (plan, apply, record), so what they show is what a
cycle would do; they never touch the job's state or its deletion threshold.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, update

from hospes.domain.errors import DomainError, InvalidInputError, NotFoundError
from hospes.domain.principals import Principal
from hospes.domain.provisioning import SENT_ACTIONS, Action, CycleKind, JobCode, Status
from hospes.provisioning.applier import Outcome, error_info, intro_steps
from hospes.provisioning.connector import ConnectorError
from hospes.provisioning.credentials import JobConfig, normalize_secrets
from hospes.provisioning.engine import Cycle
from hospes.provisioning.facade import FacadeBase
from hospes.provisioning.planner import Work
from hospes.provisioning.source import Directory
from hospes.storage.tables_provisioning import ProvisionedObject

RESET_SCOPES = ("None", "ConnectorDataStore", "Escrows", "Watermark", "QuarantineState", "Full", "ForceDeletes")
DEFAULT_RESTART = frozenset({"Watermark", "Escrows", "QuarantineState"})


class CredentialsRejectedError(DomainError):
    """validateCredentials: the target refused the credentials or is not usable."""

    code = "BadRequest"


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


class Runs(FacadeBase):
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
        """Test Connection: query the target for a user that cannot exist (expects 200 and no result).
        ``use_saved`` tests the saved secrets and ignores ``credentials``, as Entra does: merged, a saved token
        would go to whatever address the request names."""
        given = normalize_secrets(credentials) if credentials and not use_saved else {}
        with self.sessions() as session:
            self._sp(session, tenant_id, sp_id)
            saved = self._secrets(session, sp_id) if use_saved else {}
            job_settings: dict[str, str] = {}
            if job_id:
                job_settings = dict(self._job(session, tenant_id, sp_id, job_id).settings or {})
        config = JobConfig.build({**saved, **given}, job_settings, self.settings)
        config.source_tenant = tenant_id
        if not config.configured:
            raise InvalidInputError("BaseAddress is required.", target="BaseAddress")
        try:
            connector = self.engine.connector_factory(config)
        except ConnectorError as exc:
            raise CredentialsRejectedError(exc.message, code=exc.error_code) from None
        try:
            connector.test()
        except ConnectorError as exc:
            raise CredentialsRejectedError(f"Test connection failed: {exc.message}", code=exc.error_code) from None
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
                    "status": Status.SKIPPED,
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
        summary = {str(action): 0 for action in SENT_ACTIONS}
        for work in works:
            summary[work.action] += 1
        deletes = summary[Action.DISABLE] + summary[Action.DELETE]
        return {
            "summary": summary,
            "evaluated": len(users) + len(groups),
            "deletionThreshold": run.config.delete_threshold if run.config.delete_threshold_enabled else None,
            "wouldExceedDeletionThreshold": run.config.delete_threshold_enabled
            and deletes > run.config.delete_threshold,
            "actions": [w.describe() for w in works],
        }
