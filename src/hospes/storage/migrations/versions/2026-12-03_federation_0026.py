"""guests' own identity providers: SAML direct federation and OpenID Connect federation, with their domains

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hospes.storage.tables import JsonType, UtcDateTime

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(length=36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "external_identity_providers",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _tenant(),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("issuer", sa.String(length=2048), nullable=False),
        sa.Column("settings", JsonType, nullable=False),
        sa.Column("client_secret_sealed", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_external_identity_providers_tenant", "external_identity_providers", ["tenant_id", "created_at", "id"]
    )
    op.create_table(
        "external_federation_domains",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("domain", sa.String(length=253), primary_key=True),
        sa.Column(
            "provider_id",
            sa.String(length=36),
            sa.ForeignKey("external_identity_providers.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_index("ix_external_federation_domains_provider", "external_federation_domains", ["provider_id"])


def downgrade() -> None:
    op.drop_index("ix_external_federation_domains_provider", table_name="external_federation_domains")
    op.drop_table("external_federation_domains")
    op.drop_index("ix_external_identity_providers_tenant", table_name="external_identity_providers")
    op.drop_table("external_identity_providers")
