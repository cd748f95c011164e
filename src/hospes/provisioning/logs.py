"""Provisioning logs of the facade: ``provisioningObjectSummary`` rows, filtered and paged newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.provisioning.facade import FacadeBase, iso
from hospes.storage.tables import ServicePrincipal
from hospes.storage.tables_provisioning import ProvisioningLog

INITIATOR = {"id": "", "displayName": "Hospes Provisioning Service", "initiatorType": "system"}


@dataclass
class LogQuery:
    """Filters of ``GET /auditLogs/provisioning`` (the router turns ``$filter`` into these)."""

    since: datetime | None = None  # activityDateTime ge
    until: datetime | None = None  # activityDateTime le
    job_id: str | None = None
    cycle_id: str | None = None
    change_id: str | None = None
    action: str | None = None  # provisioningAction
    status: str | None = None  # provisioningStatusInfo/status
    identity_id: str | None = None  # sourceIdentity/id or targetIdentity/id
    identity_name: str | None = None  # sourceIdentity/displayName (contains, case-insensitive)
    identity_type: str | None = None  # User | Group
    # Graph $filter equalities: sourceIdentity/id, targetIdentity/id, sourceIdentity/displayName (any case).
    source_id: str | None = None
    target_id: str | None = None
    source_name: str | None = None
    sp_id: str | None = None
    top: int = 100
    after: str | None = None  # opaque cursor from a previous page (``LogPage.next``)


@dataclass
class LogPage:
    items: list[dict[str, Any]]
    next: str | None = None


class Logs(FacadeBase):
    def logs(self, tenant_id: str, query: LogQuery) -> LogPage:
        stmt = select(ProvisioningLog).where(ProvisioningLog.tenant_id == tenant_id)
        if query.since is not None:
            stmt = stmt.where(ProvisioningLog.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(ProvisioningLog.at <= query.until)
        for column, value in (
            (ProvisioningLog.job_id, query.job_id),
            (ProvisioningLog.cycle_id, query.cycle_id),
            (ProvisioningLog.change_id, query.change_id),
            (ProvisioningLog.action, query.action),
            (ProvisioningLog.status, query.status),
            (ProvisioningLog.sp_id, query.sp_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if query.identity_id is not None:
            stmt = stmt.where(
                or_(ProvisioningLog.source_id == query.identity_id, ProvisioningLog.target_id == query.identity_id)
            )
        if query.identity_name is not None:
            stmt = stmt.where(func.lower(ProvisioningLog.source_name).contains(query.identity_name.lower()))
        if query.source_id is not None:
            stmt = stmt.where(ProvisioningLog.source_id == query.source_id)
        if query.target_id is not None:
            stmt = stmt.where(ProvisioningLog.target_id == query.target_id)
        if query.source_name is not None:
            stmt = stmt.where(func.lower(ProvisioningLog.source_name) == query.source_name.lower())
        if query.identity_type is not None:
            stmt = stmt.where(ProvisioningLog.source_type == query.identity_type.lower())
        if query.after:
            try:
                at_text, _, id_text = query.after.partition("|")
                at, last_id = datetime.fromisoformat(at_text), int(id_text)
            except ValueError:
                raise InvalidInputError("Invalid paging cursor.", target="$skiptoken") from None
            stmt = stmt.where(
                or_(ProvisioningLog.at < at, and_(ProvisioningLog.at == at, ProvisioningLog.id < last_id))
            )
        top = max(1, min(query.top, 1000))
        with self.sessions() as session:
            rows = list(
                session.scalars(stmt.order_by(ProvisioningLog.at.desc(), ProvisioningLog.id.desc()).limit(top + 1))
            )
            names = self._sp_names(session, tenant_id, {r.sp_id for r in rows})
        more = len(rows) > top
        rows = rows[:top]
        items = [self._log_json(r, names) for r in rows]
        cursor = f"{rows[-1].at.isoformat()}|{rows[-1].id}" if more and rows else None
        return LogPage(items, cursor)

    def get_log(self, tenant_id: str, log_id: str) -> dict[str, Any]:
        try:
            key = int(log_id)
        except ValueError:
            raise NotFoundError(log_id) from None
        with self.sessions() as session:
            row = session.scalar(
                select(ProvisioningLog).where(ProvisioningLog.tenant_id == tenant_id, ProvisioningLog.id == key)
            )
            if row is None:
                raise NotFoundError(log_id)
            return self._log_json(row, self._sp_names(session, tenant_id, {row.sp_id}))

    @staticmethod
    def _sp_names(session: Session, tenant_id: str, ids: set[str]) -> dict[str, str]:
        if not ids:
            return {}
        rows = session.execute(
            select(ServicePrincipal.id, ServicePrincipal.display_name).where(
                ServicePrincipal.tenant_id == tenant_id, ServicePrincipal.id.in_(sorted(ids))
            )
        )
        return {sp_id: name for sp_id, name in rows}

    @staticmethod
    def _log_json(row: ProvisioningLog, names: dict[str, str]) -> dict[str, Any]:
        identity_type = "User" if row.source_type == "user" else "Group"
        app = names.get(row.sp_id, "")
        return {
            "id": str(row.id),
            "activityDateTime": iso(row.at),
            "tenantId": row.tenant_id,
            "jobId": row.job_id,
            "cycleId": row.cycle_id,
            "changeId": row.change_id,
            "durationInMilliseconds": row.duration_ms,
            "initiatedBy": dict(INITIATOR),
            "provisioningAction": row.action,
            "provisioningStatusInfo": {"status": row.status, "errorInformation": row.error},
            "provisioningSteps": row.steps,
            "modifiedProperties": row.modified,
            "servicePrincipal": {"id": row.sp_id, "displayName": app},
            "sourceSystem": {"id": row.tenant_id, "displayName": "Hospes", "details": {}},
            "targetSystem": {"id": row.sp_id, "displayName": app, "details": {"ServicePrincipalId": row.sp_id}},
            "sourceIdentity": {
                "id": row.source_id,
                "displayName": row.source_name or "",
                "identityType": identity_type,
                "details": {},
            },
            "targetIdentity": {
                "id": row.target_id or "",
                "displayName": row.source_name if row.target_id else "",
                "identityType": identity_type,
                "details": {},
            },
        }
