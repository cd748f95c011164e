"""Group commit of invitations: many new guests in one transaction, one writer thread per process. This is about
throughput of ``POST /invitations`` calls that arrive together; ``bulk`` (rows of one request or file) and
``jobs`` (the portal's durable uploads) send their rows through here too.

Under load, ``POST /invitations`` calls arrive faster than one transaction each can commit: on SQLite the single
write lock changes hands per call, and on both databases the per-transaction work (begin, flush, commit, a thread
per call fighting for the GIL) costs more than the rows. ``InvitationBatcher`` queues the calls; its thread takes
every call waiting when it is free (up to ``MAX_BATCH``), prepares them in one read snapshot and commits every
plain new-guest invitation among them in ONE transaction. Each invitation is decided by the same code as a single
one (``InvitationService.prepare`` / ``commit``) and audited on its own; only the transaction is shared.

What is not a plain new guest (re-invite, resetRedemption, explicit sponsors, an address twice in one batch, an
invitee that appeared since the snapshot) runs afterwards on its own through ``InvitationService.invite``. A batch
that fails as a whole (a unique-index race with another process, an invitation that failed after adding rows) is
rolled back and every call in it runs on its own: none is lost, none is applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CompoundSelect, Table, insert, inspect, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.schema import sort_tables

from hospes.domain.errors import DomainError
from hospes.domain.invitation import InvitationRequest
from hospes.logs import RequestContext, acting_for
from hospes.logs import current as current_request
from hospes.services.base import Write, order_with_other_writers
from hospes.services.invitations.guests import guest_upn, initial_domain
from hospes.services.invitations.service import (
    AlsoHook,
    DeferredInvitation,
    InvitationPlan,
    InvitationResult,
    InvitationService,
)
from hospes.storage.tables import B2BPolicy, InvitationBlock, Tenant, User

log = logging.getLogger("hospes.invitations")
MAX_BATCH = 64
Outcome = InvitationResult | Exception  # the invitation, or what refused it (a DomainError) or broke it
CATEGORY, ACTIVITY = "Invitation", "Invite external user"


@dataclass
class _Job:
    service: InvitationService
    req: InvitationRequest
    plan: InvitationPlan | None = None
    outcome: Outcome | None = None
    context: RequestContext | None = None  # the request that asked, when it waits in another thread


class _BatchAbort(Exception):  # noqa: N818 - a signal
    """An invitation failed after adding rows to the shared transaction: redo the batch one by one."""


@dataclass
class BatchLookups:
    """Reads shared by the invitations of one batch, valid for one session: its read snapshot, or its write
    transaction (which, on SQLite, holds the write lock; on PostgreSQL, a concurrent insert of the same guest still
    hits the unique index). ``InvitationService.prepare`` and ``commit`` take it as their ``batch``."""

    absent: set[tuple[str, str]] = field(default_factory=set)  # (tenant, key): no user has this mail or UPN key
    blocked: dict[tuple[str, str], bool] = field(default_factory=dict)  # (tenant, email key): blocked the tenant
    policies: dict[str, B2BPolicy] = field(default_factory=dict)
    home_languages: dict[str, str | None] = field(default_factory=dict)  # email domain -> its tenant's language
    tenants: dict[str, Tenant] = field(default_factory=dict)
    initial_domains: dict[str, str] = field(default_factory=dict)

    @classmethod
    def prefetch(cls, s: Session, invitees: list[tuple[str, str]]) -> BatchLookups:
        """For (tenant, email) pairs: which have no user yet and which blocked the tenant, two queries per tenant
        instead of several per invitation."""
        lookups = cls()
        emails: dict[str, set[str]] = {}
        for tenant_id, email in invitees:
            emails.setdefault(tenant_id, set()).add(email)
        for tenant_id, wanted in emails.items():
            initial = initial_domain(s, tenant_id, lookups)
            keys = {e.lower() for e in wanted} | {guest_upn(e, initial).lower() for e in wanted}
            found: CompoundSelect[tuple[str | None]] = union_all(
                select(User.mail_key).where(User.tenant_id == tenant_id, User.mail_key.in_(keys)),
                select(User.upn_key).where(User.tenant_id == tenant_id, User.upn_key.in_(keys)),
            )
            present: set[str] = set(s.scalars(found))
            lookups.absent.update((tenant_id, key) for key in keys - present)
            email_keys = {e.lower() for e in wanted}
            query = select(InvitationBlock.email_key).where(
                InvitationBlock.tenant_id == tenant_id, InvitationBlock.email_key.in_(email_keys)
            )
            blocked = set(s.scalars(query))
            lookups.blocked.update(((tenant_id, key), key in blocked) for key in email_keys)
        return lookups


def invite_many(
    calls: Sequence[tuple[InvitationService, InvitationRequest]],
    *,
    also: AlsoHook | None = None,
    contexts: Sequence[RequestContext | None] = (),
) -> list[Outcome]:
    """Each call's outcome, in order: one call's failure, expected or not, is that call's alone. ``also`` runs in
    each invitation's transaction (``InvitationService.invite``). ``contexts``: each call's request (its id goes
    into the audit row), when the calls come from requests served by other threads."""
    jobs = [_Job(service, req) for service, req in calls]
    for job, context in zip(jobs, contexts, strict=False):
        job.context = context
    # A hook may write change rows of its own: those must follow the per-tenant ordering lock, which a shared batch
    # takes only at its end, so hooked invitations run one by one.
    batched = _batchable(jobs) if also is None else []
    if len(batched) > 1:
        try:
            _commit_together(batched, also)
        except Exception as exc:  # rolled back as a whole: each runs on its own
            if not isinstance(exc, _BatchAbort | IntegrityError):
                log.warning("invitation batch failed (%s: %s); running each on its own", type(exc).__name__, exc)
            for job in batched:
                job.outcome = None
    for job in jobs:  # in the callers' order: a second invitation of an address re-invites the first's guest
        if job.outcome is None:
            try:
                with acting_for(job.context):
                    job.outcome = job.service.invite(job.req, also=also)
            except Exception as exc:
                job.outcome = exc
    return [job.outcome for job in jobs if job.outcome is not None]


def _batchable(jobs: list[_Job]) -> list[_Job]:
    seen: set[tuple[str, str]] = set()
    out: list[_Job] = []
    for job in jobs:
        req, key = job.req, (job.service.tenant_id, job.req.email.lower())
        if req.reset_redemption or req.invited_user_id or req.sponsors or key in seen:
            continue
        if job.service.database is not jobs[0].service.database:
            continue
        seen.add(key)
        out.append(job)
    return out


def _commit_together(jobs: list[_Job], also: AlsoHook | None) -> None:
    database = jobs[0].service.database
    invitees = [(job.service.tenant_id, job.req.email) for job in jobs]
    with database.read_sessions() as snapshot:
        lookups = BatchLookups.prefetch(snapshot, invitees)
        for job in jobs:
            try:
                job.plan = job.service.prepare(job.req, snapshot, lookups)
            except DomainError as exc:
                job.outcome = exc
    ready = [job for job in jobs if job.plan is not None]
    if not ready:
        return
    session = database.sessions()
    try:
        # No autoflush: nothing is written before _insert_new_rows, which sends each table's rows at once.
        with database.writer_turn(), session.begin(), session.no_autoflush:
            lookups = BatchLookups.prefetch(session, [(job.service.tenant_id, job.req.email) for job in ready])
            for job in ready:
                with acting_for(job.context):
                    _commit_one(session, job, lookups, also)
            # The change-log ordering lock (PostgreSQL) only now, for the inserts and the commit: taken with the
            # first change, it was held while the whole batch was assembled. Sorted: no two batches deadlock.
            for tenant_id in sorted(
                {job.service.tenant_id for job in ready if isinstance(job.outcome, InvitationResult)}
            ):
                order_with_other_writers(session, tenant_id)
            _insert_new_rows(session)
    finally:
        session.close()


def _commit_one(session: Session, job: _Job, lookups: BatchLookups, also: AlsoHook | None) -> None:
    assert job.plan is not None
    service = job.service
    op = Write(session=session, actor=service.actor, now=service.clock())
    op.ordered = True  # the batch takes the change-log ordering locks itself, just before its inserts
    added = len(session.new)
    try:
        job.outcome = service.commit(op, job.req, job.plan, batch=lookups, also=also)
    except DeferredInvitation:
        return
    except DomainError as exc:
        if len(session.new) != added:
            raise _BatchAbort() from exc
        session.add(service.audit_row(op, CATEGORY, ACTIVITY, "failure", exc.message))
        job.outcome = exc
        return
    session.add(service.audit_row(op, CATEGORY, ACTIVITY, "success", None))


def _insert_new_rows(session: Session) -> None:
    """Insert the batch's new objects table by table with Core ``INSERT``s (executemany) instead of the ORM's
    unit of work, which cost a fifth of a batch. Only the attributes each object had set are written, so
    column defaults apply as in a flush; the objects are then detached, keeping those values for the answers."""
    by_table: dict[Table, dict[frozenset[str], list[dict[str, Any]]]] = {}
    for obj in list(session.new):
        state = inspect(obj)
        table = state.mapper.local_table
        assert isinstance(table, Table)
        columns = {attr.key: attr.columns[0].key for attr in state.mapper.column_attrs}
        row = {columns[k]: v for k, v in state.dict.items() if k in columns}
        by_table.setdefault(table, {}).setdefault(frozenset(row), []).append(row)
        session.expunge(obj)
    for table in sort_tables(by_table):  # referenced tables first
        for rows in by_table[table].values():
            session.execute(insert(table), rows)


_Queued = tuple[InvitationService, InvitationRequest, "asyncio.Future[Outcome]", RequestContext | None]


class InvitationBatcher:
    """The asyncio face of ``invite_many``: ``await batcher.invite(service, req)`` from any event loop."""

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Queued | None]
        self._queue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def invite(self, service: InvitationService, req: InvitationRequest) -> InvitationResult:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._ensure_thread()
        self._queue.put((service, req, future, current_request()))
        outcome = await future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="invitations", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._settle_all(batch)

    @staticmethod
    def _settle_all(batch: list[_Queued]) -> None:
        try:
            outcomes = invite_many([(s, r) for s, r, _, _ in batch], contexts=[c for _, _, _, c in batch])
        except Exception as exc:  # a bug: every caller gets a 500 rather than waiting forever
            log.exception("invitation batch failed")
            outcomes = [exc] * len(batch)
        for (_, _, future, _), outcome in zip(batch, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # RuntimeError: that caller's event loop is gone
                future.get_loop().call_soon_threadsafe(_settle, future, outcome)


def _settle(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():  # done: the caller went away
        future.set_result(outcome)
