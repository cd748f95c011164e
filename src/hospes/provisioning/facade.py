"""What the parts of ``ProvisioningService`` share: its dependencies and the tenant-checked lookups.

Every method of the facade takes the tenant id first and reaches the service principal and the job through
``_sp`` and ``_job``, which answer ``NotFoundError`` for another tenant's objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.domain.clock import Clock, utcnow
from hospes.domain.errors import NotFoundError
from hospes.domain.principals import Principal, system_principal
from hospes.provisioning.applier import ConnectorFactory
from hospes.provisioning.credentials import JobConfig, unseal
from hospes.provisioning.engine import Engine
from hospes.services.base import Services
from hospes.settings import Settings
from hospes.storage.tables import ServicePrincipal
from hospes.storage.tables_provisioning import ProvisioningJob, ProvisioningSecrets


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@dataclass
class FacadeBase:
    sessions: sessionmaker[Session]
    settings: Settings
    box: SecretBox
    connector_factory: ConnectorFactory | None = None
    clock: Clock = utcnow
    sleep: Callable[[float], None] = time.sleep  # the engine's waits (a retried create's backoff)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = Engine(self.sessions, self.settings, self.box, self.connector_factory, self.clock, self.sleep)

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

    @staticmethod
    def _store_schema(job: ProvisioningJob, schema: dict[str, Any], now: datetime) -> None:
        """Save a validated schema: every object is evaluated again by a full cycle."""
        job.schema = schema
        job.full_pending, job.cycle_id = True, None
        job.updated_at = now
