"""cross-tenant access settings: the tenant's policy and default configuration, partner configurations with
automatic redemption and identity synchronization

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from hospes.storage.tables import UtcDateTime

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cross_tenant_policies",
        sa.Column("tenant_id", sa.String(length=36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("allowed_cloud_endpoints", _JSON, nullable=False),
        sa.Column("default_config", _JSON, nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "cross_tenant_partners",
        sa.Column("tenant_id", sa.String(length=36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("partner_tenant_id", sa.String(length=36), primary_key=True),
        sa.Column("settings", _JSON, nullable=False),
        sa.Column("inbound_auto_redeem", sa.Boolean(), nullable=True),
        sa.Column("outbound_auto_redeem", sa.Boolean(), nullable=True),
        sa.Column("sync_policy", sa.Boolean(), nullable=False),
        sa.Column("sync_display_name", sa.String(length=256), nullable=True),
        sa.Column("sync_inbound_allowed", sa.Boolean(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cross_tenant_partners")
    op.drop_table("cross_tenant_policies")
