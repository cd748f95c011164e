"""Tables of dynamic groups' processing (ORM models on the shared Base); created by migrations only.

* ``dynamic_group_processing``: one row per group that has (or had) a membership rule: the full passes asked for
  (``requested``, raised by a rule change, a resume or "process now") and done (``processed``), so a pass that a
  crash interrupted runs again; the status the group shows (NotStarted, Running, Succeeded, Failed), when its
  membership last changed, and the error of the last failed pass or evaluation.
* ``dynamic_membership_cursors``: one row per tenant with dynamic groups: the change-log sequence its processing
  has applied (``seq``), and the lease (``lease_owner``, ``lease_until``) that lets one process at a time work on
  the tenant; a dead process's lease expires and another takes over from the same sequence.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hospes.storage.tables import Base, UtcDateTime


class DynamicGroupProcessing(Base):
    __tablename__ = "dynamic_group_processing"
    __table_args__ = (Index("ix_dynamic_group_processing_tenant", "tenant_id"),)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    requested: Mapped[int] = mapped_column(Integer, default=1)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="NotStarted")
    last_membership_updated: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(String(1024))


class DynamicMembershipCursor(Base):
    __tablename__ = "dynamic_membership_cursors"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
