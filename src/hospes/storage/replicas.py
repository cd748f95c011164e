"""PostgreSQL streaming replicas for the reads that accept staleness (``Database.eventual_sessions``), and how far
behind each one is (also shown by ``/readyz``)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

# The lag of a standby: zero when it has replayed all it received (an idle primary writes nothing to catch up on),
# else the age of the last transaction it replayed.
_LAG = text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


@dataclass
class ReplicaState:
    url: str
    lag_seconds: float | None  # None: unreachable
    usable: bool


class Replicas:
    """PostgreSQL streaming replicas and how far behind each one is, measured at most once per ``recheck``
    seconds (by whichever thread asks first). Reads rotate over the replicas within ``max_lag`` seconds."""

    def __init__(self, engines: list[Engine], max_lag: float, recheck: float = 1.0) -> None:
        self.engines, self.max_lag, self.recheck = engines, max_lag, recheck
        self.sessions = [sessionmaker(e, expire_on_commit=False) for e in engines]
        self._lock = threading.Lock()
        self._checked = -1e9
        self._usable: list[int] = []
        self._next = 0
        self.states: list[ReplicaState] = []

    def measure(self) -> list[ReplicaState]:
        states = []
        for engine in self.engines:
            try:
                with engine.connect() as conn:
                    lag = float(conn.execute(_LAG).scalar_one())
            except Exception:  # a replica that cannot answer is simply not read
                lag = None
            url = engine.url.render_as_string(hide_password=True)
            states.append(ReplicaState(url, lag, lag is not None and lag <= self.max_lag))
        return states

    def pick(self) -> sessionmaker[Session] | None:
        """A replica within the lag limit (rotating), or None. One thread measures when the last measure is older
        than ``recheck``; the others go on with the last one meanwhile."""
        if time.monotonic() - self._checked >= self.recheck and self._lock.acquire(blocking=False):
            try:
                self._checked = time.monotonic()
                self.states = self.measure()
                self._usable = [i for i, state in enumerate(self.states) if state.usable]
            finally:
                self._lock.release()
        usable = self._usable
        if not usable:
            return None
        self._next += 1
        return self.sessions[usable[self._next % len(usable)]]

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()
