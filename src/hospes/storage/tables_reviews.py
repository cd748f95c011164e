"""Tables of access reviews, app owners and guest lifecycle (ORM models on the shared Base); created by migrations.

* ``access_review_definitions``: a review series. ``body`` keeps the Graph properties as the caller set them
  (scope, reviewers, settings, stage settings, descriptions), checked when written; ``next_start_at`` is when the
  next instance of a recurring (or not yet started) series begins, ``occurrences`` how many have begun.
* ``access_review_instances``: one run of a definition over one resource (a definition over every group has one
  instance per group). ``stage`` is the running stage (1-based); ``apply_state`` what applying did (counts, the
  share the denial cap held back).
* ``access_review_items``: the decision items, one per principal, resource and stage. ``current`` marks the row of
  the last stage a pair reached: the instance's decision for it.
* ``access_review_item_reviewers``: who may decide an item, and each reviewer's own response (the stage's outcome
  strategy combines them into the item's decision). A reviewer sees exactly the items listed here for them.
* ``service_principal_owners``: users who own an enterprise app (Graph ``/servicePrincipals/{id}/owners``).
* ``user_governance``: why and when a guest is blocked or deleted (an access review's denial, the inactivity
  policy): the answer an administrator looks for before a guest disappears.
* ``guest_lifecycle_policies``: a tenant's "block guests inactive for N days, delete M days later".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, JsonType, UtcDateTime


class AccessReviewDefinition(Base):
    __tablename__ = "access_review_definitions"
    __table_args__ = (Index("ix_access_review_definitions_tenant", "tenant_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(256))
    body: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="NotStarted")
    created_by: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    next_start_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    occurrences: Mapped[int] = mapped_column(Integer, default=0)


class AccessReviewInstance(Base):
    __tablename__ = "access_review_instances"
    __table_args__ = (Index("ix_access_review_instances_definition", "definition_id", "start_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    definition_id: Mapped[str] = mapped_column(ForeignKey("access_review_definitions.id", ondelete="CASCADE"))
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="InProgress")
    resource_id: Mapped[str | None] = mapped_column(String(36))
    resource_type: Mapped[str | None] = mapped_column(String(32))  # Group | ServicePrincipal
    resource_name: Mapped[str | None] = mapped_column(String(256))
    scope: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    stage: Mapped[int] = mapped_column(Integer, default=1)
    stage_end_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    apply_state: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class AccessReviewItem(Base):
    __tablename__ = "access_review_items"
    __table_args__ = (
        Index("ix_access_review_items_instance", "instance_id", "current", "stage", "principal_id"),
        Index("ix_access_review_items_principal", "tenant_id", "principal_id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    instance_id: Mapped[str] = mapped_column(ForeignKey("access_review_instances.id", ondelete="CASCADE"))
    stage: Mapped[int] = mapped_column(Integer, default=1)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    principal_id: Mapped[str] = mapped_column(String(36))
    principal_type: Mapped[str] = mapped_column(String(32), default="user")
    principal_name: Mapped[str | None] = mapped_column(String(256))
    principal_upn: Mapped[str | None] = mapped_column(String(1024))
    resource_id: Mapped[str | None] = mapped_column(String(36))
    resource_type: Mapped[str | None] = mapped_column(String(32))
    resource_name: Mapped[str | None] = mapped_column(String(256))
    decision: Mapped[str] = mapped_column(String(16), default="NotReviewed")
    justification: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    recommendation: Mapped[str] = mapped_column(String(16), default="NoInfoAvailable")
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # what the recommendation read
    apply_result: Mapped[str] = mapped_column(String(48), default="New")
    applied_by: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AccessReviewItemReviewer(Base):
    __tablename__ = "access_review_item_reviewers"
    __table_args__ = (Index("ix_access_review_item_reviewers_reviewer", "tenant_id", "reviewer_id", "instance_id"),)
    item_id: Mapped[str] = mapped_column(ForeignKey("access_review_items.id", ondelete="CASCADE"), primary_key=True)
    reviewer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    instance_id: Mapped[str] = mapped_column(ForeignKey("access_review_instances.id", ondelete="CASCADE"))
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    response: Mapped[str | None] = mapped_column(String(16))
    justification: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ServicePrincipalOwner(Base):
    __tablename__ = "service_principal_owners"
    __table_args__ = (Index("ix_service_principal_owners_owner", "tenant_id", "owner_id"),)
    service_principal_id: Mapped[str] = mapped_column(
        ForeignKey("service_principals.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(32), default="user")
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UserGovernance(Base):
    __tablename__ = "user_governance"
    __table_args__ = (Index("ix_user_governance_due", "tenant_id", "scheduled_deletion_at"),)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(32))  # accessReview | lifecyclePolicy
    origin_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str | None] = mapped_column(String(1024))
    blocked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    scheduled_deletion_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class GuestLifecyclePolicy(Base):
    __tablename__ = "guest_lifecycle_policies"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    block_after_days: Mapped[int] = mapped_column(Integer, default=90)
    delete_after_days: Mapped[int] = mapped_column(Integer, default=30)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
