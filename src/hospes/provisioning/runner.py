"""The background runner: inside ``hospes serve`` (like the outbox worker) and ``hospes worker``.

Every ``HOSPES_PROVISIONING_CLAIM_SECONDS`` the runner claims free jobs in one statement, up to
``HOSPES_PROVISIONING_JOBS_PER_WORKER`` and its fair share (``lease.py``); each job it holds gets its own thread,
which watches the change log's head (a primary-key ``max(seq)``, cheap) every ``HOSPES_PROVISIONING_POLL_SECONDS``,
so a long initial cycle of one app never delays another app's incremental changes. The lease is renewed while the
job runs and fences every write (``lease_epoch``): a runner that lost it stops without recording anything; a
crashed process's lease simply expires and another worker takes the job up from its watermark.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.background import BackgroundLoop, owner_id
from hospes.domain.provisioning import RUNNING_CODES
from hospes.provisioning.applier import ConnectorFactory
from hospes.provisioning.engine import Engine
from hospes.provisioning.lease import JobLease, LostLeaseError, claim, release, release_all, renew
from hospes.settings import Settings
from hospes.storage import changelog
from hospes.storage.tables_provisioning import ProvisioningJob

log = logging.getLogger("hospes.provisioning")
BACKOFF_HANDED_BACK = timedelta(seconds=10)  # a job backing off longer frees its worker's slot meanwhile


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
        self.owner = owner_id()
        self._jobs: dict[str, threading.Thread] = {}
        self._halts: dict[str, threading.Event] = {}  # per job: set on a stop or a lost lease
        self.reads = self.engine.read_sessions  # the polls take no write lock on SQLite

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        for halt in list(self._halts.values()):
            halt.set()
        deadline = time.monotonic() + timeout
        for thread in [self._thread, *self._jobs.values()]:
            if thread is not None:
                thread.join(max(0.1, deadline - time.monotonic()))
        try:
            release_all(self.sessions, self.owner)  # a job thread still busy past the deadline
        except Exception:  # the leases then expire on their own
            log.warning("could not hand back the provisioning leases; they expire on their own")

    def poll_seconds(self) -> float:
        return min(self.settings.provisioning_claim_seconds, 8 * self.settings.provisioning_poll_seconds)

    def pass_once(self) -> bool:
        self._tick()
        return False  # job threads do the work; the runner only looks for jobs to claim each poll

    def _tick(self) -> None:
        self._jobs = {job_id: thread for job_id, thread in self._jobs.items() if thread.is_alive()}
        cap = self.settings.provisioning_jobs_per_worker
        free, seconds = cap - len(self._jobs), self.settings.provisioning_lease_seconds
        for lease in claim(self.sessions, self.owner, free, len(self._jobs), seconds):
            thread = threading.Thread(
                target=self._job_loop, args=(lease,), name=f"provisioning-{lease.job_id}", daemon=True
            )
            self._jobs[lease.job_id] = thread
            thread.start()

    def _head(self) -> int:
        with self.reads() as session:
            return changelog.head(session, None)

    def _heartbeat(self, lease: JobLease, done: threading.Event, halt: threading.Event) -> None:
        """Renew the lease every third of it while the job's thread works, whatever it is doing (one slow object,
        a long phase); a lost lease halts the job (its writes are fenced anyway)."""
        while not done.wait(lease.seconds / 3):
            try:
                with self.sessions.begin() as session:
                    held = renew(session, lease)
            except Exception:  # the next beat tries again; the lease has two more thirds to run
                log.warning("provisioning job %s: renewing the lease failed", lease.job_id, exc_info=True)
                continue
            if not held:
                log.warning("provisioning job %s: the lease was taken over; stopping", lease.job_id)
                halt.set()
                return

    def _job_loop(self, lease: JobLease) -> None:
        """Work on one job while it is active and the lease holds; between passes wait for the change log."""
        job_id = lease.job_id
        seen = -1
        idle_since = time.monotonic()
        halt, done = threading.Event(), threading.Event()
        self._halts[job_id] = halt
        if self._stop.is_set():
            halt.set()
        beat = threading.Thread(target=self._heartbeat, args=(lease, done, halt), name=f"lease-{job_id}"[:32])
        beat.start()
        try:
            while not halt.is_set():
                head = self._head()
                worked = False
                if head != seen or time.monotonic() - idle_since > 5.0:
                    # The log moved, or a while passed (escrow retries, quarantine retries, reconciliation).
                    worked = self.engine.step(job_id, halt, lease)
                    if not worked:
                        seen, idle_since = head, time.monotonic()
                if not worked:
                    with self.reads() as session:
                        code, next_at = session.execute(
                            select(ProvisioningJob.code, ProvisioningJob.next_attempt_at).where(
                                ProvisioningJob.id == job_id
                            )
                        ).one()
                    if code not in RUNNING_CODES:
                        return
                    if next_at is not None and next_at > self.engine.clock() + BACKOFF_HANDED_BACK:
                        return  # backing off (target down, quarantine): claimed again once due, by any worker
                    halt.wait(self.settings.provisioning_poll_seconds)
        except LostLeaseError:
            log.warning("provisioning job %s: the lease was taken over; stopped without writing", job_id)
        except Exception:
            log.exception("provisioning job %s failed; the runner will pick it up again", job_id)
        finally:
            done.set()
            beat.join()
            self._halts.pop(job_id, None)
            release(self.sessions, lease)
