"""the gallery template a service principal was made from (Graph's applicationTemplateId)

The synchronization templates an app offers follow from it: the cross-tenant synchronization configuration offers
Azure2Azure, other apps the generic SCIM template.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_principals") as batch:
        batch.add_column(sa.Column("application_template_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_principals") as batch:
        batch.drop_column("application_template_id")
