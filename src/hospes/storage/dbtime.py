"""The database's clock, the one every lease is compared against: hosts' clocks drift apart (or are set wrong),
and a lease judged by the clock of the host that wants to take it over would lapse early on a host running fast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from hospes.domain.clock import utcnow


def db_now(session: Session) -> datetime:
    """Now by the database: PostgreSQL's ``statement_timestamp()``; SQLite lives in this process, so its clock is
    the process's."""
    if session.get_bind().dialect.name != "postgresql":
        return utcnow()
    value: datetime = session.execute(text("SELECT statement_timestamp()")).scalar_one()
    return value.astimezone(UTC)


def db_after(session: Session, seconds: float) -> datetime:
    return db_now(session) + timedelta(seconds=seconds)
