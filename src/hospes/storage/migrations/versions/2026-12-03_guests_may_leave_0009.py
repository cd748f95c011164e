"""whether a tenant lets its guests leave it

The guest's account page offers "Leave organization" when the tenant allows it (on by default, as for a new
Entra tenant's external collaboration settings).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("guest_access_policies") as batch:
        batch.add_column(sa.Column("allow_guests_to_leave", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("guest_access_policies") as batch:
        batch.drop_column("allow_guests_to_leave")
