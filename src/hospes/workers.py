"""The background workers of a process, built in one place for ``hospes serve`` (inside the app) and ``hospes
worker`` (in the foreground): outbox delivery, the provisioning runner, the portal's bulk-invite jobs, the
processing of dynamic groups' membership rules, the durable timers (``services/timers.py``) and the scheduler of
periodic tasks (purge of expired deleted items, change-log, browser-session and log pruning). Every one coordinates
through the database alone (leases compared in database time), so any number of processes on any number of hosts
may run them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.auth.keys import ServerKeys
from hospes.background import BackgroundLoop, owner_id
from hospes.domain.clock import utcnow
from hospes.mail.outbox import OutboxWorker, wake_on_commit
from hospes.provisioning import ProvisioningRunner
from hospes.provisioning.journal import prune_logs
from hospes.services import review_timers
from hospes.services.base import wake_on_change
from hospes.services.directory import prune_change_log, purge_expired
from hospes.services.dynamic_processing import MembershipProcessor
from hospes.services.entitlement.automatic import reconcile_all
from hospes.services.entitlement.lifecycle import timer_handlers
from hospes.services.entitlement.notify import EmConfig
from hospes.services.invitations.jobs import RETENTION as BULK_RETENTION
from hospes.services.invitations.jobs import prune as prune_bulk_jobs
from hospes.services.invitations.jobs_worker import BulkJobWorker
from hospes.services.oidc.grant_rules import prune_expired_grants
from hospes.services.scheduler import PeriodicTask, Scheduler
from hospes.services.sign_in_retention import prune_sign_ins
from hospes.services.timers import HANDLERS as REGISTERED_TIMERS
from hospes.services.timers import TimerProcessor, prune_done
from hospes.services.web_sessions import prune_expired_sessions
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.notify import BULK, OUTBOX, Listener

log = logging.getLogger("hospes")
COALESCE_SECONDS = 0.05
HOUR = 3600.0


def periodic_tasks(sessions: sessionmaker[Session], settings: Settings) -> list[PeriodicTask]:
    """Every periodic task of the deployment, each run once per period across the fleet by the scheduler
    (``services/scheduler.py``). A new one is a line here: a name, a period in seconds, a function."""
    every = settings.housekeeping_interval_seconds
    return [
        PeriodicTask(
            "purge-deleted-items", every, lambda: purge_expired(sessions, settings.deleted_items_retention_days)
        ),
        PeriodicTask("prune-change-log", every, lambda: prune_change_log(sessions, settings.change_log_retention_days)),
        PeriodicTask("prune-sign-ins", every, lambda: prune_sign_ins(sessions, utcnow())),
        PeriodicTask("prune-web-sessions", every, lambda: prune_expired_sessions(sessions, utcnow())),
        PeriodicTask("prune-oidc-grants", every, lambda: prune_expired_grants(sessions, utcnow())),
        PeriodicTask(
            "prune-provisioning-logs",
            HOUR,
            lambda: prune_logs(sessions, settings.provisioning_log_retention_days),
        ),
        PeriodicTask("prune-bulk-jobs", HOUR, lambda: prune_bulk_jobs(sessions, utcnow() - BULK_RETENTION)),
        PeriodicTask(
            "entitlement-automatic-assignments",
            every,
            lambda: reconcile_all(sessions, EmConfig.from_settings(settings)),
        ),
        PeriodicTask(
            "prune-done-timers",
            every,
            lambda: prune_done(sessions, utcnow() - timedelta(days=settings.change_log_retention_days)),
        ),
    ]


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
        # Handlers registered by their modules (``@timers.handler``, ``install``), and those bound to this process's
        # settings.
        handlers = {**REGISTERED_TIMERS, **timer_handlers(EmConfig.from_settings(settings))}
        lease = timedelta(seconds=settings.timers_lease_seconds)
        self.processor = TimerProcessor(sessions, owner_id(), handlers=handlers, lease=lease)

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
        self.processor = MembershipProcessor(sessions, owner_id())

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
    scheduler: Scheduler | None
    dynamic_groups: DynamicGroupsWorker | None = None
    timers: TimerWorker | None = None
    listener: Listener | None = None  # PostgreSQL wake-ups from other hosts' commits

    def _running(self) -> list[BackgroundLoop]:
        loops: list[BackgroundLoop | None] = [
            self.scheduler,
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
        if self.listener is not None:
            self.listener.start()

    def stop(self, timeout: float | None = None) -> None:
        if self.listener is not None:
            self.listener.stop()
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
    scheduler: bool,
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
    wakes: dict[str, Callable[[], None]] = {}
    if outbox is not None:
        wakes[OUTBOX] = outbox.wake
    bulk_worker = BulkJobWorker(database, settings, box, keys.seal)
    if bulk:
        wakes[BULK] = bulk_worker.wake
    url = settings.effective_database_url
    return Workers(
        listener=Listener(url, wakes) if url.startswith("postgresql") and wakes else None,
        outbox=outbox,
        provisioning=ProvisioningRunner(sessions, settings, box) if provisioning else None,
        bulk=bulk_worker,
        bulk_running=bulk,
        scheduler=Scheduler(sessions, periodic_tasks(sessions, settings)) if scheduler else None,
        dynamic_groups=dynamic,
        timers=TimerWorker(sessions, settings) if timers else None,
    )
