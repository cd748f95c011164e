"""cross-tenant synchronization: the anchor of a synchronized user (alternativeSecurityIds), unique per tenant

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("alt_sec_id", sa.String(length=128), nullable=True))
    op.create_index("uq_users_tenant_alt_sec_id", "users", ["tenant_id", "alt_sec_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_tenant_alt_sec_id", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("alt_sec_id")
