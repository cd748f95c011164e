"""The one notion of "now": timezone-aware UTC. Components that decide by time take a clock (a callable returning
this) so tests can move time instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)
