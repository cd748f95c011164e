"""Tables of entitlement management (access packages); created by migrations only.

* ``em_catalogs``, ``em_resources`` (a group or a service principal added to a catalog), ``em_packages`` and their
  ``em_role_scopes`` (which role of which resource a package grants: a group's Member or Owner, an app role).
* ``em_policies``: who may request a package and how (``settings`` holds Graph's nested shapes, normalized by
  ``hospes.domain.entitlements``).
* ``em_connected_orgs`` with their sponsors (``em_org_sponsors``).
* ``em_subjects``: the people requests and assignments are about; ``object_id`` is empty for an external person
  who asked before a guest account existed, filled when the guest is created. ``lifecycle`` ``governed`` marks a guest
  entitlement management created, the only ones its settings block and delete.
* ``em_requests``, their ``em_approval_stages`` and ``em_assignments``.
* ``em_settings``: a tenant's external-user lifecycle settings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, JsonType, UtcDateTime


class EmCatalog(Base):
    __tablename__ = "em_catalogs"
    __table_args__ = (Index("ix_em_catalogs_tenant", "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    catalog_type: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    is_externally_visible: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmResource(Base):
    __tablename__ = "em_resources"
    __table_args__ = (UniqueConstraint("catalog_id", "origin_id", name="uq_em_resources_origin"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    catalog_id: Mapped[str] = mapped_column(ForeignKey("em_catalogs.id", ondelete="CASCADE"))
    origin_id: Mapped[str] = mapped_column(String(64))
    origin_system: Mapped[str] = mapped_column(String(32))  # AadGroup | AadApplication
    display_name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmPackage(Base):
    __tablename__ = "em_packages"
    __table_args__ = (Index("ix_em_packages_tenant", "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    catalog_id: Mapped[str] = mapped_column(ForeignKey("em_catalogs.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    is_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmRoleScope(Base):
    """``id`` is Graph's ``<roleId>_<scopeId>``; ``origin_id`` the group or service principal the role is on."""

    __tablename__ = "em_role_scopes"
    __table_args__ = (Index("ix_em_role_scopes_origin", "tenant_id", "origin_id"),)
    package_id: Mapped[str] = mapped_column(ForeignKey("em_packages.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    resource_id: Mapped[str] = mapped_column(ForeignKey("em_resources.id", ondelete="CASCADE"))
    origin_system: Mapped[str] = mapped_column(String(32))
    origin_id: Mapped[str] = mapped_column(String(64))
    role_origin_id: Mapped[str] = mapped_column(String(80))  # Member_<gid>, Owner_<gid>, or the app role's id
    role_name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmPolicy(Base):
    __tablename__ = "em_policies"
    __table_args__ = (Index("ix_em_policies_tenant", "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    package_id: Mapped[str] = mapped_column(ForeignKey("em_packages.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    allowed_target_scope: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmConnectedOrg(Base):
    __tablename__ = "em_connected_orgs"
    __table_args__ = (Index("ix_em_connected_orgs_tenant", "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    identity_sources: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmOrgSponsor(Base):
    __tablename__ = "em_org_sponsors"
    org_id: Mapped[str] = mapped_column(ForeignKey("em_connected_orgs.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # internal | external
    object_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(16))  # user | group
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class EmSubject(Base):
    __tablename__ = "em_subjects"
    __table_args__ = (
        UniqueConstraint("tenant_id", "object_id", name="uq_em_subjects_object"),
        Index("ix_em_subjects_email", "tenant_id", "email"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    object_id: Mapped[str | None] = mapped_column(String(36))
    email: Mapped[str | None] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(256))
    principal_name: Mapped[str | None] = mapped_column(String(256))
    subject_type: Mapped[str] = mapped_column(String(32), default="user")
    lifecycle: Mapped[str] = mapped_column(String(16), default="notDefined")
    connected_org_id: Mapped[str | None] = mapped_column(String(36))
    home_tenant_id: Mapped[str | None] = mapped_column(String(36))
    # How an external requestor proved who they are (the identity their guest account gets on approval).
    identity: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmRequest(Base):
    __tablename__ = "em_requests"
    __table_args__ = (
        Index("ix_em_requests_subject", "tenant_id", "subject_id"),
        Index("ix_em_requests_tenant", "tenant_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    package_id: Mapped[str] = mapped_column(ForeignKey("em_packages.id", ondelete="CASCADE"))
    policy_id: Mapped[str | None] = mapped_column(String(36))
    assignment_id: Mapped[str | None] = mapped_column(String(36))
    subject_id: Mapped[str] = mapped_column(ForeignKey("em_subjects.id", ondelete="CASCADE"))
    request_type: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(128))
    justification: Mapped[str | None] = mapped_column(Text)
    answers: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_by_id: Mapped[str | None] = mapped_column(String(64))
    created_by_name: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class EmApprovalStage(Base):
    __tablename__ = "em_approval_stages"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("em_requests.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    stage_no: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # NotStarted | InProgress | Completed | Expired
    review_result: Mapped[str] = mapped_column(String(16), default="NotReviewed")
    reviewed_by_id: Mapped[str | None] = mapped_column(String(36))
    reviewed_by_name: Mapped[str | None] = mapped_column(String(256))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    justification: Mapped[str | None] = mapped_column(Text)
    approvers: Mapped[list[str]] = mapped_column(JsonType, default=list)  # user ids
    escalation_approvers: Mapped[list[str]] = mapped_column(JsonType, default=list)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class EmAssignment(Base):
    __tablename__ = "em_assignments"
    __table_args__ = (
        Index("ix_em_assignments_target", "tenant_id", "target_user_id", "state"),
        Index("ix_em_assignments_package", "tenant_id", "package_id", "state"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    package_id: Mapped[str] = mapped_column(ForeignKey("em_packages.id", ondelete="CASCADE"))
    policy_id: Mapped[str | None] = mapped_column(String(36))
    subject_id: Mapped[str] = mapped_column(ForeignKey("em_subjects.id", ondelete="CASCADE"))
    target_user_id: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmSettings(Base):
    __tablename__ = "em_settings"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    lifecycle_action: Mapped[str] = mapped_column(String(32), default="blockSignInAndDelete")
    delete_after: Mapped[str] = mapped_column(String(32), default="P30D")
