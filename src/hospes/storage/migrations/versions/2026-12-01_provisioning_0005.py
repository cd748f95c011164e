"""provisioning engine (jobs, schema, object id map, escrow, logs)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from hospes.storage.tables import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provisioning_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=80), nullable=False),
        sa.Column("sp_id", sa.String(length=36), nullable=False),
        sa.Column("cycle_id", sa.String(length=36), nullable=False),
        sa.Column("change_id", sa.String(length=36), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_type", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("source_name", sa.String(length=256), nullable=True),
        sa.Column("target_id", sa.String(length=256), nullable=True),
        sa.Column(
            "steps", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "modified", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "error", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_logs")),
    )
    with op.batch_alter_table("provisioning_logs", schema=None) as batch_op:
        batch_op.create_index("ix_provisioning_logs_job_at", ["job_id", "at"], unique=False)
        batch_op.create_index("ix_provisioning_logs_tenant_at", ["tenant_id", "at", "id"], unique=False)
        batch_op.create_index("ix_provisioning_logs_tenant_source", ["tenant_id", "source_id"], unique=False)
        batch_op.create_index("ix_provisioning_logs_tenant_cycle", ["tenant_id", "cycle_id"], unique=False)

    op.create_table(
        "provisioning_jobs",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("sp_id", sa.String(length=36), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column(
            "schema", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "settings", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("full_pending", sa.Boolean(), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("force_deletes", sa.Boolean(), nullable=False),
        sa.Column("cycle_id", sa.String(length=36), nullable=True),
        sa.Column("cycle_kind", sa.String(length=16), nullable=True),
        sa.Column("cycle_started_at", UtcDateTime(), nullable=True),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column(
            "last_execution",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("last_success_at", UtcDateTime(), nullable=True),
        sa.Column("last_reconcile_at", UtcDateTime(), nullable=True),
        sa.Column("steady_first_at", UtcDateTime(), nullable=True),
        sa.Column("steady_last_at", UtcDateTime(), nullable=True),
        sa.Column(
            "quarantine", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("successive_failures", sa.Integer(), nullable=False),
        sa.Column("notified_reason", sa.String(length=64), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sp_id"],
            ["service_principals.id"],
            name=op.f("fk_provisioning_jobs_sp_id_service_principals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_provisioning_jobs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_jobs")),
    )
    with op.batch_alter_table("provisioning_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_provisioning_jobs_tenant_sp", ["tenant_id", "sp_id"], unique=False)

    op.create_table(
        "provisioning_secrets",
        sa.Column("sp_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sp_id"],
            ["service_principals.id"],
            name=op.f("fk_provisioning_secrets_sp_id_service_principals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_provisioning_secrets_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sp_id", name=op.f("pk_provisioning_secrets")),
    )
    with op.batch_alter_table("provisioning_secrets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provisioning_secrets_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "provisioned_objects",
        sa.Column("job_id", sa.String(length=80), nullable=False),
        sa.Column("source_type", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("target_id", sa.String(length=256), nullable=True),
        sa.Column("target_version", sa.String(length=128), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column(
            "exported", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "members", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("escrow_count", sa.Integer(), nullable=False),
        sa.Column("escrow_next_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["provisioning_jobs.id"],
            name=op.f("fk_provisioned_objects_job_id_provisioning_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "source_type", "source_id", name=op.f("pk_provisioned_objects")),
    )
    with op.batch_alter_table("provisioned_objects", schema=None) as batch_op:
        batch_op.create_index("ix_provisioned_objects_escrow", ["job_id", "escrow_next_at"], unique=False)
        batch_op.create_index("ix_provisioned_objects_target", ["job_id", "target_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("provisioned_objects", schema=None) as batch_op:
        batch_op.drop_index("ix_provisioned_objects_target")
        batch_op.drop_index("ix_provisioned_objects_escrow")

    op.drop_table("provisioned_objects")
    with op.batch_alter_table("provisioning_secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provisioning_secrets_tenant_id"))

    op.drop_table("provisioning_secrets")
    with op.batch_alter_table("provisioning_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_provisioning_jobs_tenant_sp")

    op.drop_table("provisioning_jobs")
    with op.batch_alter_table("provisioning_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_provisioning_logs_tenant_cycle")
        batch_op.drop_index("ix_provisioning_logs_tenant_source")
        batch_op.drop_index("ix_provisioning_logs_tenant_at")
        batch_op.drop_index("ix_provisioning_logs_job_at")

    op.drop_table("provisioning_logs")
