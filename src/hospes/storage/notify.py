"""Wake-ups across hosts: PostgreSQL ``NOTIFY`` in the transaction that made work (delivered only if it commits),
``LISTEN`` in the processes that run the workers. Only a hint: every worker also polls, so a lost notification (a
listener reconnecting, PgBouncer in transaction mode, SQLite) only means the next poll finds the work."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger("hospes")
OUTBOX = "hospes_outbox"
BULK = "hospes_bulk"
RECONNECT_SECONDS = 5.0


def notify(session: Session, channel: str) -> None:
    """Wake the listeners of ``channel`` when the session's transaction commits (PostgreSQL; elsewhere nothing)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class Listener:
    """A thread holding one PostgreSQL connection that LISTENs to ``wakes``' channels and calls their function on
    each notification."""

    def __init__(self, url: str, wakes: dict[str, Callable[[], None]]) -> None:
        self.url, self.wakes = url.replace("postgresql+psycopg://", "postgresql://", 1), wakes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listen", daemon=True)

    def start(self) -> None:
        if self.wakes:
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    for channel in self.wakes:
                        conn.execute(f'LISTEN "{channel}"')
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            wake = self.wakes.get(note.channel)
                            if wake is not None:
                                wake()
            except Exception:  # the database went away: polling covers the gap, listen again shortly
                log.warning("LISTEN connection lost; workers poll until it is back", exc_info=True)
                self._stop.wait(RECONNECT_SECONDS)
