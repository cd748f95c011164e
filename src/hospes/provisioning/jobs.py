"""Jobs of the provisioning facade: create, list, delete, settings, secrets, the schema and the status.

Return values are plain dicts shaped like the Graph resources (``synchronizationJob``, ``synchronizationStatus``,
``synchronizationSchema``), so a router only serializes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hospes.digits import ascii_int
from hospes.domain.cross_tenant import CROSS_TENANT_SYNC_TEMPLATE
from hospes.domain.errors import ConflictError, InvalidInputError
from hospes.domain.principals import Principal
from hospes.domain.provisioning import RUNNING_CODES, JobCode
from hospes.provisioning.credentials import JOB_SETTINGS, JobConfig, normalize_secrets, seal, unseal
from hospes.provisioning.facade import FacadeBase, iso
from hospes.provisioning.schema import CROSS_TENANT_TEMPLATE, compile_schema, default_schema, merge_schema
from hospes.provisioning.ssrf import OutboundBlockedError, OutboundPolicy
from hospes.storage.tables_provisioning import ProvisionedObject, ProvisioningJob, ProvisioningSecrets

TEMPLATES = ("scim", CROSS_TENANT_TEMPLATE)


def offered_templates(application_template_id: str | None) -> tuple[str, ...]:
    """The synchronization templates an app offers, as Graph lists them: the cross-tenant synchronization
    configuration (made from its gallery template) offers ``Azure2Azure``, any other app the generic SCIM one."""
    if application_template_id == CROSS_TENANT_SYNC_TEMPLATE:
        return (CROSS_TENANT_TEMPLATE,)
    return ("scim",)


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


class Jobs(FacadeBase):
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
                schema=default_schema(job_id, template_id),
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
            if name != "PatchCompatibility" and value and ascii_int(value) is None:
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

    def saved_secrets(self, tenant_id: str, sp_id: str) -> dict[str, str]:
        """The current synchronization secrets of an app of this tenant, for the portal's Provisioning screen,
        which lets an admin change the notification email without typing the secret token again (``put_secrets``
        replaces the whole set). Never rendered into a page; empty for another tenant's app."""
        with self.sessions() as session:
            row = session.get(ProvisioningSecrets, sp_id)
            if row is None or row.tenant_id != tenant_id:
                return {}
            return unseal(self.box, sp_id, row.sealed)

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
            self._store_schema(job, merged, op.now)
            op.target("ServicePrincipal", sp_id)
            op.details.update(jobId=job_id)

    def reset_schema(self, tenant_id: str, sp_id: str, job_id: str, *, actor: Principal | None = None) -> None:
        with self._services(tenant_id, actor).write("ProvisioningManagement", "Restore default mappings") as op:
            job = self._job(op.session, tenant_id, sp_id, job_id, lock=True)
            self._store_schema(job, default_schema(job.id, job.template_id), op.now)
            op.target("ServicePrincipal", sp_id)

    def template(self, template_id: str) -> dict[str, Any]:
        """The ``synchronizationSchema`` a new job of the template starts with."""
        if template_id not in TEMPLATES:
            raise InvalidInputError(f"Unknown synchronization template '{template_id}'.", target="templateId")
        return default_schema(template_id, template_id)

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
                    "progressObservationDateTime": iso(job.updated_at),
                    # Hospes additions: object-accurate rate and time left of the current cycle.
                    "ratePerSecond": round(progress.rate, 2),
                    "estimatedSecondsLeft": None if progress.eta_seconds is None else round(progress.eta_seconds, 1),
                    "cycleKind": job.cycle_kind,
                    "cycleId": job.cycle_id,
                }
            ],
            "quarantine": job.quarantine,
            "steadyStateFirstAchievedTime": iso(job.steady_first_at) or "0001-01-01T00:00:00Z",
            "steadyStateLastAchievedTime": iso(job.steady_last_at) or "0001-01-01T00:00:00Z",
            "synchronizedEntryCountByType": [
                {"key": "User", "value": int(counts.get("user", 0))},
                {"key": "Group", "value": int(counts.get("group", 0))},
            ],
            "countEscrowed": int(escrowed or 0),
            "troubleshootingUrl": None,
        }
