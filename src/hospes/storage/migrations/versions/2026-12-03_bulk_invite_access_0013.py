"""the groups and app roles a bulk invite adds its guests to

An upload may name groups and app roles; the worker adds each row's guest to them in the row's invitation
transaction, so they are kept with the job (NULL: none).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("bulk_invite_jobs") as batch:
        batch.add_column(sa.Column("access", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bulk_invite_jobs") as batch:
        batch.drop_column("access")
