"""The background workers of a process, built in one place for ``hospes serve`` (inside the app) and ``hospes
worker`` (in the foreground): outbox delivery, the provisioning runner, the portal's bulk-invite jobs and the
housekeeping pass (purge of expired deleted items, change-log and browser-session pruning), the processing of
dynamic groups' membership rules and the durable timers (``services/timers.py``)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.auth.keys import ServerKeys
from hospes.background import BackgroundLoop
from hospes.domain.clock import utcnow
from hospes.mail.outbox import OutboxWorker, wake_on_commit
from hospes.provisioning import ProvisioningRunner
from hospes.services import review_timers
from hospes.services.base import wake_on_change
from hospes.services.directory import prune_change_log, purge_expired
from hospes.services.dynamic_processing import MembershipProcessor
from hospes.services.invitations.jobs_worker import BulkJobWorker
from hospes.services.oidc.grant_rules import prune_expired_grants
from hospes.services.timers import TimerProcessor, prune_done
from hospes.services.web_sessions import prune_expired_sessions
from hospes.settings import Settings
from hospes.storage.engine import Database

log = logging.getLogger("hospes")
COALESCE_SECONDS = 0.05


class Housekeeping(BackgroundLoop):
    """Purges and prunes off the request path, once per ``housekeeping_interval_seconds``."""

    thread_name = "housekeeping"
    failure_message = "housekeeping failed; retrying next interval"
    logger = log

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        super().__init__()
        self.sessions, self.settings = sessions, settings

    def poll_seconds(self) -> float:
        return self.settings.housekeeping_interval_seconds

    def run(self) -> None:
        # The first pass waits one interval, as a process that restarts often must not purge at every start.
        if self._stop.wait(self.poll_seconds()):
            return
        super().run()

    def pass_once(self) -> bool:
        purge_expired(self.sessions, self.settings.deleted_items_retention_days)
        prune_change_log(self.sessions, self.settings.change_log_retention_days)
        prune_expired_sessions(self.sessions, utcnow())
        prune_expired_grants(self.sessions, utcnow())
        prune_done(self.sessions, utcnow() - timedelta(days=self.settings.change_log_retention_days))
        return False


class TimerWorker(BackgroundLoop):
    """Runs the durable timers (``services/timers.py``) as they fall due: every ``timers_poll_seconds``, at once
    again while a full batch was due. Any number of processes may run it; each timer runs once."""

    thread_name = "timers"
    failure_message = "timer pass failed; retrying"
    logger = log

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        review_timers.install(settings)
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.processor = TimerProcessor(sessions, owner)

    def poll_seconds(self) -> float:
        return self.settings.timers_poll_seconds

    def pass_once(self) -> bool:
        return self.processor.pass_once() >= self.processor.batch

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        try:
            self.processor.release()
        except Exception:  # the leases then simply expire
            log.warning("could not hand back the claimed timers; their leases expire on their own")


class DynamicGroupsWorker(BackgroundLoop):
    """Dynamic groups' membership from the change log (``services/dynamic_processing.py``): woken by every commit
    of this process that logs a change, and every ``dynamic_groups_poll_seconds`` for the others' commits; each
    tenant is leased in the database, so however many processes run this, one at a time works on a tenant."""

    thread_name = "dynamic-groups"
    failure_message = "dynamic group processing failed; retrying"
    logger = log

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        review_timers.install(settings)
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.processor = MembershipProcessor(sessions, owner[:64])

    def poll_seconds(self) -> float:
        return self.settings.dynamic_groups_poll_seconds

    def pass_once(self) -> bool:
        more = self.processor.pass_once(self._stop)
        # Woken by every commit, a pass per change would cost more than the changes under a steady stream of
        # writes: a short pause lets the next pass take what committed meanwhile in one window.
        self._stop.wait(COALESCE_SECONDS)
        return more

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        try:
            self.processor.release()
        except Exception:  # the lease then simply expires
            log.warning("could not release the dynamic-group leases; they expire on their own")


@dataclass
class Workers:
    """What runs in the background of one process; ``None`` where that worker is off in this process. The bulk
    worker always exists (the portal wakes it after an upload) but only runs when ``bulk_running``."""

    outbox: OutboxWorker | None
    provisioning: ProvisioningRunner | None
    bulk: BulkJobWorker
    bulk_running: bool
    housekeeping: Housekeeping | None
    dynamic_groups: DynamicGroupsWorker | None = None
    timers: TimerWorker | None = None

    def _running(self) -> list[BackgroundLoop]:
        loops: list[BackgroundLoop | None] = [
            self.housekeeping,
            self.outbox,
            self.provisioning,
            self.bulk if self.bulk_running else None,
            self.dynamic_groups,
            self.timers,
        ]
        return [loop for loop in loops if loop is not None]

    def start(self) -> None:
        for loop in self._running():
            loop.start()

    def stop(self, timeout: float | None = None) -> None:
        for loop in reversed(self._running()):
            if timeout is None:
                loop.stop()
            else:
                loop.stop(timeout)

    def wake_bulk(self) -> None:
        if self.bulk_running:
            self.bulk.wake()


def build_workers(
    settings: Settings,
    database: Database,
    box: SecretBox,
    keys: ServerKeys,
    *,
    mail: bool,
    provisioning: bool,
    bulk: bool,
    housekeeping: bool,
    dynamic_groups: bool = False,
    timers: bool = False,
) -> Workers:
    sessions = database.sessions
    outbox = OutboxWorker(sessions, settings) if mail else None
    if outbox is not None:
        wake_on_commit(sessions, outbox.wake)
    dynamic = DynamicGroupsWorker(sessions, settings) if dynamic_groups else None
    if dynamic is not None:
        wake_on_change(sessions, dynamic.wake)
    return Workers(
        outbox=outbox,
        provisioning=ProvisioningRunner(sessions, settings, box) if provisioning else None,
        bulk=BulkJobWorker(database, settings, box, keys.seal),
        bulk_running=bulk,
        housekeeping=Housekeeping(sessions, settings) if housekeeping else None,
        dynamic_groups=dynamic,
        timers=TimerWorker(sessions, settings) if timers else None,
    )
