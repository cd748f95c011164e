"""provisioning_jobs: the position in the target's change feed (drift repair of cross-tenant synchronization)

A cross-tenant job reads the changes its target made to the synchronized users (the other deployment's
``/users/delta``, or the target tenant's change log) from where it stopped: the position is kept with the job so
that a crash or a move to another worker neither loses it nor reads everything again.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("provisioning_jobs", sa.Column("drift_position", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provisioning_jobs") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("drift_position")
