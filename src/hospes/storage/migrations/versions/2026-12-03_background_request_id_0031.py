"""the request behind background work: a bulk-invite job's upload and an outbox message's sender (log lines and
audit rows of the work carry its id)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("bulk_invite_jobs", "outbox_messages"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("request_id", sa.String(128), nullable=True))


def downgrade() -> None:
    for table in ("bulk_invite_jobs", "outbox_messages"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("request_id")
