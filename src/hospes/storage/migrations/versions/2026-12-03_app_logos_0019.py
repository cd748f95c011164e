"""application logos in their own table

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 12:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hospes.storage.tables import UtcDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_logos",
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_app_logos_application_id_applications",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_app_logos_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("application_id", name="pk_app_logos"),
    )
    op.create_index("ix_app_logos_tenant_id", "app_logos", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_app_logos_tenant_id", table_name="app_logos")
    op.drop_table("app_logos")
