"""entitlement management: catalogs, resources, access packages and their role scopes, assignment policies,
connected organizations, subjects, requests with their approval stages, assignments, settings

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 13:00:20.817082
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from hospes.storage.tables import UtcDateTime

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "em_catalogs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("catalog_type", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("is_externally_visible", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_catalogs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_catalogs")),
    )
    with op.batch_alter_table("em_catalogs", schema=None) as batch_op:
        batch_op.create_index("ix_em_catalogs_tenant", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "em_connected_orgs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column(
            "identity_sources",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_connected_orgs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_connected_orgs")),
    )
    with op.batch_alter_table("em_connected_orgs", schema=None) as batch_op:
        batch_op.create_index("ix_em_connected_orgs_tenant", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "em_settings",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("lifecycle_action", sa.String(length=32), nullable=False),
        sa.Column("delete_after", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_settings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_em_settings")),
    )
    op.create_table(
        "em_subjects",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=True),
        sa.Column("email", sa.String(length=256), nullable=True),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("principal_name", sa.String(length=256), nullable=True),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("lifecycle", sa.String(length=16), nullable=False),
        sa.Column("connected_org_id", sa.String(length=36), nullable=True),
        sa.Column("home_tenant_id", sa.String(length=36), nullable=True),
        sa.Column(
            "identity",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_subjects_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_subjects")),
        sa.UniqueConstraint("tenant_id", "object_id", name="uq_em_subjects_object"),
    )
    with op.batch_alter_table("em_subjects", schema=None) as batch_op:
        batch_op.create_index("ix_em_subjects_email", ["tenant_id", "email"], unique=False)

    op.create_table(
        "em_org_sponsors",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["em_connected_orgs.id"],
            name=op.f("fk_em_org_sponsors_org_id_em_connected_orgs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_org_sponsors_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("org_id", "kind", "object_id", name=op.f("pk_em_org_sponsors")),
    )
    with op.batch_alter_table("em_org_sponsors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_em_org_sponsors_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "em_packages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("catalog_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_hidden", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["catalog_id"], ["em_catalogs.id"], name=op.f("fk_em_packages_catalog_id_em_catalogs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_packages_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_packages")),
    )
    with op.batch_alter_table("em_packages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_em_packages_catalog_id"), ["catalog_id"], unique=False)
        batch_op.create_index("ix_em_packages_tenant", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "em_resources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("catalog_id", sa.String(length=36), nullable=False),
        sa.Column("origin_id", sa.String(length=64), nullable=False),
        sa.Column("origin_system", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["catalog_id"], ["em_catalogs.id"], name=op.f("fk_em_resources_catalog_id_em_catalogs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_resources_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_resources")),
        sa.UniqueConstraint("catalog_id", "origin_id", name="uq_em_resources_origin"),
    )
    with op.batch_alter_table("em_resources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_em_resources_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "em_assignments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=True),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("target_user_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("start_at", UtcDateTime(), nullable=True),
        sa.Column("end_at", UtcDateTime(), nullable=True),
        sa.Column("expired_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["em_packages.id"],
            name=op.f("fk_em_assignments_package_id_em_packages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["em_subjects.id"],
            name=op.f("fk_em_assignments_subject_id_em_subjects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_assignments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_assignments")),
    )
    with op.batch_alter_table("em_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_em_assignments_package", ["tenant_id", "package_id", "state"], unique=False)
        batch_op.create_index("ix_em_assignments_target", ["tenant_id", "target_user_id", "state"], unique=False)

    op.create_table(
        "em_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("allowed_target_scope", sa.String(length=64), nullable=False),
        sa.Column(
            "settings", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("modified_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"], ["em_packages.id"], name=op.f("fk_em_policies_package_id_em_packages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_policies_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_policies")),
    )
    with op.batch_alter_table("em_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_em_policies_package_id"), ["package_id"], unique=False)
        batch_op.create_index("ix_em_policies_tenant", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "em_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=True),
        sa.Column("assignment_id", sa.String(length=36), nullable=True),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("request_type", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=128), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column(
            "answers", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "schedule", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("created_by_id", sa.String(length=64), nullable=True),
        sa.Column("created_by_name", sa.String(length=256), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["package_id"], ["em_packages.id"], name=op.f("fk_em_requests_package_id_em_packages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["em_subjects.id"], name=op.f("fk_em_requests_subject_id_em_subjects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_requests_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_requests")),
    )
    with op.batch_alter_table("em_requests", schema=None) as batch_op:
        batch_op.create_index("ix_em_requests_subject", ["tenant_id", "subject_id"], unique=False)
        batch_op.create_index("ix_em_requests_tenant", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "em_role_scopes",
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("origin_system", sa.String(length=32), nullable=False),
        sa.Column("origin_id", sa.String(length=64), nullable=False),
        sa.Column("role_origin_id", sa.String(length=80), nullable=False),
        sa.Column("role_name", sa.String(length=256), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["em_packages.id"],
            name=op.f("fk_em_role_scopes_package_id_em_packages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["em_resources.id"],
            name=op.f("fk_em_role_scopes_resource_id_em_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_role_scopes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("package_id", "id", name=op.f("pk_em_role_scopes")),
    )
    with op.batch_alter_table("em_role_scopes", schema=None) as batch_op:
        batch_op.create_index("ix_em_role_scopes_origin", ["tenant_id", "origin_id"], unique=False)

    op.create_table(
        "em_approval_stages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("stage_no", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("review_result", sa.String(length=16), nullable=False),
        sa.Column("reviewed_by_id", sa.String(length=36), nullable=True),
        sa.Column("reviewed_by_name", sa.String(length=256), nullable=True),
        sa.Column("reviewed_at", UtcDateTime(), nullable=True),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column(
            "approvers", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "escalation_approvers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["em_requests.id"],
            name=op.f("fk_em_approval_stages_request_id_em_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_em_approval_stages_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_em_approval_stages")),
    )
    with op.batch_alter_table("em_approval_stages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_em_approval_stages_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("em_approval_stages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_em_approval_stages_request_id"))

    op.drop_table("em_approval_stages")
    with op.batch_alter_table("em_role_scopes", schema=None) as batch_op:
        batch_op.drop_index("ix_em_role_scopes_origin")

    op.drop_table("em_role_scopes")
    with op.batch_alter_table("em_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_em_requests_tenant")
        batch_op.drop_index("ix_em_requests_subject")

    op.drop_table("em_requests")
    with op.batch_alter_table("em_policies", schema=None) as batch_op:
        batch_op.drop_index("ix_em_policies_tenant")
        batch_op.drop_index(batch_op.f("ix_em_policies_package_id"))

    op.drop_table("em_policies")
    with op.batch_alter_table("em_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_em_assignments_target")
        batch_op.drop_index("ix_em_assignments_package")

    op.drop_table("em_assignments")
    with op.batch_alter_table("em_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_em_resources_tenant_id"))

    op.drop_table("em_resources")
    with op.batch_alter_table("em_packages", schema=None) as batch_op:
        batch_op.drop_index("ix_em_packages_tenant")
        batch_op.drop_index(batch_op.f("ix_em_packages_catalog_id"))

    op.drop_table("em_packages")
    with op.batch_alter_table("em_org_sponsors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_em_org_sponsors_tenant_id"))

    op.drop_table("em_org_sponsors")
    with op.batch_alter_table("em_subjects", schema=None) as batch_op:
        batch_op.drop_index("ix_em_subjects_email")

    op.drop_table("em_subjects")
    op.drop_table("em_settings")
    with op.batch_alter_table("em_connected_orgs", schema=None) as batch_op:
        batch_op.drop_index("ix_em_connected_orgs_tenant")

    op.drop_table("em_connected_orgs")
    with op.batch_alter_table("em_catalogs", schema=None) as batch_op:
        batch_op.drop_index("ix_em_catalogs_tenant")

    op.drop_table("em_catalogs")
