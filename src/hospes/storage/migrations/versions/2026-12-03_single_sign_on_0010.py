"""single sign-on: relying-party registration, SAML settings, certificates, consent, codes, refresh tokens,
session participants and the sign-in log

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from hospes.storage.tables import UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _fk(table: str, column: str, target: str) -> sa.ForeignKey:
    referred = target.split(".")[0]
    return sa.ForeignKey(target, ondelete="CASCADE", name=op.f(f"fk_{table}_{column}_{referred}"))


def _tenant(table: str) -> "sa.Column[str]":
    return sa.Column("tenant_id", sa.String(36), _fk(table, "tenant_id", "tenants.id"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("spa_redirect_uris", JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("public_client_redirect_uris", JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("logout_url", sa.String(1024), nullable=True))
        batch.add_column(sa.Column("identifier_uris", JSON, nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("is_fallback_public_client", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("group_membership_claims", sa.String(64), nullable=True))
        batch.add_column(sa.Column("id_token_issuance", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("access_token_issuance", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("required_resource_access", JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("oauth2_permission_scopes", JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("optional_claims", JSON, nullable=True))
    with op.batch_alter_table("service_principals") as batch:
        batch.add_column(sa.Column("logout_url", sa.String(1024), nullable=True))
        batch.add_column(sa.Column("preferred_single_sign_on_mode", sa.String(16), nullable=True))
        batch.add_column(sa.Column("saml_single_sign_on_settings", JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("preferred_token_signing_key_thumbprint", sa.String(40), nullable=True))
        batch.add_column(sa.Column("saml_options", JSON, nullable=False, server_default="{}"))
    # A session's public id; existing sessions take their (already random, already unique) row key.
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("sid", sa.String(64), nullable=True))
    op.execute("UPDATE web_sessions SET sid = token_hash")
    with op.batch_alter_table("web_sessions") as batch:
        batch.alter_column("sid", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_web_sessions_sid", ["sid"])

    op.create_table(
        "key_credentials",
        sa.Column("key_id", sa.String(36), primary_key=True),
        _tenant("key_credentials"),
        sa.Column(
            "application_id", sa.String(36), _fk("key_credentials", "application_id", "applications.id"), nullable=True
        ),
        sa.Column(
            "service_principal_id",
            sa.String(36),
            _fk("key_credentials", "service_principal_id", "service_principals.id"),
            nullable=True,
        ),
        sa.Column("purpose", sa.String(24), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("usage", sa.String(8), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=True),
        sa.Column("custom_key_identifier", sa.String(128), nullable=True),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("thumbprint", sa.String(40), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=True),
        sa.Column("start_at", UtcDateTime(), nullable=False),
        sa.Column("end_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_key_credentials_application", "key_credentials", ["application_id"])
    op.create_index("ix_key_credentials_service_principal", "key_credentials", ["service_principal_id"])

    op.create_table(
        "oauth2_permission_grants",
        sa.Column("id", sa.String(64), primary_key=True),
        _tenant("oauth2_permission_grants"),
        sa.Column(
            "client_id",
            sa.String(36),
            _fk("oauth2_permission_grants", "client_id", "service_principals.id"),
            nullable=False,
        ),
        sa.Column("consent_type", sa.String(16), nullable=False),
        sa.Column("principal_id", sa.String(36), nullable=True),
        sa.Column(
            "resource_id",
            sa.String(36),
            _fk("oauth2_permission_grants", "resource_id", "service_principals.id"),
            nullable=False,
        ),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_oauth2_permission_grants_client", "oauth2_permission_grants", ["tenant_id", "client_id", "resource_id"]
    )

    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        _tenant("authorization_codes"),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(512), nullable=True),
        sa.Column("code_challenge", sa.String(128), nullable=True),
        sa.Column("auth_time", UtcDateTime(), nullable=False),
        sa.Column("amr", JSON, nullable=False),
        sa.Column("family_id", sa.String(36), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_authorization_codes_expires", "authorization_codes", ["expires_at"])

    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        _tenant("refresh_tokens"),
        sa.Column("family_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("sid", sa.String(64), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("auth_time", UtcDateTime(), nullable=False),
        sa.Column("amr", JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_user", "refresh_tokens", ["tenant_id", "user_id"])
    op.create_index("ix_refresh_tokens_expires", "refresh_tokens", ["expires_at"])

    op.create_table(
        "sso_participants",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("app_id", sa.String(36), primary_key=True),
        sa.Column("protocol", sa.String(8), primary_key=True),
        _tenant("sso_participants"),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("name_id", sa.String(512), nullable=True),
        sa.Column("name_id_format", sa.String(128), nullable=True),
        sa.Column("session_index", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_sso_participants_tenant_user", "sso_participants", ["tenant_id", "user_id"])

    op.create_table(
        "sign_ins",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant("sign_ins"),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("user_principal_name", sa.String(1024), nullable=True),
        sa.Column("user_display_name", sa.String(256), nullable=True),
        sa.Column("user_type", sa.String(16), nullable=True),
        sa.Column("home_tenant_id", sa.String(36), nullable=True),
        sa.Column("app_id", sa.String(36), nullable=True),
        sa.Column("app_display_name", sa.String(256), nullable=True),
        sa.Column("resource_display_name", sa.String(256), nullable=True),
        sa.Column("protocol", sa.String(24), nullable=False),
        sa.Column("is_interactive", sa.Boolean(), nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("correlation_id", sa.String(64), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("conditional_access_status", sa.String(16), nullable=False),
        sa.Column("details", JSON, nullable=False),
    )
    op.create_index("ix_sign_ins_tenant_created", "sign_ins", ["tenant_id", "created_at", "id"])
    op.create_index("ix_sign_ins_tenant_user", "sign_ins", ["tenant_id", "user_id"])


def downgrade() -> None:
    for table in (
        "sign_ins",
        "sso_participants",
        "refresh_tokens",
        "authorization_codes",
        "oauth2_permission_grants",
        "key_credentials",
    ):
        op.drop_table(table)
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_constraint("uq_web_sessions_sid", type_="unique")
        batch.drop_column("sid")
    with op.batch_alter_table("service_principals") as batch:
        for column in (
            "saml_options",
            "preferred_token_signing_key_thumbprint",
            "saml_single_sign_on_settings",
            "preferred_single_sign_on_mode",
            "logout_url",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("applications") as batch:
        for column in (
            "optional_claims",
            "oauth2_permission_scopes",
            "required_resource_access",
            "access_token_issuance",
            "id_token_issuance",
            "group_membership_claims",
            "is_fallback_public_client",
            "identifier_uris",
            "logout_url",
            "public_client_redirect_uris",
            "spa_redirect_uris",
        ):
            batch.drop_column(column)
