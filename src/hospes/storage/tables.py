"""Directory tables. Every row of a tenant-owned table carries ``tenant_id``; repositories always filter on it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hospes.domain import alt_sec_id
from hospes.domain.clock import utcnow
from hospes.logs import current_request_id

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite has no BIGINT autoincrement; INTEGER PRIMARY KEY is its 64-bit rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are stored and returned as aware UTC datetimes, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(256))
    preferred_language: Mapped[str | None] = mapped_column(String(16))
    privacy_statement_url: Mapped[str | None] = mapped_column(String(255))
    privacy_contact_email: Mapped[str | None] = mapped_column(String(256))
    technical_notification_mails: Mapped[list[str]] = mapped_column(JsonType, default=list)
    country_letter_code: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sign_in_retention_days: Mapped[int | None] = mapped_column(Integer)  # None: SIGN_IN_RETENTION_DAYS


class Domain(Base):
    __tablename__ = "domains"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)  # lower-case; unique across tenants
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    is_initial: Mapped[bool] = mapped_column(Boolean, default=False)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "upn_key", name="uq_users_tenant_upn"),
        Index("ix_users_tenant_display", "tenant_id", "display_name", "id"),
        Index("ix_users_tenant_mail", "tenant_id", "mail_key"),
        Index("ix_users_tenant_deleted", "tenant_id", "deleted_at"),
        Index("ix_users_tenant_id", "tenant_id", "id"),  # default keyset order of a tenant's listing
        Index("ix_users_tenant_last_sign_in", "tenant_id", "last_sign_in_at", "id"),
        Index("ix_users_tenant_manager", "tenant_id", "manager_id"),  # direct reports
        # A user synchronized from another tenant: one per source user and target tenant.
        Index("uq_users_tenant_alt_sec_id", "tenant_id", "alt_sec_id", unique=True),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_principal_name: Mapped[str] = mapped_column(String(1024))
    upn_key: Mapped[str] = mapped_column(String(1024))  # lower-cased UPN: Graph compares it case-insensitively
    mail: Mapped[str | None] = mapped_column(String(256))
    mail_key: Mapped[str | None] = mapped_column(String(256))
    mail_nickname: Mapped[str | None] = mapped_column(String(64))
    other_mails: Mapped[list[str]] = mapped_column(JsonType, default=list)
    given_name: Mapped[str | None] = mapped_column(String(64))
    surname: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(256))
    job_title: Mapped[str | None] = mapped_column(String(128))
    department: Mapped[str | None] = mapped_column(String(64))
    company_name: Mapped[str | None] = mapped_column(String(64))
    office_location: Mapped[str | None] = mapped_column(String(128))
    business_phones: Mapped[list[str]] = mapped_column(JsonType, default=list)
    mobile_phone: Mapped[str | None] = mapped_column(String(64))
    preferred_language: Mapped[str | None] = mapped_column(String(16))
    employee_id: Mapped[str | None] = mapped_column(String(16))
    usage_location: Mapped[str | None] = mapped_column(String(2))
    account_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    show_in_address_list: Mapped[bool | None] = mapped_column(Boolean)
    user_type: Mapped[str] = mapped_column(String(16), default="Member")
    external_user_state: Mapped[str | None] = mapped_column(String(32))
    external_user_state_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    creation_type: Mapped[str | None] = mapped_column(String(32))
    identities: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    force_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    manager_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # signInActivity (interactive: pages or an app; non-interactive: token grants), outside the change log.
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_non_interactive_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_successful_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Cross-tenant synchronization's anchor (Graph alternativeSecurityIds): the source user's immutable id.
    alt_sec_id: Mapped[str | None] = mapped_column(String(128))

    @property
    def alternative_security_ids(self) -> list[dict[str, Any]]:
        """Graph's ``alternativeSecurityIds`` (filtered on ``alt_sec_id`` by ``storage/query.py``)."""
        return alt_sec_id.to_wire(self.alt_sec_id, self.identities)


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (
        Index("ix_groups_tenant_display", "tenant_id", "display_name", "id"),
        Index("ix_groups_tenant_deleted", "tenant_id", "deleted_at"),
        Index("ix_groups_tenant_id", "tenant_id", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(String(1024))
    mail_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    mail_nickname: Mapped[str] = mapped_column(String(64))
    mail: Mapped[str | None] = mapped_column(String(256))
    security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    group_types: Mapped[list[str]] = mapped_column(JsonType, default=list)
    visibility: Mapped[str | None] = mapped_column(String(16))
    membership_rule: Mapped[str | None] = mapped_column(Text)  # with groupTypes DynamicMembership
    membership_rule_processing_state: Mapped[str | None] = mapped_column(String(16))  # On | Paused
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class GroupMember(Base):
    """Members and owners of groups. ``member_type`` is the Graph type name of the member (user, group, ...)."""

    __tablename__ = "group_members"
    __table_args__ = (Index("ix_group_members_member", "tenant_id", "member_id"),)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    relation: Mapped[str] = mapped_column(String(8), primary_key=True)  # "member" | "owner"
    member_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    member_type: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (Index("ix_applications_tenant_display", "tenant_id", "display_name", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(String(36), unique=True)  # the OAuth client id
    display_name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(String(1024))
    sign_in_audience: Mapped[str] = mapped_column(String(64), default="AzureADMyOrg")
    app_roles: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    web_redirect_uris: Mapped[list[str]] = mapped_column(JsonType, default=list)
    # What a relying party registers: redirect URIs per platform (``web``, ``spa``, ``publicClient``), the
    # front-channel logout URL, the identifier URIs (also a SAML service provider's entity ids), the token options.
    spa_redirect_uris: Mapped[list[str]] = mapped_column(JsonType, default=list)
    public_client_redirect_uris: Mapped[list[str]] = mapped_column(JsonType, default=list)
    logout_url: Mapped[str | None] = mapped_column(String(1024))
    identifier_uris: Mapped[list[str]] = mapped_column(JsonType, default=list)
    is_fallback_public_client: Mapped[bool] = mapped_column(Boolean, default=False)
    group_membership_claims: Mapped[str | None] = mapped_column(String(64))  # None | SecurityGroup | All | ...
    id_token_issuance: Mapped[bool] = mapped_column(Boolean, default=False)  # web.implicitGrantSettings
    access_token_issuance: Mapped[bool] = mapped_column(Boolean, default=False)
    required_resource_access: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    oauth2_permission_scopes: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)  # api.*
    optional_claims: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ClientSecret(Base):
    __tablename__ = "client_secrets"
    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    display_name: Mapped[str | None] = mapped_column(String(256))
    hint: Mapped[str] = mapped_column(String(3))
    secret_hash: Mapped[str] = mapped_column(String(256))
    start_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ServicePrincipal(Base):
    __tablename__ = "service_principals"
    __table_args__ = (
        UniqueConstraint("tenant_id", "app_id", name="uq_service_principals_tenant_app"),
        Index("ix_service_principals_tenant_display", "tenant_id", "display_name", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(String(36))
    application_template_id: Mapped[str | None] = mapped_column(String(36))  # made from this gallery template
    # Roles of first-party resources (the built-in Microsoft Graph principal) live here; for a tenant's own
    # apps the roles come from the application row.
    app_roles: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    application_id: Mapped[str | None] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(256))
    account_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    app_role_assignment_required: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list[str]] = mapped_column(JsonType, default=list)
    login_url: Mapped[str | None] = mapped_column(String(1024))
    logout_url: Mapped[str | None] = mapped_column(String(1024))
    preferred_single_sign_on_mode: Mapped[str | None] = mapped_column(String(16))  # saml | oidc | password | ...
    saml_single_sign_on_settings: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # relayState
    preferred_token_signing_key_thumbprint: Mapped[str | None] = mapped_column(String(40))
    # How SAML responses for this app are made (not Graph properties; the portal's "SAML certificates" and
    # "Attributes & Claims" settings): signing ("assertion" | "response" | "both"), algorithm ("sha256" | "sha1"),
    # nameIdFormat, nameIdSource, requireSignedRequests, claims.
    saml_options: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AppRoleAssignment(Base):
    __tablename__ = "app_role_assignments"
    __table_args__ = (
        UniqueConstraint("resource_id", "principal_id", "app_role_id", name="uq_app_role_assignments_triple"),
        Index("ix_app_role_assignments_principal", "tenant_id", "principal_id"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    app_role_id: Mapped[str] = mapped_column(String(36))
    principal_id: Mapped[str] = mapped_column(String(36))
    principal_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(ForeignKey("service_principals.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DirectoryRoleMember(Base):
    """Directory role assignments (Global Administrator, User Administrator, Guest Inviter, ...)."""

    __tablename__ = "directory_role_members"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    role_template_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    principal_type: Mapped[str] = mapped_column(String(32))


class ChangeLog(Base):
    """Append-only change feed, written in the same transaction as the change itself.

    Written by ``Write.change`` only, read through ``storage.changelog`` only. ``properties`` names the Graph
    properties the change touched; ``related_id`` is the member for membership changes.
    """

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_tenant_type_seq", "tenant_id", "object_type", "seq"),)
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(36))
    change_type: Mapped[str] = mapped_column(String(32))
    properties: Mapped[list[str]] = mapped_column(JsonType, default=list)
    related_id: Mapped[str | None] = mapped_column(String(36))
    related_type: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_at", "tenant_id", "at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    category: Mapped[str] = mapped_column(String(64))
    activity: Mapped[str] = mapped_column(String(128))
    result: Mapped[str] = mapped_column(String(16))  # success | failure
    result_reason: Mapped[str | None] = mapped_column(Text)
    actor_type: Mapped[str] = mapped_column(String(16))  # app | user | system
    actor_id: Mapped[str | None] = mapped_column(String(36))
    actor_name: Mapped[str | None] = mapped_column(String(256))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    target_name: Mapped[str | None] = mapped_column(String(1024))
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # The request that made the change (the load balancer's X-Request-Id when it sent one): Graph's correlationId.
    request_id: Mapped[str | None] = mapped_column(String(128), default=current_request_id)


class SigningKey(Base):
    """Server keys: JWT signing keys (private JWK) and the HMAC key for opaque paging/delta tokens."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        # One live key per purpose: the guard when several server processes start on a new database (0008).
        Index(
            "uq_signing_keys_live_purpose",
            "purpose",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
    )
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "jwt" | "hmac"
    material: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --- B2B invitations -------------------------------------------------------------------------------------------------


class Invitation(Base):
    """One ``POST /invitations`` call. Re-inviting a guest adds a row; the guest user stays the same."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_tenant_user", "tenant_id", "invited_user_id"),
        Index("ix_invitations_tenant_created", "tenant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    invited_user_id: Mapped[str] = mapped_column(String(36))
    email: Mapped[str] = mapped_column(String(256))
    redirect_url: Mapped[str] = mapped_column(String(2048))
    display_name: Mapped[str | None] = mapped_column(String(256))
    user_type: Mapped[str] = mapped_column(String(16))
    message_info: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    send_message: Mapped[bool] = mapped_column(Boolean, default=False)
    reset_redemption: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32))  # PendingAcceptance | Completed | InProgress | Error
    message_status: Mapped[str] = mapped_column(String(32))  # NotRequested | Queued | BlockedByRecipient
    language: Mapped[str | None] = mapped_column(String(16))
    inviter_type: Mapped[str] = mapped_column(String(16))  # app | user | system
    inviter_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RedemptionTicket(Base):
    """The secret of an ``inviteRedeemUrl``: only its SHA-256 is kept. A newer invitation of the same user revokes
    every older ticket, so exactly one link per guest works at a time."""

    __tablename__ = "redemption_tickets"
    __table_args__ = (Index("ix_redemption_tickets_tenant_user", "tenant_id", "user_id"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    invitation_id: Mapped[str] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class B2BPolicy(Base):
    """A tenant's B2B settings: Graph ``authorizationPolicy`` (who may invite) and the invitation domain list."""

    __tablename__ = "b2b_policies"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    allow_invites_from: Mapped[str] = mapped_column(String(64), default="everyone")
    authorization_extra: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    domain_policy_id: Mapped[str | None] = mapped_column(String(36))
    domain_policy_name: Mapped[str | None] = mapped_column(String(256))
    domain_mode: Mapped[str | None] = mapped_column(String(8))  # None | "allow" | "block"
    domains: Mapped[list[str]] = mapped_column(JsonType, default=list)
    email_otp_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class InvitationBlock(Base):
    """ "Block future invitations": this address accepts no more invitation email from this tenant."""

    __tablename__ = "invitation_blocks"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    email_key: Mapped[str] = mapped_column(String(256), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UserSponsor(Base):
    """Sponsors of a (guest) user: users or groups of the same tenant."""

    __tablename__ = "user_sponsors"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    sponsor_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sponsor_type: Mapped[str] = mapped_column(String(16))  # user | group
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OutboxMessage(Base):
    """A transactional outbox of email: written in the transaction that decided to send it, delivered later by the
    worker. ``mime`` is the complete rendered message (stable Message-ID, so a retry is the same message)."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        Index("ix_outbox_messages_related", "related_id"),  # an invitation's email, for its delivery state
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "invitation", ...
    related_id: Mapped[str | None] = mapped_column(String(36))
    envelope_from: Mapped[str] = mapped_column(String(256))
    recipients: Mapped[list[str]] = mapped_column(JsonType, default=list)
    subject: Mapped[str] = mapped_column(String(998))
    mime: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The request that queued it: the delivery's log lines carry it.
    request_id: Mapped[str | None] = mapped_column(String(128), default=current_request_id)


class OutboxAttempt(Base):
    """One delivery attempt of an outbox message, successful or not."""

    __tablename__ = "outbox_attempts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("outbox_messages.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    result: Mapped[str] = mapped_column(String(16))  # sent | retry | failed
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
