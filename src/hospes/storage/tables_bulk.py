"""Tables of the portal's bulk invite (ORM models on the shared Base); created by migrations only.

* ``bulk_invite_jobs``: one uploaded CSV file: who uploaded it, its state (queued → running → done | failed), the
  counters the progress page shows, and the worker lease (``claimed_by``, ``lease_until``) that lets another
  worker resume a job whose worker died. ``active_owner`` holds the uploader's id while the job is queued or
  running and NULL afterwards: its unique index with the tenant is the "one upload at a time per person" rule
  (NULLs never collide, on SQLite as on PostgreSQL). ``access`` names the groups and app roles every row's guest is
  added to, in the row's invitation transaction.
* ``bulk_invite_rows``: one CSV row: its invitation body (JSON), and once processed its outcome. A redemption link
  is kept only for rows whose email was not sent, and then sealed with the deployment key (it is a bearer link).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hospes.logs import current_request_id
from hospes.storage.tables import Base, JsonType, UtcDateTime


class BulkInviteJob(Base):
    __tablename__ = "bulk_invite_jobs"
    __table_args__ = (
        Index("ix_bulk_invite_jobs_tenant_created", "tenant_id", "created_at"),
        Index("ix_bulk_invite_jobs_status", "status", "lease_until"),
        Index("ux_bulk_invite_jobs_active", "tenant_id", "active_owner", unique=True),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(String(36))  # the uploader (a user id); the worker invites as them
    created_by_name: Mapped[str] = mapped_column(String(256))
    active_owner: Mapped[str | None] = mapped_column(String(36))  # = created_by while queued or running
    file_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(String(1000))  # why a job failed as a whole
    # {"groups": [group id], "appRoles": ["{service principal id}:{app role id}"]} each row's guest is added to
    access: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    # The upload's request: the worker's log lines and the invitations' audit rows carry it.
    request_id: Mapped[str | None] = mapped_column(String(128), default=current_request_id)


class BulkInviteRow(Base):
    __tablename__ = "bulk_invite_rows"
    __table_args__ = (Index("ix_bulk_invite_rows_status", "job_id", "status", "row_no"),)
    job_id: Mapped[str] = mapped_column(ForeignKey("bulk_invite_jobs.id", ondelete="CASCADE"), primary_key=True)
    row_no: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0-based data row; the CSV line is row_no + 2
    email: Mapped[str] = mapped_column(String(320))
    input: Mapped[dict[str, Any]] = mapped_column(JsonType)  # the invitation body read from the CSV row
    status: Mapped[str] = mapped_column(String(16))  # pending | ok | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # unexpected errors so far (3 fail the row)
    invitation_id: Mapped[str | None] = mapped_column(String(36))
    user_id: Mapped[str | None] = mapped_column(String(36))
    invitation_status: Mapped[str | None] = mapped_column(String(32))
    redeem_url_sealed: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(2000))
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
