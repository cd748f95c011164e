"""dynamic groups: membership rule and processing state on groups, processing status, per-tenant cursors

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hospes.storage.tables import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("membership_rule", sa.Text(), nullable=True))
        batch.add_column(sa.Column("membership_rule_processing_state", sa.String(length=16), nullable=True))
    op.create_table(
        "dynamic_group_processing",
        sa.Column("group_id", sa.String(length=36), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tenant_id", sa.String(length=36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("requested", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_membership_updated", UtcDateTime(), nullable=True),
        sa.Column("error", sa.String(length=1024), nullable=True),
    )
    op.create_index("ix_dynamic_group_processing_tenant", "dynamic_group_processing", ["tenant_id"])
    op.create_table(
        "dynamic_membership_cursors",
        sa.Column("tenant_id", sa.String(length=36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("dynamic_membership_cursors")
    op.drop_index("ix_dynamic_group_processing_tenant", table_name="dynamic_group_processing")
    op.drop_table("dynamic_group_processing")
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("membership_rule_processing_state")
        batch.drop_column("membership_rule")
