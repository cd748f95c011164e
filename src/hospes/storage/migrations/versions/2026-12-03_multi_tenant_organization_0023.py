"""multitenant organizations and their member tenants

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hospes.storage.tables import UtcDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "multi_tenant_organizations",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "multi_tenant_organization_members",
        sa.Column("tenant_id", sa.String(length=36), primary_key=True),
        sa.Column(
            "organization_id",
            sa.String(length=36),
            sa.ForeignKey("multi_tenant_organizations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("added_by_tenant_id", sa.String(length=36), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("joined_at", UtcDateTime(), nullable=True),
    )
    op.create_index(
        "ix_multi_tenant_organization_members_organization_id",
        "multi_tenant_organization_members",
        ["organization_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_multi_tenant_organization_members_organization_id", "multi_tenant_organization_members")
    op.drop_table("multi_tenant_organization_members")
    op.drop_table("multi_tenant_organizations")
