"""The portal's audit log: the list with its filters (date range, category, activity, initiator, target, result,
free text), one entry's detail (what changed, old → new) and the CSV download of what the filters show, always
within the acting principal's tenant."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from hospes.domain.errors import NotFoundError
from hospes.services.base import Services
from hospes.services.user_export import cell
from hospes.services.user_views import Listing, like_pattern, paged
from hospes.storage.tables import AuditLog

PAGE_SIZE = 50
CHUNK = 500
# The columns of Entra's audit log download, for one target and its modified properties in one cell.
CSV_COLUMNS = (
    "Date (UTC)",
    "CorrelationId",
    "Service",
    "Category",
    "Activity",
    "Result",
    "ResultReason",
    "ActorType",
    "ActorDisplayName",
    "ActorObjectId",
    "Target1Type",
    "Target1DisplayName",
    "Target1ObjectId",
    "Target1ModifiedProperties",
    "AdditionalDetails",
)


@dataclass(frozen=True)
class AuditFilters:
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    category: str = ""
    activity: str = ""
    actor: str = ""
    target: str = ""
    result: str = ""  # success | failure | "" (both)
    search: str = ""


@dataclass(frozen=True)
class Change:
    property: str
    old: Any
    new: Any
    known: bool  # the values were recorded (older entries name the property only)


def changes_of(entry: AuditLog) -> list[Change]:
    """What an entry changed, old → new, in the order it was recorded."""
    recorded = {c.get("property"): c for c in entry.details.get("changes", []) if isinstance(c, dict)}
    out = []
    for name in entry.details.get("modifiedProperties", []) or []:
        found = recorded.get(name)
        out.append(Change(str(name), found and found.get("old"), found and found.get("new"), found is not None))
    return out


def other_details(entry: AuditLog) -> list[tuple[str, str]]:
    skip = {"changes", "modifiedProperties"}
    return [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in entry.details.items() if k not in skip]


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class AuditQueries(Services):
    def conditions(self, f: AuditFilters) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [AuditLog.tenant_id == self.tenant_id]
        if f.date_from:
            out.append(AuditLog.at >= _start(f.date_from))
        if f.date_to:
            out.append(AuditLog.at < _start(f.date_to + timedelta(days=1)))
        if f.category:
            out.append(AuditLog.category == f.category[:64])
        if f.activity:
            out.append(AuditLog.activity == f.activity[:128])
        if f.result in ("success", "failure"):
            out.append(AuditLog.result == f.result)
        for text, columns in (
            (f.actor, (AuditLog.actor_name, AuditLog.actor_id)),
            (f.target, (AuditLog.target_name, AuditLog.target_id)),
            (f.search, (AuditLog.activity, AuditLog.target_name, AuditLog.actor_name)),
        ):
            text = text.strip()[:256]
            if text:
                pattern = like_pattern(text)
                out.append(or_(*(func.lower(c).like(pattern, escape="\\") for c in columns)))
        return out

    def page(self, f: AuditFilters, page: int = 1) -> Listing:
        conditions = self.conditions(f)
        with self.read() as session:
            stmt = select(AuditLog).where(*conditions).order_by(AuditLog.at.desc(), AuditLog.id)
            count = select(func.count()).select_from(AuditLog).where(*conditions)
            return paged(session, stmt, count, page, PAGE_SIZE)

    def entry(self, entry_id: str) -> AuditLog:
        with self.read() as session:
            row = session.scalar(select(AuditLog).where(AuditLog.tenant_id == self.tenant_id, AuditLog.id == entry_id))
            if row is None:
                raise NotFoundError(entry_id)
            return row

    def choices(self) -> tuple[list[str], list[str]]:
        """The categories and activities this tenant's log holds, for the filters' lists."""
        with self.read() as session:
            mine = AuditLog.tenant_id == self.tenant_id
            categories = session.scalars(select(AuditLog.category).where(mine).distinct().order_by(AuditLog.category))
            activities = session.scalars(select(AuditLog.activity).where(mine).distinct().order_by(AuditLog.activity))
            return list(categories), list(activities)

    def csv_chunks(self, f: AuditFilters) -> Iterator[str]:
        """The filtered log, newest first, in pieces read in short transactions (keyset on the list's order)."""
        conditions = self.conditions(f)
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerow(CSV_COLUMNS)
        yield "\ufeff" + out.getvalue()
        after: tuple[datetime, str] | None = None
        while True:
            stmt = select(AuditLog).where(*conditions)
            if after is not None:
                # Newest first, ties by id ascending: the next rows are older, or as old with a larger id.
                stmt = stmt.where(or_(AuditLog.at < after[0], (AuditLog.at == after[0]) & (AuditLog.id > after[1])))
            with self.read() as session:
                rows = list(session.scalars(stmt.order_by(AuditLog.at.desc(), AuditLog.id).limit(CHUNK)))
            if not rows:
                return
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            for row in rows:
                writer.writerow([cell(v) for v in _csv_row(row)])
            yield out.getvalue()
            after = (rows[-1].at, rows[-1].id)


def _csv_row(row: AuditLog) -> list[Any]:
    changes = "; ".join(
        f"{c.property}: {json.dumps(c.old)} -> {json.dumps(c.new)}" if c.known else c.property for c in changes_of(row)
    )
    extra = "; ".join(f"{k}={v}" for k, v in other_details(row))
    return [
        row.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        row.id,
        "Core Directory",
        row.category,
        row.activity,
        row.result,
        row.result_reason or "",
        row.actor_type,
        row.actor_name or "",
        row.actor_id or "",
        row.target_type or "",
        row.target_name or "",
        row.target_id or "",
        changes,
        extra,
    ]
