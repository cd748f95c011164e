"""Literal values of rules: text comparison keys, dates, ``system.now`` shifts, regular expressions bounded in time."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import regex

from hospes.membership_rules.errors import RuleEvaluationError

# The scoping filters' bound (``hospes.expressions.scope.REGEX_TIMEOUT``; a test keeps the two equal): a
# catastrophic pattern costs at most this per user, then fails that user's evaluation.
REGEX_TIMEOUT = 0.25

_DURATION = re.compile(
    r"P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?",
    re.IGNORECASE,
)


def text_key(value: Any) -> str:
    """What string comparisons compare: the value's text, case folded (rules ignore case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).casefold()


def parse_datetime(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def duration(text: str) -> dt.timedelta | None:
    """An ISO 8601 duration (``P1D``, ``PT12H``); a year counts 365 days and a month 30."""
    match = _DURATION.fullmatch(text)
    if match is None or text.upper() in ("P", "PT"):
        return None
    n = {k: int(v or 0) for k, v in match.groupdict().items()}
    return dt.timedelta(
        days=365 * n["y"] + 30 * n["mo"] + 7 * n["w"] + n["d"], hours=n["h"], minutes=n["mi"], seconds=n["s"]
    )


def now_function(shift: tuple[str, str] | None, clock: Callable[[], dt.datetime]) -> Callable[[], dt.datetime] | None:
    """``system.now`` with an optional ``-plus``/``-minus`` duration, read when the rule is evaluated."""
    if shift is None:
        return clock
    delta = duration(shift[1])
    if delta is None:
        return None
    if shift[0] == "minus":
        delta = -delta
    return lambda: clock() + delta


def compile_regex(pattern: str) -> Any | None:
    try:
        return regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)
    except (regex.error, ValueError, OverflowError):
        return None


def regex_search(rx: Any, value: str) -> bool:
    """True when ``rx`` matches somewhere in ``value``; a pattern that runs out of time fails the evaluation
    instead of answering."""
    try:
        return rx.search(value, timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        raise RuleEvaluationError(f"a regular expression took longer than {REGEX_TIMEOUT}s") from None
