"""conditional access: policies and named locations

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hospes.storage.tables import JsonType, UtcDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(length=36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "conditional_access_policies",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _tenant(),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("template_id", sa.String(length=36), nullable=True),
        sa.Column("conditions", JsonType, nullable=False),
        sa.Column("grant_controls", JsonType, nullable=True),
        sa.Column("session_controls", JsonType, nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=True),
    )
    op.create_index(
        "ix_conditional_access_policies_tenant", "conditional_access_policies", ["tenant_id", "created_at", "id"]
    )
    op.create_table(
        "named_locations",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _tenant(),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("is_trusted", sa.Boolean(), nullable=False),
        sa.Column("definition", JsonType, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_named_locations_tenant", "named_locations", ["tenant_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_named_locations_tenant", table_name="named_locations")
    op.drop_table("named_locations")
    op.drop_index("ix_conditional_access_policies_tenant", table_name="conditional_access_policies")
    op.drop_table("conditional_access_policies")
