"""The sign-in log: one row per sign-in to an app (OpenID Connect, SAML, the token endpoint's grants), success or
failure, in the resource tenant. Written by the sign-in paths, read by the sign-in log surfaces.

A failure is recorded in its own short transaction, so it survives the rollback of whatever failed; a success is
recorded in the transaction that issues what it grants (``add``, ``add_raw``), so the log never shows a sign-in
that did not happen. The token endpoint's grants are sign-ins too, as Entra logs them: redeeming a code or a
refresh token is a non-interactive sign-in of the user, a client-credentials grant a sign-in of the service
principal (``SignInBuffer``: batched, see there).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, insert, or_, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.ids import new_id
from hospes.storage.engine import RawWrite, raw_write
from hospes.storage.tables import User
from hospes.storage.tables_sso import SignIn

log = logging.getLogger(__name__)
_TEXT = 1024
# ``details["signInEventType"]``, Entra's names for the three kinds of sign-in.
INTERACTIVE_USER, NON_INTERACTIVE_USER, SERVICE_PRINCIPAL = "interactiveUser", "nonInteractiveUser", "servicePrincipal"
# An OAuth failure without an AADSTS number of its own: Entra's "there was an error issuing a token".
TOKEN_ERROR = 50000


class Who(Protocol):
    """The user of a sign-in as the log reads it (an ORM ``User``, or the raw row of the refresh grant)."""

    @property
    def id(self) -> str: ...
    @property
    def user_principal_name(self) -> str: ...
    @property
    def display_name(self) -> str | None: ...
    @property
    def user_type(self) -> str: ...
    @property
    def identities(self) -> list[dict[str, Any]]: ...


def home_tenant_of(user: Who | None) -> str | None:
    """A guest's home tenant, when it is one of this deployment's (the identity it redeemed with)."""
    for identity in (user.identities or []) if user is not None else []:
        if identity.get("issuer") == "ExternalAzureAD":
            return str(identity.get("issuerAssignedId") or "").split("/", 1)[0] or None
    return None


@dataclass(frozen=True)
class SignInEvent:
    """What happened. ``error_code`` is the AADSTS number of a failure, 0 for a success."""

    tenant_id: str
    at: datetime
    protocol: str  # oidc | saml | password | clientCredentials | refreshToken | authorizationCode
    app_id: str | None = None
    app_display_name: str | None = None
    user: Who | None = None
    login_name: str | None = None  # what was typed, when no account matched
    home_tenant_id: str | None = None
    interactive: bool = True
    ip_address: str | None = None
    user_agent: str | None = None
    correlation_id: str | None = None
    error_code: int = 0
    failure_reason: str | None = None
    resource_display_name: str | None = None
    conditional_access_status: str = "notApplied"  # success | failure | notApplied
    details: dict[str, Any] = field(default_factory=dict)


def row_values(event: SignInEvent) -> dict[str, Any]:
    """The ``sign_ins`` row of ``event``, column by column."""
    user = event.user
    return dict(
        id=new_id(),
        tenant_id=event.tenant_id,
        created_at=event.at,
        user_id=user.id if user is not None else None,
        user_principal_name=(user.user_principal_name if user is not None else event.login_name or None),
        user_display_name=user.display_name if user is not None else None,
        user_type=user.user_type if user is not None else None,
        home_tenant_id=event.home_tenant_id,
        app_id=event.app_id,
        app_display_name=event.app_display_name,
        resource_display_name=event.resource_display_name,
        protocol=event.protocol,
        is_interactive=event.interactive,
        ip_address=(event.ip_address or "")[:64] or None,
        user_agent=(event.user_agent or "")[:512] or None,
        correlation_id=(event.correlation_id or "")[:64] or None,
        error_code=event.error_code,
        failure_reason=(event.failure_reason or "")[:_TEXT] or None,
        conditional_access_status=event.conditional_access_status,
        details=event.details,
    )


def add(session: Session, event: SignInEvent) -> str:
    """Add the event's row to ``session`` (the caller commits); returns its id."""
    values = row_values(event)
    session.add(SignIn(**values))
    user = event.user
    if user is not None and event.error_code == 0:
        # The portal's "last sign-in" counts a sign-in to an app like one to Hospes's own pages.
        session.execute(*_activity(user.id, event))
    return str(values["id"])


_INSERT = insert(SignIn)


def activity_update(interactive: bool) -> Any:
    """The user's ``signInActivity`` after a successful sign-in: the interactive or non-interactive time, and the
    last successful one. Outside the change log: sign-ins are no directory change for delta or provisioning. A token
    refreshed every few seconds writes at most once a minute."""
    column = User.last_sign_in_at if interactive else User.last_non_interactive_sign_in_at
    at: Any = bindparam("at")
    stmt = update(User).where(User.id == bindparam("uid"))
    if not interactive:
        stmt = stmt.where(or_(column.is_(None), column < bindparam("since")))
    return stmt.values({column: at, User.last_successful_sign_in_at: at})


_QUIET = timedelta(minutes=1)
_INTERACTIVE, _NON_INTERACTIVE = activity_update(True), activity_update(False)


def note_activity(sessions: sessionmaker[Session], user_id: str, at: datetime) -> None:
    """A successful non-interactive sign-in that leaves no sign-in row (a password grant without conditional access
    policies) still counts for ``signInActivity``."""
    with sessions.begin() as session:
        session.execute(_NON_INTERACTIVE, {"uid": user_id, "at": at, "since": at - _QUIET})


def _activity(user_id: str, event: SignInEvent) -> tuple[Any, dict[str, Any]]:
    if event.interactive:
        return _INTERACTIVE, {"uid": user_id, "at": event.at}
    return _NON_INTERACTIVE, {"uid": user_id, "at": event.at, "since": event.at - _QUIET}


def add_raw(write: RawWrite, event: SignInEvent) -> str:
    """``add`` in a raw write transaction (the grants' and the authorization endpoint's)."""
    values = row_values(event)
    write.execute(_INSERT, values)
    user = event.user
    if user is not None and event.error_code == 0:
        write.execute(*_activity(user.id, event))
    return str(values["id"])


def record(sessions: sessionmaker[Session], event: SignInEvent) -> str:
    """Record the event in a transaction of its own (failures, and successes that write nothing else)."""
    with sessions.begin() as session:
        return add(session, event)


def token_event(
    tenant_id: str,
    at: datetime,
    protocol: str,
    address: str,
    *,
    app_id: str | None,
    app_display_name: str | None,
    user: Who | None = None,
    error: tuple[int, str] | None = None,
    details: Mapping[str, Any] | None = None,
    conditional_access_status: str = "notApplied",
) -> SignInEvent:
    """A token-endpoint sign-in: non-interactive, of the user when there is one, else of the service principal.
    ``error``: the AADSTS number and the reason of a failure."""
    kind = NON_INTERACTIVE_USER if protocol != "clientCredentials" else SERVICE_PRINCIPAL
    return SignInEvent(
        tenant_id=tenant_id,
        at=at,
        protocol=protocol,
        app_id=(app_id or "")[:36] or None,
        app_display_name=app_display_name,
        user=user,
        home_tenant_id=home_tenant_of(user),
        interactive=False,
        ip_address=address,
        error_code=error[0] if error else 0,
        failure_reason=error[1] if error else None,
        conditional_access_status=conditional_access_status,
        details={"signInEventType": kind, **(details or {})},
    )


class SignInBuffer:
    """The client-credentials grant's sign-in rows, written in batches by a background thread (at most
    ``interval`` seconds late, or sooner when ``limit`` rows wait), and on ``stop``.

    Why batched rather than aggregated or written per grant: machines call this grant most (a thousand a second is
    the target of one process), and on SQLite a write transaction per grant would queue every grant behind the one
    write lock; a per-client-per-minute count would lose what an investigation wants from each row (when, from which
    address, which failure). A batch keeps one row per grant for the cost of one transaction per second. Failures go
    the same way: a daemon retrying a wrong secret in a loop must not cost a transaction per attempt either (its
    lockout counters and audit rows are written at once by the secret check). What a crash loses is the last
    ``interval`` of rows; the tokens it issued expire within the hour."""

    def __init__(
        self,
        engine: Engine,
        writer_turn: Callable[[], AbstractContextManager[None]] = nullcontext,
        interval: float = 1.0,
        limit: int = 2000,
    ) -> None:
        self.engine, self.writer_turn, self.interval, self.limit = engine, writer_turn, interval, limit
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, event: SignInEvent) -> None:
        """Queue the event's row (no I/O); starts the writer thread when none runs."""
        values = row_values(event)
        with self._lock:
            self._rows.append(values)
            waiting = len(self._rows)
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stop,), name="sign-in-log", daemon=True)
                self._thread.start()
        if waiting >= self.limit:
            self._wake.set()

    def flush(self) -> int:
        """Write the waiting rows in one transaction now; how many."""
        with self._lock:
            rows, self._rows = self._rows, []
        if rows:
            _write(self.engine, self.writer_turn, rows)
        return len(rows)

    def stop(self) -> None:
        """Write what waits and end the thread (the app's shutdown; the next ``add`` starts another)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10)
        self.flush()

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the database away for a moment: those rows are lost, the thread goes on
                log.exception("writing the client-credentials sign-in rows failed")


def _write(
    engine: Engine, writer_turn: Callable[[], AbstractContextManager[None]], rows: Iterable[dict[str, Any]]
) -> None:
    with writer_turn(), raw_write(engine) as write:
        for values in rows:
            write.execute(_INSERT, values)
