"""sign-in log: a retention per tenant, and indexes that keep every page of a filtered listing as fast as the first

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A listing is newest first with the id as tie-breaker in the same direction, interactive sign-ins unless the filter
# says otherwise: each index leads with what a filter pins (equality), then isInteractive, then the keyset, so a
# page starts with a seek wherever it is in the log.
_INDEXES = {
    "ix_sign_ins_tenant_interactive_created": ["tenant_id", "is_interactive", "created_at", "id"],
    "ix_sign_ins_tenant_user_created": ["tenant_id", "user_id", "is_interactive", "created_at", "id"],
    "ix_sign_ins_tenant_app_created": ["tenant_id", "app_id", "is_interactive", "created_at", "id"],
    "ix_sign_ins_tenant_error_created": ["tenant_id", "error_code", "is_interactive", "created_at", "id"],
    "ix_sign_ins_tenant_access_created": [
        "tenant_id",
        "conditional_access_status",
        "is_interactive",
        "created_at",
        "id",
    ],
}


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("sign_in_retention_days", sa.Integer(), nullable=True))  # None: the default
    op.drop_index("ix_sign_ins_tenant_user", table_name="sign_ins")
    for name, columns in _INDEXES.items():
        op.create_index(name, "sign_ins", columns)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="sign_ins")
    op.create_index("ix_sign_ins_tenant_user", "sign_ins", ["tenant_id", "user_id"])
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("sign_in_retention_days")
