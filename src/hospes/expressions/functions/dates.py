"""Date functions: parsing (CDate), arithmetic (DateAdd, DateDiff), AD FILETIME numbers, formatting and Now.

The .NET date parsing and formatting they rely on is in ``hospes.expressions.dates``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hospes.expressions import dates
from hospes.expressions.ast import Call
from hospes.expressions.errors import ExpressionEvaluationError
from hospes.expressions.functions.registry import (
    EXPRESSION,
    STRING,
    Arg,
    Example,
    Fn,
    Param,
    Source,
    compiled,
    function,
)
from hospes.expressions.values import is_null_or_empty, text, to_date, to_int


def _interval(arg: Arg) -> str | None:
    value = arg.str_literal("interval")
    if value is not None and value not in dates.INTERVALS:
        raise arg.fail(f"interval must be one of {', '.join(dates.INTERVALS)}")
    return value


def _runtime_interval(value: Any) -> str:
    s = text(value)
    if s not in dates.INTERVALS:
        raise ExpressionEvaluationError(f"interval must be one of {', '.join(dates.INTERVALS)}, got {s!r}")
    return s


@function(
    "CDate",
    params=[Param("expression", EXPRESSION)],
    summary=(
        "Parses a date string (ISO 8601 with or without offset, M/d/yyyy h:mm:ss tt, LDAP generalized time) to a "
        "UTC date, printed as M/d/yyyy h:mm:ss tt."
    ),
    returns="DateTime",
    examples=[
        Example("CDate([StatusHireDate])", {"StatusHireDate": "2020-03-16-07:00"}, "3/16/2020 7:00:00 AM"),
        Example('CDate("2021-06-30+08:00")', {}, "6/29/2021 4:00:00 PM"),
        Example('CDate("2009-06-15T01:45:30-07:00")', {}, "6/15/2009 8:45:30 AM"),
    ],
)
def build_cdate(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])
    literal = args[0].str_literal("expression")
    if literal is not None:
        try:
            dates.parse_lenient(literal)
        except ExpressionEvaluationError as exc:
            raise args[0].fail(exc.message) from None
    return lambda s: to_date(inner(s))


@function(
    "DateAdd",
    params=[Param("interval", "interval"), Param("value", "integer"), Param("dateTime", "datetime")],
    summary="Adds value intervals (yyyy q m y d w ww h n s) to a date; printed as M/d/yyyy h:mm:ss tt.",
    returns="DateTime",
    examples=[
        Example(
            'DateAdd("d", 7, CDate([StatusHireDate]))',
            {"StatusHireDate": "2012-03-16-07:00"},
            "3/23/2012 7:00:00 AM",
        ),
        Example(
            'DateAdd("d", -10, CDate([StatusHireDate]))',
            {"StatusHireDate": "2012-03-16-07:00"},
            "3/6/2012 7:00:00 AM",
        ),
        Example(
            'DateAdd("ww", 2, CDate([StatusHireDate]))',
            {"StatusHireDate": "2012-03-16-07:00"},
            "3/30/2012 7:00:00 AM",
        ),
        Example(
            'DateAdd("m", 10, CDate([StatusHireDate]))',
            {"StatusHireDate": "2012-03-16-07:00"},
            "1/16/2013 7:00:00 AM",
        ),
        Example(
            'DateAdd("yyyy", 2, CDate([StatusHireDate]))',
            {"StatusHireDate": "2012-03-16-07:00"},
            "3/16/2014 7:00:00 AM",
        ),
    ],
)
def build_dateadd(call: Call, args: list[Arg]) -> Fn:
    interval_lit = _interval(args[0])
    args[1].int_literal("value")
    interval_fn, n_fn, d_fn = compiled(args[0]), compiled(args[1]), compiled(args[2])

    def run(s: Source) -> Any:
        interval = interval_lit or _runtime_interval(interval_fn(s))
        n = to_int(n_fn(s), "value")
        d = to_date(d_fn(s))
        if n is None or d is None:
            return None
        return dates.date_add(interval, n, dates.as_utc(d))

    return run


@function(
    "DateDiff",
    params=[Param("interval", "interval"), Param("date1", "datetime"), Param("date2", "datetime")],
    summary=(
        "Number of intervals from date1 to date2: positive when date2 is later (VB semantics: calendar "
        "boundaries for yyyy/q/m/ww, truncated spans for the others)."
    ),
    returns="Integer",
    examples=[
        Example('DateDiff("d", CDate("2021-08-18+08:00"), CDate("2021-08-31+08:00"))', {}, 13),
        Example('DateDiff("d", CDate("8/25/2021 5:41:18 PM"), CDate("2012-03-16-07:00"))', {}, -3449),
        Example('DateDiff("ww", CDate("8/25/2021 5:41:18 PM"), CDate("2012-03-16-07:00"))', {}, -493),
        Example('DateDiff("m", CDate("8/25/2021 5:41:18 PM"), CDate("2012-03-16-07:00"))', {}, -113),
        Example('DateDiff("yyyy", CDate("8/25/2021 5:41:18 PM"), CDate("2012-03-16-07:00"))', {}, -9),
        Example('DateDiff("d", CDate("2021-08-31+08:00"), CDate("2021-08-31+08:00"))', {}, 0),
        Example('DateDiff("h", CDate("2021-08-24"), CDate("2021-08-25"))', {}, 24),
        Example('DateDiff("n", CDate("2021-08-24"), CDate("2021-08-25"))', {}, 1440),
        Example('DateDiff("s", CDate("2021-08-24"), CDate("2021-08-25"))', {}, 86400),
    ],
)
def build_datediff(call: Call, args: list[Arg]) -> Fn:
    interval_lit = _interval(args[0])
    interval_fn, d1_fn, d2_fn = compiled(args[0]), compiled(args[1]), compiled(args[2])

    def run(s: Source) -> Any:
        interval = interval_lit or _runtime_interval(interval_fn(s))
        d1, d2 = to_date(d1_fn(s)), to_date(d2_fn(s))
        if d1 is None or d2 is None:
            return None
        return dates.date_diff(interval, d1, d2)

    return run


@function(
    "DateFromNum",
    params=[Param("value", "integer")],
    summary="Converts an AD FILETIME number (100 ns ticks since 1601-01-01 UTC) to a date.",
    returns="DateTime",
    examples=[Example("DateFromNum(129699324000000000)", {}, "1/1/2012 11:00:00 PM")],
)
def build_datefromnum(call: Call, args: list[Arg]) -> Fn:
    args[0].int_literal("value")
    inner = compiled(args[0])

    def run(s: Source) -> Any:
        n = to_int(inner(s), "value")
        return None if n is None else dates.from_filetime(n)

    return run


@function(
    "NumFromDate",
    params=[Param("value", STRING)],
    summary="Converts an ISO 8601 date to AD FILETIME (for accountExpires).",
    returns="Integer",
    examples=[
        Example('NumFromDate("2012-01-01T23:00:00Z")', {}, 129699324000000000),
        Example(
            'NumFromDate(Join("", FormatDateTime([ContractEndDate], ,"yyyy-MM-ddzzz", "yyyy-MM-dd"), '
            '" 23:59:59-08:00"))',
            {"ContractEndDate": "2020-12-31-08:00"},
            132539615990000000,
        ),
    ],
)
def build_numfromdate(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])

    def run(s: Source) -> Any:
        d = to_date(inner(s))
        return None if d is None else dates.to_filetime(d)

    return run


DATETIME_STYLES = {
    "None",
    "AllowLeadingWhite",
    "AllowTrailingWhite",
    "AllowInnerWhite",
    "AllowWhiteSpaces",
    "NoCurrentDateDefault",
    "AdjustToUniversal",
    "AssumeLocal",
    "AssumeUniversal",
    "RoundtripKind",
}


def _styles(value: str) -> set[str]:
    names = {part.strip().removeprefix("DateTimeStyles.") for part in value.replace("|", ",").split(",")}
    names.discard("")
    unknown = names - DATETIME_STYLES
    if unknown:
        raise ExpressionEvaluationError(f"unknown DateTimeStyles {', '.join(sorted(unknown))}")
    return names


def _format_check(arg: Arg, what: str) -> str | None:
    fmt = arg.str_literal(what)
    if fmt is not None:
        try:
            dates.tokenize(fmt)
        except ValueError as exc:
            raise arg.fail(str(exc)) from None
    return fmt


@function(
    "FormatDateTime",
    params=[
        Param("source", STRING),
        Param("dateTimeStyles", "styles", optional=True),
        Param("inputFormat", STRING),
        Param("outputFormat", STRING),
    ],
    summary=(
        "Reformats a date string with .NET custom date format strings (invariant culture). Default styles: "
        "RoundtripKind, AllowLeadingWhite, AllowTrailingWhite."
    ),
    examples=[
        Example(
            'FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")',
            {"extensionAttribute1": "20150123105347.1Z"},
            "2015-01-23",
        ),
        Example(
            'FormatDateTime([ContractEndDate], , "yyyy-MM-ddzzz", "yyyy-MM-dd")',
            {"ContractEndDate": "2020-12-31-08:00"},
            "2020-12-31",
        ),
    ],
)
def build_formatdatetime(call: Call, args: list[Arg]) -> Fn:
    src, styles_fn, in_fn, out_fn = (compiled(a) for a in args)
    styles_lit: set[str] | None = set()
    if args[1].present:
        raw = args[1].str_literal("dateTimeStyles")
        if raw is None:
            styles_lit = None
        else:
            try:
                styles_lit = _styles(raw)
            except ExpressionEvaluationError as exc:
                raise args[1].fail(exc.message) from None
    in_lit = _format_check(args[2], "inputFormat")
    out_lit = _format_check(args[3], "outputFormat")

    def convert(value: Any, styles: set[str], fmt_in: str, fmt_out: str) -> str:
        when = value if isinstance(value, datetime) else dates.parse_dotnet(str(value), fmt_in)
        if when.tzinfo is None and "AssumeUniversal" in styles:
            when = when.replace(tzinfo=UTC)
        if "AdjustToUniversal" in styles and when.tzinfo is not None:
            when = when.astimezone(UTC)
        try:
            return dates.format_dotnet(when, fmt_out)
        except ValueError as exc:
            raise ExpressionEvaluationError(str(exc)) from None

    def run(s: Source) -> Any:
        value = src(s)
        if is_null_or_empty(value):
            return None
        styles = styles_lit if styles_lit is not None else _styles(text(styles_fn(s)) or "")
        fmt_in = in_lit if in_lit is not None else text(in_fn(s))
        fmt_out = out_lit if out_lit is not None else text(out_fn(s))
        if not fmt_in or not fmt_out:
            raise ExpressionEvaluationError("FormatDateTime needs an input and an output format")
        try:
            if isinstance(value, list):
                return [convert(v, styles, fmt_in, fmt_out) for v in value]
            return convert(value if isinstance(value, datetime) else text(value), styles, fmt_in, fmt_out)
        except ValueError as exc:
            raise ExpressionEvaluationError(str(exc)) from None

    return run


@function(
    "Now",
    params=[],
    summary="The current UTC date and time, printed as M/d/yyyy h:mm:ss tt.",
    returns="DateTime",
    examples=[Example("Now()", {}, r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M", pattern=True)],
)
def build_now(call: Call, args: list[Arg]) -> Fn:
    return lambda s: datetime.now(UTC).replace(microsecond=0)
