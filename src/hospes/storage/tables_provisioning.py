"""Tables of the provisioning area (ORM models on the shared Base); created by migrations only.

* ``provisioning_jobs``: one job per service principal and template (``scim``): its schema, its secrets (one
  AES-GCM ciphertext, never returned), its state machine (``code``), watermark over the change log, progress of the
  running cycle, quarantine and last-execution counters.
* ``provisioned_objects``: the source-id -> target-id map, committed per object, with what was last exported (so an
  update PATCHes only what changed, and a resumed cycle repeats nothing), group members exported, and escrow.
* ``provisioning_logs``: one immutable row per object and action (Graph ``provisioningObjectSummary``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.domain.provisioning import JobCode
from hospes.storage.tables import Base, BigId, JsonType, UtcDateTime


class ProvisioningJob(Base):
    __tablename__ = "provisioning_jobs"
    __table_args__ = (Index("ix_provisioning_jobs_tenant_sp", "tenant_id", "sp_id"),)
    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # "scim.<32 hex>" like Entra's job ids
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    sp_id: Mapped[str] = mapped_column(ForeignKey("service_principals.id", ondelete="CASCADE"))
    template_id: Mapped[str] = mapped_column(String(64))
    schema: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # Graph synchronizationSchema
    settings: Mapped[dict[str, str]] = mapped_column(JsonType, default=dict)  # synchronizationJobSettings
    # NotRun | Active | Paused | Quarantine (NotConfigured is derived: no BaseAddress secret)
    code: Mapped[str] = mapped_column(String(16), default=JobCode.PAUSED)
    # A full cycle is owed (new job, restart, schema change); cleared when one completes.
    full_pending: Mapped[bool] = mapped_column(Boolean, default=True)
    watermark: Mapped[int] = mapped_column(BigInteger, default=0)  # change-log sequence fully processed
    # Cross-tenant jobs: where the next read of the target's change feed starts (drift repair); None: not read yet
    drift_position: Mapped[str | None] = mapped_column(Text)
    force_deletes: Mapped[bool] = mapped_column(Boolean, default=False)  # one-shot: apply held deletes
    cycle_id: Mapped[str | None] = mapped_column(String(36))
    cycle_kind: Mapped[str | None] = mapped_column(String(16))  # initial | incremental | reconcile
    cycle_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    last_execution: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_reconcile_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    steady_first_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    steady_last_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    quarantine: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # quarantine retry time
    successive_failures: Mapped[int] = mapped_column(Integer, default=0)
    notified_reason: Mapped[str | None] = mapped_column(String(64))  # quarantine reason already emailed
    lease_owner: Mapped[str | None] = mapped_column(String(64))  # runner holding the job (one at a time)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Raised by each claim: every write of the holder names it, so a runner whose lease was taken over writes nothing
    lease_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ProvisioningSecrets(Base):
    """The secrets of a service principal's synchronization (``PUT .../synchronization/secrets``): one
    ciphertext of the whole key/value dictionary, bound to the service principal id."""

    __tablename__ = "provisioning_secrets"
    sp_id: Mapped[str] = mapped_column(ForeignKey("service_principals.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    sealed: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ProvisionedObject(Base):
    __tablename__ = "provisioned_objects"
    __table_args__ = (
        Index("ix_provisioned_objects_escrow", "job_id", "escrow_next_at"),
        Index("ix_provisioned_objects_target", "job_id", "target_id"),
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("provisioning_jobs.id", ondelete="CASCADE"), primary_key=True)
    source_type: Mapped[str] = mapped_column(String(16), primary_key=True)  # user | group
    source_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    target_id: Mapped[str | None] = mapped_column(String(256))
    target_version: Mapped[str | None] = mapped_column(String(128))  # ETag of the last response, when offered
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | active | disabled | deleted
    display_name: Mapped[str | None] = mapped_column(String(256))
    exported: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # target path -> value last sent
    members: Mapped[list[str]] = mapped_column(JsonType, default=list)  # groups: source ids of exported members
    escrow_count: Mapped[int] = mapped_column(Integer, default=0)
    escrow_next_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ProvisioningLog(Base):
    __tablename__ = "provisioning_logs"
    __table_args__ = (
        Index("ix_provisioning_logs_tenant_at", "tenant_id", "at", "id"),
        Index("ix_provisioning_logs_job_at", "job_id", "at"),
        # auditLogs/provisioning filters on one object's history or one cycle
        Index("ix_provisioning_logs_tenant_source", "tenant_id", "source_id"),
        Index("ix_provisioning_logs_tenant_cycle", "tenant_id", "cycle_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    job_id: Mapped[str] = mapped_column(String(80))
    sp_id: Mapped[str] = mapped_column(String(36))
    cycle_id: Mapped[str] = mapped_column(String(36))
    change_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    action: Mapped[str] = mapped_column(String(16))  # create | update | disable | delete | stagedDelete | other
    status: Mapped[str] = mapped_column(String(16))  # success | failure | skipped | warning
    source_type: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(36))
    source_name: Mapped[str | None] = mapped_column(String(256))
    target_id: Mapped[str | None] = mapped_column(String(256))
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    modified: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    error: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
