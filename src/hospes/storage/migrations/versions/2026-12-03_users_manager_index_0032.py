"""users: an index on (tenant, manager), for a manager's direct reports

Every user synchronized into a tenant asks which of its source user's reports are already there (a manager
synchronized after its reports), and ``directReports`` and manager clean-up ask the same: without the index each
question read every user of the tenant, so a 25,000-user cycle grew quadratic.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03 16:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_users_tenant_manager", "users", ["tenant_id", "manager_id"])


def downgrade() -> None:
    op.drop_index("ix_users_tenant_manager", table_name="users")
