"""refresh tokens remember whether a public client obtained them

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing tokens count as confidential: an app that is public as a whole still refreshes without a secret.
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.add_column(sa.Column("public_client", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("public_client")
