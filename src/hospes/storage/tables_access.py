"""Tables of conditional access; created by migrations only.

* ``conditional_access_policies``: one row per policy. ``conditions``, ``grant_controls`` and ``session_controls``
  hold Graph's shapes, normalized by ``hospes.domain.conditional_access`` before they are written.
* ``named_locations``: IP ranges (``kind`` ip) and countries (``kind`` country) that policies name in their
  location conditions; ``definition`` holds the kind's own properties.
* ``access_rules_versions``: per tenant, a number moved by every write to the two tables above, in the same
  transaction (mapper events below, so no write path can forget it). Processes keep each tenant's policies
  compiled and compile again when the number they read differs from the one they compiled at.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Connection, ForeignKey, Index, String, Text, event, text
from sqlalchemy.orm import Mapped, Mapper, mapped_column

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


class AccessRulesVersion(Base):
    __tablename__ = "access_rules_versions"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


# One statement on both backends (SQLite >= 3.24 and PostgreSQL know ON CONFLICT); two writers of one tenant
# serialize on the row.
_BUMP = text(
    "INSERT INTO access_rules_versions (tenant_id, version) VALUES (:tenant_id, 1) "
    "ON CONFLICT (tenant_id) DO UPDATE SET version = access_rules_versions.version + 1"
)


def _bump(_mapper: Mapper[Any], connection: Connection, target: ConditionalAccessPolicy | NamedLocation) -> None:
    connection.execute(_BUMP, {"tenant_id": target.tenant_id})


for _table in (ConditionalAccessPolicy, NamedLocation):
    for _name in ("after_insert", "after_update", "after_delete"):
        event.listen(_table, _name, _bump)
