"""fleet coordination: scheduler leases, the provisioning lease epoch, the secret-key canary

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hospes.storage.tables import UtcDateTime

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("next_run_at", UtcDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("last_run_at", UtcDateTime(), nullable=True),
        sa.Column("last_owner", sa.String(64), nullable=True),
        sa.Column("last_error", sa.String(2000), nullable=True),
    )
    op.create_table(
        "secret_canary",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    with op.batch_alter_table("provisioning_jobs") as batch:
        batch.add_column(sa.Column("lease_epoch", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("provisioning_jobs") as batch:
        batch.drop_column("lease_epoch")
    op.drop_table("secret_canary")
    op.drop_table("scheduler_leases")
