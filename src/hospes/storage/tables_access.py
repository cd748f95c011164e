"""Tables of conditional access; created by migrations only.

* ``conditional_access_policies``: one row per policy. ``conditions``, ``grant_controls`` and ``session_controls``
  hold Graph's shapes, normalized by ``hospes.domain.conditional_access`` before they are written.
* ``named_locations``: IP ranges (``kind`` ip) and countries (``kind`` country) that policies name in their
  location conditions; ``definition`` holds the kind's own properties.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, JsonType, UtcDateTime


class ConditionalAccessPolicy(Base):
    __tablename__ = "conditional_access_policies"
    __table_args__ = (Index("ix_conditional_access_policies_tenant", "tenant_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(40))  # enabled | disabled | enabledForReportingButNotEnforced
    template_id: Mapped[str | None] = mapped_column(String(36))
    conditions: Mapped[dict[str, Any]] = mapped_column(JsonType)
    grant_controls: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    session_controls: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class NamedLocation(Base):
    __tablename__ = "named_locations"
    __table_args__ = (Index("ix_named_locations_tenant", "tenant_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # ip | country
    display_name: Mapped[str] = mapped_column(String(256))
    is_trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
