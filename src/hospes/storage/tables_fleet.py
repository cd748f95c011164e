"""Tables that let several hosts share one database (ORM models on the shared Base); created by migrations only.

* ``scheduler_leases``: one row per periodic task (housekeeping, pruning, timers): when it is due next and the
  lease of the process running it now, so each task runs once per period across every ``hospes worker`` and
  server process, whatever their number. ``epoch`` grows with each claim: a run whose lease was taken over cannot
  record itself as done.
* ``secret_canary``: one row sealed with the deployment's secret key when the database is first used, so a
  process started with another key says so in plain words instead of failing on the first sealed value it reads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, UtcDateTime


class SchedulerLease(Base):
    __tablename__ = "scheduler_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_owner: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(2000))


class SecretCanary(Base):
    __tablename__ = "secret_canary"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
