"""A clock tests move by hand, for components that take ``clock`` (and ``sleep``) instead of reading the time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from hospes.domain.clock import utcnow


class FakeClock:
    """Reading it never moves it; ``sleep`` moves it instead of waiting (thread-safe: the engine reads and sleeps
    from several worker threads). Starts at the real time, so rows it stamps sort with other tests' rows."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)
