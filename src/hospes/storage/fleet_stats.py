"""The metrics that are facts of the database, read when ``/metrics`` is scraped: outbox depth and the age of its
oldest waiting message, provisioning jobs by state and each active job's lag behind its tenant's change log.

Every node of a fleet reports the same values (they come from the one database): aggregate them with ``max``,
never ``sum``. A scrape reads at most once per ``ttl`` seconds, however many scrapers ask."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.storage.tables import ChangeLog, OutboxMessage
from hospes.storage.tables_provisioning import ProvisioningJob

_ACTIVE = "Active"


class FleetStats(Collector):
    def __init__(self, sessions: sessionmaker[Session], ttl: float = 5.0) -> None:
        self.sessions, self.ttl = sessions, ttl
        self._lock = threading.Lock()
        self._at = 0.0
        self._families: list[GaugeMetricFamily] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() - self._at > self.ttl:
                self._families = self._read()
                self._at = time.monotonic()
            yield from self._families

    def _read(self) -> list[GaugeMetricFamily]:
        now = utcnow()
        with self.sessions() as session:
            waiting = session.execute(
                select(OutboxMessage.status, func.count(), func.min(OutboxMessage.created_at))
                .where(OutboxMessage.status.in_(("pending", "sending")))
                .group_by(OutboxMessage.status)
            ).all()
            jobs = session.execute(
                select(ProvisioningJob.id, ProvisioningJob.tenant_id, ProvisioningJob.code, ProvisioningJob.watermark)
            ).all()
            lags: list[tuple[str, str, int, float]] = []
            for job_id, tenant_id, code, watermark in jobs:
                if code != _ACTIVE:
                    continue
                head = session.scalar(select(func.max(ChangeLog.seq)).where(ChangeLog.tenant_id == tenant_id)) or 0
                oldest = session.scalar(
                    select(ChangeLog.at)
                    .where(ChangeLog.tenant_id == tenant_id, ChangeLog.seq > watermark)
                    .order_by(ChangeLog.seq)
                    .limit(1)
                )
                lags.append((job_id, tenant_id, max(head - watermark, 0), _age(now, oldest)))
        depth = GaugeMetricFamily("hospes_outbox_messages", "Outbox messages waiting, by status.", labels=["status"])
        oldest_age = GaugeMetricFamily(
            "hospes_outbox_oldest_age_seconds", "Age of the oldest outbox message not yet sent (0: none waiting)."
        )
        counts = {"pending": 0, "sending": 0}
        oldest_at: datetime | None = None
        for status, count, first in waiting:
            counts[status] = count
            oldest_at = first if oldest_at is None or (first is not None and first < oldest_at) else oldest_at
        for status, count in counts.items():
            depth.add_metric([status], count)
        oldest_age.add_metric([], _age(now, oldest_at))
        by_code = GaugeMetricFamily(
            "hospes_provisioning_jobs", "Provisioning jobs by state (Quarantine: quarantined).", labels=["code"]
        )
        codes: dict[str, int] = {"Active": 0, "Paused": 0, "Quarantine": 0, "NotRun": 0}
        for _, _, code, _ in jobs:
            codes[code] = codes.get(code, 0) + 1
        for code, count in sorted(codes.items()):
            by_code.add_metric([code], count)
        lag = GaugeMetricFamily(
            "hospes_provisioning_lag_changes",
            "Change-log entries of the job's tenant past the job's watermark.",
            labels=["job", "tenant"],
        )
        lag_seconds = GaugeMetricFamily(
            "hospes_provisioning_lag_seconds",
            "Age of the oldest change the job has not processed yet (0: caught up).",
            labels=["job", "tenant"],
        )
        for job_id, tenant_id, changes, seconds in lags:
            lag.add_metric([job_id, tenant_id], changes)
            lag_seconds.add_metric([job_id, tenant_id], seconds)
        return [depth, oldest_age, by_code, lag, lag_seconds]


def _age(now: datetime, then: datetime | None) -> float:
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0
