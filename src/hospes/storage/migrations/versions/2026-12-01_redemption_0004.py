"""redemption pages (email one-time passcodes, consent, unsubscribe portal)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from hospes.storage.tables import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "guest_flows",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("flow_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("email", sa.String(length=256), nullable=False),
        sa.Column("invitation_id", sa.String(length=36), nullable=True),
        sa.Column("ticket_hash", sa.String(length=64), nullable=True),
        sa.Column("next_url", sa.String(length=2048), nullable=True),
        sa.Column("verified_method", sa.String(length=16), nullable=True),
        sa.Column("verified_at", UtcDateTime(), nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_guest_flows_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_guest_flows")),
        sa.UniqueConstraint("flow_id", name=op.f("uq_guest_flows_flow_id")),
    )
    with op.batch_alter_table("guest_flows", schema=None) as batch_op:
        batch_op.create_index("ix_guest_flows_expires", ["expires_at"], unique=False)

    op.create_table(
        "email_otp_codes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("flow_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("email_key", sa.String(length=256), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_otp_codes")),
    )
    with op.batch_alter_table("email_otp_codes", schema=None) as batch_op:
        batch_op.create_index("ix_email_otp_codes_email", ["email_key", "created_at"], unique=False)
        batch_op.create_index("ix_email_otp_codes_flow", ["flow_hash"], unique=False)

    op.create_table(
        "guest_access_policies",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("email_method_state", sa.String(length=16), nullable=False),
        sa.Column("allow_external_id_email_otp", sa.String(length=32), nullable=False),
        sa.Column("require_guest_mfa", sa.Boolean(), nullable=False),
        sa.Column("trust_home_mfa", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_guest_access_policies_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_guest_access_policies")),
    )
    op.create_table(
        "used_assertions",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_used_assertions")),
    )
    with op.batch_alter_table("used_assertions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_used_assertions_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("used_assertions")
    op.drop_table("guest_access_policies")
    op.drop_table("email_otp_codes")
    op.drop_table("guest_flows")
