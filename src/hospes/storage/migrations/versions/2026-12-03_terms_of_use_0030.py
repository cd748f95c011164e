"""terms of use: agreements, their files per language, and each user's acceptance of each version

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hospes.storage.tables import JsonType, UtcDateTime

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def _agreement() -> sa.Column[str]:
    return sa.Column("agreement_id", sa.String(36), sa.ForeignKey("agreements.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant(),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("viewing_required", sa.Boolean(), nullable=False),
        sa.Column("per_device", sa.Boolean(), nullable=False),
        sa.Column("reaccept_days", sa.Integer(), nullable=True),
        sa.Column("expiration", JsonType, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_agreements_tenant", "agreements", ["tenant_id", "display_name", "id"])
    op.create_table(
        "agreement_files",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant(),
        _agreement(),
        sa.Column("file_name", sa.String(256), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("is_major_version", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_agreement_files_agreement", "agreement_files", ["agreement_id", "language"])
    op.create_table(
        "agreement_acceptances",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant(),
        _agreement(),
        sa.Column("agreement_file_id", sa.String(36), nullable=True),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("user_email", sa.String(256), nullable=True),
        sa.Column("user_principal_name", sa.String(1024), nullable=True),
        sa.Column("user_display_name", sa.String(256), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("agreement_id", "user_id", "version", name="uq_agreement_acceptances_user_version"),
    )
    op.create_index("ix_agreement_acceptances_user", "agreement_acceptances", ["tenant_id", "user_id"])
    op.create_index(
        "ix_agreement_acceptances_agreement", "agreement_acceptances", ["agreement_id", "recorded_at", "id"]
    )


def downgrade() -> None:
    op.drop_table("agreement_acceptances")
    op.drop_table("agreement_files")
    op.drop_table("agreements")
