"""a version per tenant of its conditional-access policies and named locations

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every process keeps its tenants' policies compiled; this number, moved in the transaction of every policy or
    # named-location write, tells each of them when to compile again. No row reads as version 0.
    op.create_table(
        "access_rules_versions",
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("access_rules_versions")
