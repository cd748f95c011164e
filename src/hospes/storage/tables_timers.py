"""The durable timer table (``due_actions``); created by migrations only.

One row per pending or finished timed action: its ``kind`` (which handler runs it), the tenant and the ``subject``
it acts on (an assignment id, a user id), when it is due, and the lease of the worker running it. The lease
(``lease_owner``, ``lease_until``) is set from the database's clock, never a host's, so workers on hosts whose clocks
disagree still agree on whose lease has ended. ``done_at`` is written in the transaction that performs the action,
so an action is done exactly when its effects are committed. There is one row per (tenant, kind, subject):
scheduling again moves it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, UtcDateTime


class DueAction(Base):
    __tablename__ = "due_actions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "subject", name="uq_due_actions_subject"),
        Index("ix_due_actions_pending", "done_at", "due_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))  # done | failed (gave up after the attempts)
    last_error: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
