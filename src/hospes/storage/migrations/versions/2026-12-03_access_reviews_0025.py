"""access reviews, app owners, sign-in activity, guest lifecycle

Access review definitions, their instances, decision items and each item's reviewers; the owners of service
principals; why and when a guest will be blocked or deleted; a tenant's guest inactivity policy; and the two other
``signInActivity`` times of a user (the last non-interactive sign-in, the last successful one of either kind),
beside the last interactive sign-in of 0011.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from hospes.storage.tables import UtcDateTime

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _tenant() -> sa.Column[str]:
    return sa.Column(
        "tenant_id",
        sa.String(36),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("last_non_interactive_sign_in_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("last_successful_sign_in_at", UtcDateTime(), nullable=True))
    op.create_table(
        "access_review_definitions",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant(),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=False),
        sa.Column("next_start_at", UtcDateTime(), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_access_review_definitions_tenant", "access_review_definitions", ["tenant_id", "created_at", "id"]
    )
    op.create_table(
        "access_review_instances",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant(),
        sa.Column(
            "definition_id",
            sa.String(36),
            sa.ForeignKey("access_review_definitions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("start_at", UtcDateTime(), nullable=False),
        sa.Column("end_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=True),
        sa.Column("resource_type", sa.String(32), nullable=True),
        sa.Column("resource_name", sa.String(256), nullable=True),
        sa.Column("scope", JSON, nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("stage_end_at", UtcDateTime(), nullable=True),
        sa.Column("reminded_at", UtcDateTime(), nullable=True),
        sa.Column("applied_at", UtcDateTime(), nullable=True),
        sa.Column("apply_state", JSON, nullable=False),
    )
    op.create_index("ix_access_review_instances_tenant_id", "access_review_instances", ["tenant_id"])
    op.create_index("ix_access_review_instances_definition", "access_review_instances", ["definition_id", "start_at"])
    op.create_table(
        "access_review_items",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant(),
        sa.Column(
            "instance_id",
            sa.String(36),
            sa.ForeignKey("access_review_instances.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("principal_id", sa.String(36), nullable=False),
        sa.Column("principal_type", sa.String(32), nullable=False),
        sa.Column("principal_name", sa.String(256), nullable=True),
        sa.Column("principal_upn", sa.String(1024), nullable=True),
        sa.Column("resource_id", sa.String(36), nullable=True),
        sa.Column("resource_type", sa.String(32), nullable=True),
        sa.Column("resource_name", sa.String(256), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("reviewed_by", JSON, nullable=True),
        sa.Column("reviewed_at", UtcDateTime(), nullable=True),
        sa.Column("recommendation", sa.String(16), nullable=False),
        sa.Column("last_sign_in_at", UtcDateTime(), nullable=True),
        sa.Column("apply_result", sa.String(48), nullable=False),
        sa.Column("applied_by", JSON, nullable=True),
        sa.Column("applied_at", UtcDateTime(), nullable=True),
    )
    op.create_index(
        "ix_access_review_items_instance", "access_review_items", ["instance_id", "current", "stage", "principal_id"]
    )
    op.create_index("ix_access_review_items_principal", "access_review_items", ["tenant_id", "principal_id"])
    op.create_table(
        "access_review_item_reviewers",
        sa.Column(
            "item_id",
            sa.String(36),
            sa.ForeignKey("access_review_items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("reviewer_id", sa.String(36), primary_key=True),
        _tenant(),
        sa.Column(
            "instance_id",
            sa.String(36),
            sa.ForeignKey("access_review_instances.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("response", sa.String(16), nullable=True),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("responded_at", UtcDateTime(), nullable=True),
    )
    op.create_index(
        "ix_access_review_item_reviewers_reviewer",
        "access_review_item_reviewers",
        ["tenant_id", "reviewer_id", "instance_id"],
    )
    op.create_table(
        "service_principal_owners",
        sa.Column(
            "service_principal_id",
            sa.String(36),
            sa.ForeignKey("service_principals.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("owner_id", sa.String(36), primary_key=True),
        sa.Column("owner_type", sa.String(32), nullable=False),
        _tenant(),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_service_principal_owners_owner", "service_principal_owners", ["tenant_id", "owner_id"])
    op.create_table(
        "user_governance",
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        _tenant(),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("origin_id", sa.String(36), nullable=True),
        sa.Column("reason", sa.String(1024), nullable=True),
        sa.Column("blocked_at", UtcDateTime(), nullable=True),
        sa.Column("scheduled_deletion_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_user_governance_due", "user_governance", ["tenant_id", "scheduled_deletion_at"])
    op.create_table(
        "guest_lifecycle_policies",
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("block_after_days", sa.Integer(), nullable=False),
        sa.Column("delete_after_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "guest_lifecycle_policies",
        "user_governance",
        "service_principal_owners",
        "access_review_item_reviewers",
        "access_review_items",
        "access_review_instances",
        "access_review_definitions",
    ):
        op.drop_table(table)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_successful_sign_in_at")
        batch.drop_column("last_non_interactive_sign_in_at")
