"""What a cycle records: each object's new state (its ``provisioned_objects`` row: target id, what was exported,
escrow) and its log row, in one transaction per group of objects, written by one writer thread.

Crash safety: an object's state is committed right after the target accepted it, so a process killed
mid-cycle re-plans on restart and finds the done objects unchanged. The writer groups the objects finished in the
last few milliseconds, so a cycle of thousands of objects is not thousands of transactions; a crash loses at most
the objects of the open group, which the next run re-matches in the target (never re-creates).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import Clock, utcnow
from hospes.domain.provisioning import Action, CycleKind, Status
from hospes.provisioning.applier import Outcome, step
from hospes.provisioning.lease import JobLease, LostLeaseError
from hospes.provisioning.lease import check as check_lease
from hospes.provisioning.lifecycle import CycleInfo, escrow_delay
from hospes.provisioning.planner import ObjState, Work
from hospes.storage.tables_provisioning import ProvisionedObject, ProvisioningLog

log = logging.getLogger("hospes.provisioning")

GROUP_WAIT = 0.005  # seconds the writer waits for other workers' objects to join its transaction
GROUP_MAX = 500  # objects per transaction
_IN_CHUNK = 500


def load_states(session: Session, job_id: str, kind: str, ids: list[str] | None) -> dict[str, ObjState]:
    """What the job last exported for these source objects (all of the kind when ``ids`` is None)."""
    stmt = select(ProvisionedObject).where(ProvisionedObject.job_id == job_id, ProvisionedObject.source_type == kind)
    rows: Iterable[ProvisionedObject]
    if ids is None:
        rows = session.scalars(stmt)
    else:
        rows = []
        for i in range(0, len(ids), _IN_CHUNK):
            rows = [*rows, *session.scalars(stmt.where(ProvisionedObject.source_id.in_(ids[i : i + _IN_CHUNK])))]
    return {
        row.source_id: ObjState(
            row.target_id,
            row.target_version,
            row.state,
            dict(row.exported or {}),
            list(row.members or []),
            row.escrow_count,
        )
        for row in rows
    }


def prune_logs(sessions: sessionmaker[Session], retention_days: int, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    with sessions.begin() as session:
        result = session.execute(delete(ProvisioningLog).where(ProvisioningLog.at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


@dataclass
class Journal:
    sessions: sessionmaker[Session]
    info: CycleInfo
    clock: Clock
    escrow_base_seconds: float
    lease: JobLease | None = None  # fences every write (None: provision on demand)

    def log_values(self, work: Work, outcome: Outcome) -> dict[str, Any]:
        target_id = (outcome.state.target_id if outcome.state else None) or (
            work.state.target_id if work.state else None
        )
        return {
            "tenant_id": self.info.tenant_id,
            "job_id": self.info.job_id,
            "sp_id": self.info.sp_id,
            "cycle_id": self.info.cycle_id,
            "change_id": str(uuid.uuid4()),
            "at": outcome.at or self.clock(),
            "duration_ms": outcome.duration_ms,
            "action": outcome.action,
            "status": outcome.status,
            "source_type": work.kind,
            "source_id": work.source_id,
            "source_name": (work.display or "")[:256],
            "target_id": target_id,
            "steps": outcome.steps,
            "modified": outcome.modified,
            "error": outcome.error,
        }

    def record_held(self, works: list[Work], held: str) -> None:
        """Log rows for the disables and deletes the deletion threshold held back (``stagedDelete``)."""
        with self.sessions.begin() as session:
            for work in works:
                note = step(
                    "EntryExportStagedDelete",
                    "export",
                    Status.SKIPPED,
                    f"The {work.action} of {work.kind} '{work.display}' is held: {held}",
                )
                outcome = Outcome(Action.STAGED_DELETE, Status.SKIPPED, work.state, [note], [])
                session.add(ProvisioningLog(**self.log_values(work, outcome)))

    def commit(self, work: Work, outcome: Outcome) -> None:
        """The object's new state and its log row, in one transaction (the crash-safety unit)."""
        self.commit_many([(work, outcome)])

    def _state_values(self, work: Work, outcome: Outcome, now: datetime) -> dict[str, Any] | None:
        escrow = outcome.status == Status.FAILURE and outcome.escrow
        if outcome.state is None and not escrow:
            return None
        base = work.state or ObjState()
        state = outcome.state or base
        values: dict[str, Any] = {
            "job_id": self.info.job_id,
            "source_type": work.kind,
            "source_id": work.source_id,
            "tenant_id": self.info.tenant_id,
            "target_id": state.target_id,
            "target_version": state.version,
            "state": state.state,
            "display_name": (work.display or "")[:256],
            "exported": state.exported,
            "members": state.members,
            "escrow_count": 0,
            "escrow_next_at": None,
            "last_error": None,
            "updated_at": now,
        }
        if escrow:
            count = base.escrow_count + 1
            values.update(
                escrow_count=count,
                escrow_next_at=now + escrow_delay(count, self.escrow_base_seconds),
                last_error=(outcome.error or {}).get("reason"),
            )
        return values

    def commit_many(self, items: list[tuple[Work, Outcome]]) -> None:
        """Object states (upserted) and log rows of several objects in one transaction. Skipped objects are
        logged only by incremental passes and on demand: a full cycle would log every unchanged object."""
        now = self.clock()
        states: list[dict[str, Any]] = []
        logs: list[dict[str, Any]] = []
        for work, outcome in items:
            values = self._state_values(work, outcome, now)
            if values is not None:
                states.append(values)
            if outcome.status != Status.SKIPPED or self.info.kind == CycleKind.INCREMENTAL or self.info.on_demand:
                logs.append(self.log_values(work, outcome))
        with self.sessions.begin() as session:
            check_lease(session, self.lease)
            if states:
                dialect = session.get_bind().dialect.name
                make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
                stmt = make_insert(ProvisionedObject)
                keys = ("job_id", "source_type", "source_id")
                stmt = stmt.on_conflict_do_update(
                    index_elements=list(keys),
                    set_={name: getattr(stmt.excluded, name) for name in states[0] if name not in keys},
                )
                session.execute(stmt, states)
            if logs:
                session.execute(insert(ProvisioningLog), logs)

    @contextmanager
    def writer(self, on_failure: Callable[[], None], group: bool = True) -> Iterator[Callable[[Work, Outcome], None]]:
        """A writer thread for the objects applied inside the block; the block gets the function that hands
        one over. If the database fails, ``on_failure`` is called: the cycle stops after the objects in flight
        and is retried from the watermark. ``group=False``: a single object, nothing to wait for."""
        items: queue.Queue[tuple[Work, Outcome] | None] = queue.Queue()
        thread = threading.Thread(
            target=self._write_loop, args=(items, on_failure, group), name=f"prov-writer-{self.info.job_id[-6:]}"
        )
        thread.start()
        try:
            yield lambda work, outcome: items.put((work, outcome))
        finally:
            items.put(None)
            thread.join()

    def _write_loop(
        self, items: queue.Queue[tuple[Work, Outcome] | None], on_failure: Callable[[], None], group: bool
    ) -> None:
        done = False
        while not done:
            item = items.get()
            if item is None:
                return
            if group:
                time.sleep(GROUP_WAIT)  # let the other workers' objects join this transaction
            batch = [item]
            while len(batch) < GROUP_MAX:
                try:
                    more = items.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    done = True
                    break
                batch.append(more)
            try:
                self.commit_many(batch)
            except LostLeaseError:  # another runner holds the job: stop, recording nothing more
                log.warning("provisioning job %s: the lease was taken over; stopping", self.info.job_id)
                on_failure()
            except Exception:  # the database is unavailable: stop the pass, it is retried from the watermark
                log.exception("provisioning job %s could not record %d objects", self.info.job_id, len(batch))
                on_failure()
