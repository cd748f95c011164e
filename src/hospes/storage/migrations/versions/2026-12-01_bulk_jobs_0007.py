"""durable bulk-invite jobs of the admin portal

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from hospes.storage.tables import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "bulk_invite_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_by_name", sa.String(length=256), nullable=False),
        sa.Column("active_owner", sa.String(length=36), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bulk_invite_jobs_tenant_created", "bulk_invite_jobs", ["tenant_id", "created_at"])
    op.create_index("ix_bulk_invite_jobs_status", "bulk_invite_jobs", ["status", "lease_until"])
    op.create_index("ux_bulk_invite_jobs_active", "bulk_invite_jobs", ["tenant_id", "active_owner"], unique=True)
    op.create_table(
        "bulk_invite_rows",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("invitation_status", sa.String(length=32), nullable=True),
        sa.Column("redeem_url_sealed", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["bulk_invite_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "row_no"),
    )
    op.create_index("ix_bulk_invite_rows_status", "bulk_invite_rows", ["job_id", "status", "row_no"])


def downgrade() -> None:
    op.drop_index("ix_bulk_invite_rows_status", table_name="bulk_invite_rows")
    op.drop_table("bulk_invite_rows")
    op.drop_index("ux_bulk_invite_jobs_active", table_name="bulk_invite_jobs")
    op.drop_index("ix_bulk_invite_jobs_status", table_name="bulk_invite_jobs")
    op.drop_index("ix_bulk_invite_jobs_tenant_created", table_name="bulk_invite_jobs")
    op.drop_table("bulk_invite_jobs")
