""".NET date handling used by CDate, FormatDateTime, DateAdd, DateDiff, DateFromNum, NumFromDate and Now.

The reference service runs on .NET: dates print as ``M/d/yyyy h:mm:ss tt`` (invariant culture, UTC) and
FormatDateTime takes .NET custom format strings. This module implements the invariant-culture subset of those
formats (every custom specifier and the common one-letter standard formats), both directions.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from hospes.expressions.errors import ExpressionEvaluationError

MONTHS = [calendar.month_name[i] for i in range(1, 13)]
MONTHS_ABBR = [calendar.month_abbr[i] for i in range(1, 13)]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DAYS_ABBR = [d[:3] for d in DAYS]
FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

# One-letter standard formats, spelled as the invariant culture's custom patterns.
STANDARD_FORMATS = {
    "d": "MM/dd/yyyy",
    "D": "dddd, dd MMMM yyyy",
    "f": "dddd, dd MMMM yyyy HH:mm",
    "F": "dddd, dd MMMM yyyy HH:mm:ss",
    "g": "MM/dd/yyyy HH:mm",
    "G": "MM/dd/yyyy HH:mm:ss",
    "M": "MMMM dd",
    "m": "MMMM dd",
    "o": "yyyy-MM-ddTHH:mm:ss.fffffffK",
    "O": "yyyy-MM-ddTHH:mm:ss.fffffffK",
    "s": "yyyy-MM-ddTHH:mm:ss",
    "t": "HH:mm",
    "T": "HH:mm:ss",
    "u": "yyyy-MM-dd HH:mm:ssZ",
    "Y": "yyyy MMMM",
    "y": "yyyy MMMM",
}
_SPEC_LETTERS = set("yMdHhmsfFtzKg")


def format_reference(value: datetime) -> str:
    """The reference service's output format ``M/d/yyyy h:mm:ss tt``, in UTC."""
    v = value.astimezone(UTC) if value.tzinfo else value
    hour12 = v.hour % 12 or 12
    ampm = "AM" if v.hour < 12 else "PM"
    return f"{v.month}/{v.day}/{v.year} {hour12}:{v.minute:02d}:{v.second:02d} {ampm}"


Token = tuple[str, str]  # ("spec", "yyyy") or ("lit", "-")


@lru_cache(maxsize=256)
def tokenize(fmt: str) -> tuple[Token, ...]:
    """Split a .NET date format string into specifiers and literals; raise ValueError when malformed."""
    if len(fmt) == 1:
        if fmt not in STANDARD_FORMATS:
            raise ValueError(f"unknown standard date format {fmt!r}")
        fmt = STANDARD_FORMATS[fmt]
    tokens: list[Token] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch in "'\"":
            end = fmt.find(ch, i + 1)
            if end < 0:
                raise ValueError(f"unterminated quote in date format {fmt!r}")
            tokens.append(("lit", fmt[i + 1 : end]))
            i = end + 1
        elif ch == "\\":
            if i + 1 >= len(fmt):
                raise ValueError(f"trailing backslash in date format {fmt!r}")
            tokens.append(("lit", fmt[i + 1]))
            i += 2
        elif ch == "%" and i + 1 < len(fmt) and fmt[i + 1] in _SPEC_LETTERS:
            tokens.append(("spec", fmt[i + 1]))
            i += 2
        elif ch in _SPEC_LETTERS:
            j = i
            while j < len(fmt) and fmt[j] == ch:
                j += 1
            run = fmt[i:j]
            if ch in "fF" and len(run) > 7:
                raise ValueError(f"too many {ch!r} in date format {fmt!r}")
            tokens.append(("spec", run))
            i = j
        else:
            tokens.append(("lit", ch))
            i += 1
    return tuple(tokens)


def _offset_text(value: datetime, spec: str) -> str:
    off = value.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    total = abs(int(off.total_seconds())) // 60
    hours, minutes = divmod(total, 60)
    if spec == "z":
        return f"{sign}{hours}"
    if spec == "zz":
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}"


def format_dotnet(value: datetime, fmt: str) -> str:
    """Format ``value`` with a .NET custom (or one-letter standard) format string, invariant culture."""
    out: list[str] = []
    for kind, text in tokenize(fmt):
        if kind == "lit":
            out.append(text)
            continue
        letter, n = text[0], len(text)
        if letter == "y":
            out.append(f"{value.year % 100:0{max(n, 1)}d}" if n <= 2 else f"{value.year:0{n}d}")
        elif letter == "M":
            out.append(
                MONTHS[value.month - 1]
                if n >= 4
                else MONTHS_ABBR[value.month - 1]
                if n == 3
                else f"{value.month:0{n}d}"
            )
        elif letter == "d":
            wd = value.weekday()
            out.append(DAYS[wd] if n >= 4 else DAYS_ABBR[wd] if n == 3 else f"{value.day:0{n}d}")
        elif letter == "H":
            out.append(f"{value.hour:0{min(n, 2)}d}")
        elif letter == "h":
            out.append(f"{value.hour % 12 or 12:0{min(n, 2)}d}")
        elif letter == "m":
            out.append(f"{value.minute:0{min(n, 2)}d}")
        elif letter == "s":
            out.append(f"{value.second:0{min(n, 2)}d}")
        elif letter in "fF":
            digits = f"{value.microsecond:06d}0"[:n]
            out.append(digits.rstrip("0") if letter == "F" else digits)
        elif letter == "t":
            ampm = "AM" if value.hour < 12 else "PM"
            out.append(ampm[:1] if n == 1 else ampm)
        elif letter == "z":
            out.append(_offset_text(value, text if n <= 3 else "zzz"))
        elif letter == "K":
            if value.tzinfo is None:
                out.append("")
            elif value.utcoffset() == timedelta(0):
                out.append("Z")
            else:
                out.append(_offset_text(value, "zzz"))
        elif letter == "g":
            out.append("A.D.")
    return "".join(out)


@lru_cache(maxsize=256)
def _parser_for(fmt: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    parts: list[str] = []
    groups: list[str] = []
    for kind, text in tokenize(fmt):
        if kind == "lit":
            parts.append(re.escape(text))
            continue
        letter, n = text[0], len(text)
        pattern: str
        if letter == "y":
            pattern = r"\d{4}" if n >= 3 else r"\d{2}" if n == 2 else r"\d{1,2}"
        elif letter == "M":
            pattern = (
                "|".join(MONTHS) if n >= 4 else "|".join(MONTHS_ABBR) if n == 3 else r"\d{2}" if n == 2 else r"\d{1,2}"
            )
        elif letter == "d":
            pattern = (
                "|".join(DAYS) if n >= 4 else "|".join(DAYS_ABBR) if n == 3 else r"\d{2}" if n == 2 else r"\d{1,2}"
            )
        elif letter in "Hhms":
            pattern = r"\d{2}" if n >= 2 else r"\d{1,2}"
        elif letter == "f":
            pattern = rf"\d{{{n}}}"
        elif letter == "F":
            pattern = rf"\d{{0,{n}}}"
        elif letter == "t":
            pattern = "AM|PM" if n >= 2 else "A|P"
        elif letter == "z":
            pattern = r"[+-]\d{2}:\d{2}" if n >= 3 else r"[+-]\d{2}" if n == 2 else r"[+-]\d{1,2}"
        elif letter == "K":
            pattern = r"Z|[+-]\d{2}:\d{2}|"
        else:
            pattern = r"A\.D\.|AD"
        groups.append(text)
        parts.append(f"({pattern})")
    return re.compile(r"\s*" + "".join(parts) + r"\s*", re.IGNORECASE), tuple(groups)


def parse_dotnet(text: str, fmt: str) -> datetime:
    """Parse ``text`` with a .NET format (DateTime.ParseExact, invariant culture, surrounding white allowed).

    A parsed offset (``zzz``/``K``) is kept on the result; without one the value is naive-UTC-as-given
    (RoundtripKind keeps an unspecified kind unchanged).
    """
    pattern, groups = _parser_for(fmt)
    match = pattern.fullmatch(text)
    if match is None:
        raise ExpressionEvaluationError(f"{text!r} does not match the date format {fmt!r}")
    year, month, day, hour, minute, second, micro = 1, 1, 1, 0, 0, 0, 0
    pm: bool | None = None
    tz: timezone | None = None
    for spec, raw in zip(groups, match.groups(), strict=True):
        letter, n = spec[0], len(spec)
        if letter == "y":
            year = int(raw) if n >= 3 else 2000 + int(raw) if int(raw) < 50 else 1900 + int(raw)
        elif letter == "M":
            month = (
                int(raw) if n <= 2 else [m.lower() for m in (MONTHS if n >= 4 else MONTHS_ABBR)].index(raw.lower()) + 1
            )
        elif letter == "d" and n <= 2:
            day = int(raw)
        elif letter in "Hh":
            hour = int(raw)
        elif letter == "m":
            minute = int(raw)
        elif letter == "s":
            second = int(raw)
        elif letter in "fF" and raw:
            micro = int((raw + "000000")[:6])
        elif letter == "t":
            pm = raw.upper().startswith("P")
        elif letter in "zK" and raw:
            tz = _tz(raw)
    if pm is not None and hour <= 12:
        hour = hour % 12 + (12 if pm else 0)
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as exc:
        raise ExpressionEvaluationError(f"{text!r} is not a valid date: {exc}") from None


def _tz(raw: str) -> timezone:
    if raw.upper() == "Z":
        return UTC
    sign = -1 if raw[0] == "-" else 1
    body = raw[1:].replace(":", "")
    hours = int(body[:2]) if len(body) >= 2 else int(body)
    minutes = int(body[2:4]) if len(body) >= 4 else 0
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


_ISO = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,7}))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*",
    re.IGNORECASE,
)
_US = re.compile(
    r"\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(AM|PM)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*",
    re.IGNORECASE,
)
_GENERALIZED = re.compile(r"\s*(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,](\d{1,7}))?(Z|[+-]\d{4})?\s*")


def parse_lenient(text: str) -> datetime:
    """CDate's parser (DateTime.Parse subset): ISO 8601 (with or without time/offset), ``M/d/yyyy h:mm:ss tt``
    and LDAP generalized time. The result is converted to UTC; a value without an offset is taken as UTC."""
    for pattern, order in ((_ISO, "ymd"), (_US, "mdy"), (_GENERALIZED, "ymd")):
        m = pattern.fullmatch(text)
        if m is None:
            continue
        g = m.groups()
        if order == "ymd":
            year, month, day = int(g[0]), int(g[1]), int(g[2])
        else:
            month, day, year = int(g[0]), int(g[1]), int(g[2])
        hour = int(g[3] or 0)
        minute = int(g[4] or 0)
        second = int(g[5] or 0)
        micro = 0
        offset_raw: str | None
        if pattern is _US:
            if g[6]:
                if hour > 12:
                    raise ExpressionEvaluationError(f"{text!r} is not a valid date")
                hour = hour % 12 + (12 if g[6].upper() == "PM" else 0)
            offset_raw = g[7]
        else:
            micro = int(((g[6] or "") + "000000")[:6])
            offset_raw = g[7]
        tz = _tz(offset_raw) if offset_raw else UTC
        try:
            return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(UTC)
        except ValueError as exc:
            raise ExpressionEvaluationError(f"{text!r} is not a valid date: {exc}") from None
    raise ExpressionEvaluationError(f"{text!r} is not a recognised date")


def as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _add_months(value: datetime, months: int) -> datetime:
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise ExpressionEvaluationError("date out of range")
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


INTERVALS = ("yyyy", "q", "m", "y", "d", "w", "ww", "h", "n", "s")


def date_add(interval: str, amount: int, value: datetime) -> datetime:
    """VB DateAdd: calendar arithmetic for years/quarters/months (day clamped), exact for the rest."""
    try:
        if interval == "yyyy":
            return _add_months(value, 12 * amount)
        if interval == "q":
            return _add_months(value, 3 * amount)
        if interval == "m":
            return _add_months(value, amount)
        step: dict[str, Callable[[int], timedelta]] = {
            "y": lambda n: timedelta(days=n),
            "d": lambda n: timedelta(days=n),
            "w": lambda n: timedelta(days=n),
            "ww": lambda n: timedelta(weeks=n),
            "h": lambda n: timedelta(hours=n),
            "n": lambda n: timedelta(minutes=n),
            "s": lambda n: timedelta(seconds=n),
        }
        return value + step[interval](amount)
    except OverflowError:
        raise ExpressionEvaluationError("date out of range") from None


def _fix(x: float) -> int:
    return int(x)  # truncation toward zero, like VB's Fix


def date_diff(interval: str, d1: datetime, d2: datetime) -> int:
    """VB DateDiff: positive when d2 > d1; boundary counts for calendar units, truncated spans otherwise."""
    d1, d2 = as_utc(d1), as_utc(d2)
    span = (d2 - d1).total_seconds()
    if interval == "yyyy":
        return d2.year - d1.year
    if interval == "q":
        return (d2.year - d1.year) * 4 + (d2.month - 1) // 3 - (d1.month - 1) // 3
    if interval == "m":
        return (d2.year - d1.year) * 12 + d2.month - d1.month
    if interval in ("d", "y"):
        return _fix(span / 86400)
    if interval == "w":
        return _fix(span / (86400 * 7))
    if interval == "ww":
        # Calendar weeks: Sundays crossed (VB's default FirstDayOfWeek.Sunday).
        def week_start(d: datetime) -> datetime:
            day = d.replace(hour=0, minute=0, second=0, microsecond=0)
            return day - timedelta(days=(day.weekday() + 1) % 7)

        return (week_start(d2) - week_start(d1)).days // 7
    if interval == "h":
        return _fix(span / 3600)
    if interval == "n":
        return _fix(span / 60)
    return _fix(span)


def from_filetime(value: int) -> datetime:
    """AD FILETIME (100 ns ticks since 1601-01-01 UTC) → datetime."""
    try:
        return FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        raise ExpressionEvaluationError(f"{value} is out of the FILETIME range") from None


def to_filetime(value: datetime) -> int:
    delta = as_utc(value) - FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
