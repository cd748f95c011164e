"""at most one live server key per purpose

Two server processes starting on a new database both found no keys and both created them; each then used its own
JWT key, so a token issued by one was refused by the other. A partial unique index makes the second insert fail
(the loser re-reads the winner's keys). Databases where the race already happened keep the oldest live key of each
purpose; the others are retired.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    keys = sa.table(
        "signing_keys",
        sa.column("kid", sa.String),
        sa.column("purpose", sa.String),
        sa.column("created_at", sa.DateTime),
        sa.column("retired_at", sa.DateTime),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(keys.c.kid, keys.c.purpose).where(keys.c.retired_at.is_(None)).order_by(keys.c.created_at, keys.c.kid)
    ).all()
    kept: set[str] = set()
    for kid, purpose in rows:
        if purpose in kept:
            bind.execute(keys.update().where(keys.c.kid == kid).values(retired_at=sa.func.current_timestamp()))
        kept.add(purpose)
    op.create_index(
        "uq_signing_keys_live_purpose",
        "signing_keys",
        ["purpose"],
        unique=True,
        sqlite_where=sa.text("retired_at IS NULL"),
        postgresql_where=sa.text("retired_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_signing_keys_live_purpose", table_name="signing_keys")
