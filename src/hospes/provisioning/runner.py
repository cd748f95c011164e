"""The background runner: inside ``hospes serve`` (like the outbox worker) and ``hospes worker``.

One thread watches the change log's head (a primary-key ``max(seq)``, cheap) and the job table every
``HOSPES_PROVISIONING_POLL_SECONDS``; each active job gets its own thread, so a long initial cycle of one app
never delays another app's incremental changes. A job is leased in the database (``lease_owner``,
``lease_until``, renewed while it runs), so two processes never run the same job at once; a crashed process's
lease simply expires. Logs older than the retention are pruned hourly.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.background import BackgroundLoop
from hospes.domain.clock import utcnow
from hospes.domain.provisioning import RUNNING_CODES
from hospes.provisioning.applier import ConnectorFactory
from hospes.provisioning.engine import Engine
from hospes.provisioning.journal import prune_logs
from hospes.provisioning.lifecycle import LEASE
from hospes.settings import Settings
from hospes.storage import changelog
from hospes.storage.tables_provisioning import ProvisioningJob

log = logging.getLogger("hospes.provisioning")
PRUNE_EVERY = 3600.0


class ProvisioningRunner(BackgroundLoop):
    thread_name = "provisioning-runner"
    failure_message = "provisioning runner pass failed; retrying"
    logger = log

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        box: SecretBox,
        connector_factory: ConnectorFactory | None = None,
    ) -> None:
        super().__init__()
        self.sessions, self.settings = sessions, settings
        self.engine = Engine(sessions, settings, box, connector_factory)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._jobs: dict[str, threading.Thread] = {}
        self._last_prune = 0.0

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in [self._thread, *self._jobs.values()]:
            if thread is not None:
                thread.join(max(0.1, deadline - time.monotonic()))

    def poll_seconds(self) -> float:
        return self.settings.provisioning_poll_seconds

    def pass_once(self) -> bool:
        self._tick()
        return False  # job threads do the work; the runner only looks for jobs to claim each poll

    def _tick(self) -> None:
        with self.sessions() as session:
            job_ids = list(session.scalars(select(ProvisioningJob.id).where(ProvisioningJob.code.in_(RUNNING_CODES))))
        for job_id in job_ids:
            thread = self._jobs.get(job_id)
            if thread is not None and thread.is_alive():
                continue
            if not self._claim(job_id):
                continue
            thread = threading.Thread(target=self._job_loop, args=(job_id,), name=f"provisioning-{job_id}", daemon=True)
            self._jobs[job_id] = thread
            thread.start()
        if time.monotonic() - self._last_prune > PRUNE_EVERY:
            self._last_prune = time.monotonic()
            prune_logs(self.sessions, self.settings.provisioning_log_retention_days)

    def _claim(self, job_id: str) -> bool:
        now = utcnow()
        with self.sessions.begin() as session:
            result = session.execute(
                update(ProvisioningJob)
                .where(
                    ProvisioningJob.id == job_id,
                    or_(
                        ProvisioningJob.lease_owner.is_(None),
                        ProvisioningJob.lease_owner == self.owner,
                        ProvisioningJob.lease_until < now,
                    ),
                )
                .values(lease_owner=self.owner, lease_until=now + LEASE)
            )
            return bool(getattr(result, "rowcount", 0))

    def _release(self, job_id: str) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(ProvisioningJob)
                .where(ProvisioningJob.id == job_id, ProvisioningJob.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    def _head(self) -> int:
        with self.sessions() as session:
            return changelog.head(session, None)

    def _job_loop(self, job_id: str) -> None:
        """Work on one job while it is active; between passes wait for the change log to move."""
        seen = -1
        idle_since = time.monotonic()
        claimed = time.monotonic()
        try:
            while not self._stop.is_set():
                if time.monotonic() - claimed > LEASE.total_seconds() / 3:
                    if not self._claim(job_id):
                        return  # another process took it over (our lease expired)
                    claimed = time.monotonic()
                head = self._head()
                worked = False
                if head != seen or time.monotonic() - idle_since > 5.0:
                    # The log moved, or a while passed (escrow retries, quarantine retries, reconciliation).
                    worked = self.engine.step(job_id, self._stop)
                    if not worked:
                        seen, idle_since = head, time.monotonic()
                if not worked:
                    with self.sessions() as session:
                        code = session.scalar(select(ProvisioningJob.code).where(ProvisioningJob.id == job_id))
                    if code not in RUNNING_CODES:
                        return
                    self._stop.wait(self.settings.provisioning_poll_seconds)
        except Exception:
            log.exception("provisioning job %s failed; the runner will pick it up again", job_id)
        finally:
            self._release(job_id)
