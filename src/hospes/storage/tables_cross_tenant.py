"""Tables of cross-tenant access settings (ORM models on the shared Base); created by migrations only.

* ``cross_tenant_policies``: one row per tenant that changed its ``crossTenantAccessPolicy`` (name, description,
  allowed clouds) or its default configuration (``default_config``: None while it is the service default).
* ``cross_tenant_partners``: one row per partner organization of a tenant. ``settings`` holds the wire values the
  admin wrote (trust, B2B collaboration and direct connect, tenant restrictions); the automatic-redemption flags
  and the identity synchronization policy have columns of their own because synchronization checks them on every
  cycle. ``sync_policy`` says whether the partner has an ``identitySynchronization`` object at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, JsonType, UtcDateTime


class CrossTenantPolicy(Base):
    __tablename__ = "cross_tenant_policies"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(256), default="CrossTenantAccessPolicy")
    description: Mapped[str | None] = mapped_column(String(1024))
    allowed_cloud_endpoints: Mapped[list[str]] = mapped_column(JsonType, default=list)
    default_config: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CrossTenantPartner(Base):
    __tablename__ = "cross_tenant_partners"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    partner_tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    inbound_auto_redeem: Mapped[bool | None] = mapped_column(Boolean)
    outbound_auto_redeem: Mapped[bool | None] = mapped_column(Boolean)
    sync_policy: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_display_name: Mapped[str | None] = mapped_column(String(256))
    sync_inbound_allowed: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MultiTenantOrganization(Base):
    """A multitenant organization (Graph ``tenantRelationships/multiTenantOrganization``): the tenants of one
    deployment, or of others, that a conglomerate groups. Created by the first owner's PATCH."""

    __tablename__ = "multi_tenant_organizations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MultiTenantOrganizationMember(Base):
    """A tenant of a multitenant organization. One organization per tenant at most (the primary key), as in Entra;
    the tenant may live in another deployment, so it is not a foreign key. ``state`` is ``pending`` until the
    tenant's own admin joins, then ``active``."""

    __tablename__ = "multi_tenant_organization_members"
    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("multi_tenant_organizations.id", ondelete="CASCADE"), index=True
    )
    display_name: Mapped[str | None] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # owner | member
    state: Mapped[str] = mapped_column(String(16))  # pending | active
    added_by_tenant_id: Mapped[str] = mapped_column(String(36))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    joined_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
