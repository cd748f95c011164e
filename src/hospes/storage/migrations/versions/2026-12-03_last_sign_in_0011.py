"""when each user last signed in; an invitation's email found by the invitation

The portal's Users screen shows (and sorts on) a user's last interactive sign-in; it is written by the transaction
that opens the signed-in session, so reading it costs one column instead of a search of the audit log. A guest's
invitation history shows what became of each email, read from the outbox by the invitation's id.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hospes.storage.tables import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("last_sign_in_at", UtcDateTime(), nullable=True))
    op.create_index("ix_users_tenant_last_sign_in", "users", ["tenant_id", "last_sign_in_at", "id"])
    op.create_index("ix_outbox_messages_related", "outbox_messages", ["related_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_related", table_name="outbox_messages")
    op.drop_index("ix_users_tenant_last_sign_in", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_sign_in_at")
