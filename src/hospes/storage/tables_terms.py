"""Terms of use (Graph's ``agreement``); created by migrations only.

* ``agreements``: one per agreement; ``version`` moves when a file is added as a major version, which asks every
  user to accept again. ``reaccept_days`` (``userReacceptRequiredFrequency``) and ``expiration`` (``termsExpiration``:
  everyone's acceptance ends at each ``startDateTime + n x frequency``) bound how long an acceptance holds.
* ``agreement_files``: the document in each language (PDF or plain text), its bytes in the row; the file list of an
  agreement is small and read only when a document is shown.
* ``agreement_acceptances``: one row per (agreement, user, version) a user answered, ``state`` accepted or declined.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, JsonType, UtcDateTime


class Agreement(Base):
    __tablename__ = "agreements"
    __table_args__ = (Index("ix_agreements_tenant", "tenant_id", "display_name", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(256))
    viewing_required: Mapped[bool] = mapped_column(Boolean, default=False)
    per_device: Mapped[bool] = mapped_column(Boolean, default=False)
    reaccept_days: Mapped[int | None] = mapped_column(Integer)
    expiration: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AgreementFile(Base):
    __tablename__ = "agreement_files"
    __table_args__ = (Index("ix_agreement_files_agreement", "agreement_id", "language"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(256))
    language: Mapped[str] = mapped_column(String(16))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    is_major_version: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)  # the agreement's version it was added at
    content_type: Mapped[str] = mapped_column(String(32))  # application/pdf | text/plain
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AgreementAcceptance(Base):
    __tablename__ = "agreement_acceptances"
    __table_args__ = (
        UniqueConstraint("agreement_id", "user_id", "version", name="uq_agreement_acceptances_user_version"),
        Index("ix_agreement_acceptances_user", "tenant_id", "user_id"),
        Index("ix_agreement_acceptances_agreement", "agreement_id", "recorded_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"))
    agreement_file_id: Mapped[str | None] = mapped_column(String(36))
    user_id: Mapped[str] = mapped_column(String(36))
    user_email: Mapped[str | None] = mapped_column(String(256))
    user_principal_name: Mapped[str | None] = mapped_column(String(1024))
    user_display_name: Mapped[str | None] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # accepted | declined
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
