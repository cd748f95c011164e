"""Every function of the expression language: semantics (builders) and their registry entries.

Each builder receives the call and its compiled arguments, checks literal arguments (so mistakes are found when
a mapping is saved), and returns a closure ``fn(source) -> value`` that does no parsing or lookup of its own.
"""

from __future__ import annotations

import base64
import difflib
import secrets
import string
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import regex

from hospes.expressions import dates
from hospes.expressions.ast import Call, Name
from hospes.expressions.errors import DropFlow, ExpressionError, ExpressionEvaluationError
from hospes.expressions.registry import Arg, Example, Fn, FunctionSpec, Param, Registry
from hospes.expressions.values import (
    is_null,
    is_null_or_empty,
    lift,
    text,
    to_bool,
    to_date,
    to_int,
    values_of,
)

REGEX_TIMEOUT = 0.25  # seconds; a pattern that needs longer is an error on that object, not a stuck cycle
S = Mapping[str, Any]


def _none(_: S) -> Any:
    return None


def _fn(arg: Arg) -> Fn:
    return arg.fn if arg.fn is not None else _none


def _compile_regex(pattern: str, pos: int) -> Any:
    try:
        return regex.compile(pattern, regex.VERSION0)
    except regex.error as exc:
        raise ExpressionError(f"invalid regular expression {pattern!r}: {exc}", pos) from None


def _literal_regex(arg: Arg, what: str) -> Any | None:
    pattern = arg.str_literal(what)
    return None if pattern is None else _compile_regex(pattern, arg.node.pos)


def _regex_of(cached: Any | None, fn: Fn, src: S) -> Any:
    if cached is not None:
        return cached
    pattern = text(fn(src))
    if pattern is None:
        return None
    try:
        return regex.compile(pattern, regex.VERSION0)
    except regex.error as exc:
        raise ExpressionEvaluationError(f"invalid regular expression {pattern!r}: {exc}") from None


def _timed(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, timeout=REGEX_TIMEOUT, **kwargs)
    except TimeoutError:
        raise ExpressionEvaluationError(f"regular expression took longer than {REGEX_TIMEOUT}s") from None


# ---------------------------------------------------------------------------------------------------- strings


def b_append(call: Call, args: list[Arg]) -> Fn:
    src, suffix = _fn(args[0]), _fn(args[1])

    def run(s: S) -> Any:
        tail = text(suffix(s)) or ""
        return lift(lambda v: v + tail)(src(s))

    return run


def b_join(call: Call, args: list[Arg]) -> Fn:
    sep_fn = _fn(args[0])
    parts = [_fn(a) for a in args[1:]]

    def run(s: S) -> Any:
        sep = text(sep_fn(s)) or ""
        out: list[str] = []
        for part in parts:
            for v in values_of(part(s)):
                t = text(v)
                if t:  # null and "" are skipped: Join(", ", "", [surname], [givenName]) -> "Doe, John"
                    out.append(t)
        # Nothing to join is null, not "": an all-empty name.formatted must not be sent as an empty string.
        return sep.join(out) if out else None

    return run


def b_left(call: Call, args: list[Arg]) -> Fn:
    src = _fn(args[0])
    n_lit = args[1].int_literal("NumChars")
    n_fn = _fn(args[1])

    def cut(value: str, n: int) -> str:
        if n < 0:
            return value
        return value[:n]

    def run(s: S) -> Any:
        n = n_lit if n_lit is not None else to_int(n_fn(s), "NumChars")
        value = src(s)
        if n is None:
            return None
        if value is None:
            return ""  # documented: a null string gives ""
        return lift(lambda v: cut(v, n))(value)

    return run


def b_mid(call: Call, args: list[Arg]) -> Fn:
    src = _fn(args[0])
    start_lit = args[1].int_literal("start")
    length_lit = args[2].int_literal("length")
    if start_lit is not None and start_lit < 1:
        raise args[1].fail("start is 1-based and must be at least 1")
    if length_lit is not None and length_lit < 0:
        raise args[2].fail("length must not be negative")
    start_fn, length_fn = _fn(args[1]), _fn(args[2])

    def run(s: S) -> Any:
        start = start_lit if start_lit is not None else to_int(start_fn(s), "start")
        length = length_lit if length_lit is not None else to_int(length_fn(s), "length")
        if start is None or length is None:
            return None
        if start < 1:
            raise ExpressionEvaluationError(f"Mid start is 1-based, got {start}")
        if length < 0:
            raise ExpressionEvaluationError(f"Mid length must not be negative, got {length}")
        return lift(lambda v: v[start - 1 : start - 1 + length])(src(s))

    return run


def b_word(call: Call, args: list[Arg]) -> Fn:
    src, n_fn, delim_fn = _fn(args[0]), _fn(args[1]), _fn(args[2])
    n_lit = args[1].int_literal("WordNumber")

    def run(s: S) -> Any:
        n = n_lit if n_lit is not None else to_int(n_fn(s), "WordNumber")
        delims = set(text(delim_fn(s)) or "")

        def word(value: str) -> str:
            if n is None or n < 1:
                return ""
            words: list[str] = []
            current: list[str] = []
            for ch in value:
                if ch in delims:
                    if current:
                        words.append("".join(current))
                        current = []
                else:
                    current.append(ch)
            if current:
                words.append("".join(current))
            return words[n - 1] if n <= len(words) else ""

        value = src(s)
        return "" if value is None else lift(word)(value)

    return run


def b_strip_spaces(call: Call, args: list[Arg]) -> Fn:
    src = _fn(args[0])
    f = lift(lambda v: v.replace(" ", ""))
    return lambda s: f(src(s))


def _culture(arg: Arg) -> str | None:
    if not arg.present:
        return None
    value = arg.str_literal("culture")
    if value is not None:
        parts = value.split("-")
        if not (2 <= len(parts[0]) <= 3 and parts[0].isalpha() and all(p.isalnum() and p for p in parts[1:])):
            raise arg.fail(f"{value!r} is not a culture name like en-US or tr-TR")
    return value


def _case(upper: bool) -> Any:
    def build(call: Call, args: list[Arg]) -> Fn:
        src = _fn(args[0])
        culture_lit = _culture(args[1]) if len(args) > 1 else None
        culture_fn = _fn(args[1]) if len(args) > 1 else _none

        def convert(value: str, culture: str | None) -> str:
            lang = (culture or "").split("-")[0].lower()
            if lang in ("tr", "az"):  # Turkish/Azeri dotted and dotless i
                if upper:
                    value = value.replace("i", "İ").replace("ı", "I")
                else:
                    value = value.replace("I", "ı").replace("İ", "i")
            return value.upper() if upper else value.lower()

        def run(s: S) -> Any:
            culture = culture_lit if culture_lit is not None else text(culture_fn(s))
            return lift(lambda v: convert(v, culture))(src(s))

        return run

    return build


_SPECIAL_LETTERS = {"æ": "ae", "Æ": "AE", "ø": "oe", "Ø": "OE", "œ": "oe", "Œ": "OE", "ß": "ss", "ı": "i"}
_SPECIAL_LETTERS |= {"ł": "l", "Ł": "L", "đ": "d", "Đ": "D"}


def normalize_diacritics(value: str) -> str:
    """Reference table (æ→ae, ø→oe, ß→ss, ł→l, ı→i ...) plus every base letter + combining mark sequence."""
    decomposed = unicodedata.normalize("NFD", value)
    out = []
    for ch in decomposed:
        if unicodedata.category(ch) == "Mn":
            continue
        out.append(_SPECIAL_LETTERS.get(ch, ch))
    return unicodedata.normalize("NFC", "".join(out))


def b_normalize(call: Call, args: list[Arg]) -> Fn:
    src = _fn(args[0])
    f = lift(normalize_diacritics)
    return lambda s: f(src(s))


_TITLE_SEPARATORS = {"Zs", "Zl", "Zp", "Cc", "Cf", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So"}


def pcase(value: str, separators: str | None) -> str:
    out: list[str] = []
    start = True
    prev = ""
    for ch in value:
        if separators is not None:
            sep = ch in separators
        else:
            # .NET ToTitleCase: an apostrophe right after a letter does not start a new word (O'neil, don't).
            sep = unicodedata.category(ch) in _TITLE_SEPARATORS and not (ch in "'’" and prev.isalpha())
        if sep:
            out.append(ch)
            start = True
        elif start:
            out.append(ch.upper())
            start = False
        else:
            out.append(ch.lower())
        prev = ch
    return "".join(out)


def b_pcase(call: Call, args: list[Arg]) -> Fn:
    src = _fn(args[0])
    seps_arg = args[1] if len(args) > 1 and args[1].present else None
    seps_fn = _fn(seps_arg) if seps_arg else None

    def run(s: S) -> Any:
        seps = text(seps_fn(s)) if seps_fn else None
        return lift(lambda v: pcase(v, seps))(src(s))

    return run


def b_base64(call: Call, args: list[Arg]) -> Fn:
    src = _fn(args[0])
    f = lift(lambda v: base64.b64encode(v.encode("utf-16-le")).decode("ascii"))
    return lambda s: f(src(s))


def b_utf8hex(call: Call, args: list[Arg]) -> Fn:
    src = _fn(args[0])
    f = lift(lambda v: v.encode("utf-8").hex().upper())
    return lambda s: f(src(s))


def b_cstr(call: Call, args: list[Arg]) -> Fn:
    src = _fn(args[0])
    return lambda s: lift(lambda v: v)(src(s))


def b_split(call: Call, args: list[Arg]) -> Fn:
    src, delim_fn = _fn(args[0]), _fn(args[1])
    delim_lit = args[1].str_literal("delimiter")
    if delim_lit == "":
        raise args[1].fail("the delimiter must not be empty")

    def run(s: S) -> Any:
        value = text(src(s))
        delim = delim_lit if delim_lit is not None else text(delim_fn(s))
        if value is None:
            return None
        if not delim:
            raise ExpressionEvaluationError("Split delimiter is empty")
        # The reference's example trims the parts: "One, Two" -> ["One", "Two"].
        return [part.strip() for part in value.split(delim)]

    return run


def b_instr(call: Call, args: list[Arg]) -> Fn:
    v1, v2 = _fn(args[0]), _fn(args[1])
    start_arg = args[2] if len(args) > 2 and args[2].present else None
    start_lit = start_arg.int_literal("start") if start_arg else 1
    if start_lit is not None and start_lit < 1:
        raise args[2].fail("start is 1-based and must be at least 1")
    start_fn = _fn(start_arg) if start_arg else _none
    text_compare = False
    if len(args) > 3 and args[3].present:
        node = args[3].node
        mode = node.name if isinstance(node, Name) else args[3].str_literal("compareType")
        if mode not in ("vbTextCompare", "vbBinaryCompare"):
            raise args[3].fail("compareType must be vbTextCompare or vbBinaryCompare")
        text_compare = mode == "vbTextCompare"

    def run(s: S) -> Any:
        hay, needle = text(v1(s)), text(v2(s))
        start = start_lit if start_lit is not None else to_int(start_fn(s), "start")
        if hay is None or needle is None or start is None:
            return None
        if start < 1:
            raise ExpressionEvaluationError(f"InStr start is 1-based, got {start}")
        if text_compare:
            hay, needle = hay.casefold(), needle.casefold()
        if start > len(hay) + 1:
            return 0
        return hay.find(needle, start - 1) + 1

    return run


# -------------------------------------------------------------------------------------------------- Replace

_DOTNET_REPLACEMENT = regex.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*|\d+)\}|(\d+)|([&`'+_]))")


def dotnet_substitute(template: str, match: Any, whole: str) -> str:
    """Expand a .NET replacement string (``$1``, ``${name}``, ``$$``, ``$&``, ``$``\u0060, ``$'``, ``$+``, ``$_``)."""

    def expand(m: Any) -> str:
        name = m.group(1) or m.group(2)
        if m.group(0) == "$$":
            return "$"
        if name is not None:
            key: int | str = int(name) if name.isdigit() else name
            try:
                return str(match.group(key) or "")
            except (IndexError, regex.error):
                return str(m.group(0))  # .NET leaves unknown group references as typed
        sym = m.group(3)
        if sym == "&":
            return str(match.group(0))
        if sym == "`":
            return whole[: match.start()]
        if sym == "'":
            return whole[match.end() :]
        if sym == "+":
            groups = [g for g in match.groups() if g is not None]
            return groups[-1] if groups else ""
        return whole

    return str(_DOTNET_REPLACEMENT.sub(expand, template))


def b_replace(call: Call, args: list[Arg]) -> Fn:
    source, old, pattern, group, replacement, repl_attr, template = args
    has = {
        n: a.present
        for n, a in zip(
            ("old", "regex", "group", "replacement", "attr", "template"),
            (old, pattern, group, replacement, repl_attr, template),
            strict=True,
        )
    }
    src_fn = _fn(source)
    old_fn, pat_fn, group_fn = _fn(old), _fn(pattern), _fn(group)
    repl_fn, attr_fn, tmpl_fn = _fn(replacement), _fn(repl_attr), _fn(template)
    compiled = _literal_regex(pattern, "regexPattern") if has["regex"] else None
    group_lit = group.str_literal("regexGroupName") if has["group"] else None
    if compiled is not None and group_lit is not None and group_lit not in compiled.groupindex:
        raise group.fail(f"the pattern has no group named {group_lit!r}")

    if has["old"] and has["template"] and not has["regex"]:

        def into_template(s: S) -> Any:
            value, needle, tmpl = text(src_fn(s)), text(old_fn(s)), text(tmpl_fn(s))
            if value is None or tmpl is None:
                return None
            return tmpl.replace(needle, value) if needle else tmpl

        return into_template

    if has["old"] and has["replacement"] and not has["regex"]:

        def plain(s: S) -> Any:
            needle, repl = text(old_fn(s)), text(repl_fn(s)) or ""
            return lift(lambda v: v.replace(needle, repl) if needle else v)(src_fn(s))

        return plain

    if has["regex"] and has["group"] and has["attr"]:

        def fallback(s: S) -> Any:
            value = src_fn(s)
            if not is_null_or_empty(value):
                return value
            other = text(attr_fn(s))
            rx = _regex_of(compiled, pat_fn, s)
            name = group_lit if group_lit is not None else text(group_fn(s))
            if other is None or rx is None or name is None:
                return None
            m = _timed(rx.search, other)
            if m is None:
                return None
            try:
                return m.group(name)
            except (IndexError, regex.error):
                raise ExpressionEvaluationError(f"the pattern has no group named {name!r}") from None

        return fallback

    if has["regex"] and has["group"] and has["replacement"]:

        def group_replace(s: S) -> Any:
            rx = _regex_of(compiled, pat_fn, s)
            name = group_lit if group_lit is not None else text(group_fn(s))
            repl = text(repl_fn(s)) or ""
            if rx is None or name is None:
                return src_fn(s)

            def one(value: str) -> str:
                out: list[str] = []
                last = 0
                for m in _timed(rx.finditer, value):
                    try:
                        start, end = m.span(name)
                    except (IndexError, regex.error):
                        raise ExpressionEvaluationError(f"the pattern has no group named {name!r}") from None
                    if start < 0 or start < last:
                        continue
                    out.append(value[last:start])
                    out.append(repl)
                    last = end
                out.append(value[last:])
                return "".join(out)

            return lift(one)(src_fn(s))

        return group_replace

    if has["regex"] and has["replacement"]:

        def regex_replace(s: S) -> Any:
            rx = _regex_of(compiled, pat_fn, s)
            repl = text(repl_fn(s)) or ""
            if rx is None:
                return src_fn(s)
            return lift(lambda v: _timed(rx.sub, lambda m: dotnet_substitute(repl, m, v), v))(src_fn(s))

        return regex_replace

    raise ExpressionError(
        "Replace needs oldValue+replacementValue, oldValue+template, regexPattern+replacementValue, "
        "regexPattern+regexGroupName+replacementValue or regexPattern+regexGroupName+replacementAttributeName",
        call.pos,
    )


# ------------------------------------------------------------------------------------------ null and flow


def b_coalesce(call: Call, args: list[Arg]) -> Fn:
    fns = [_fn(a) for a in args if a.present]

    def run(s: S) -> Any:
        for f in fns:
            value = f(s)
            if not is_null(value):
                return value
        return None

    return run


def b_ignore_flow(call: Call, args: list[Arg]) -> Fn:
    inner = _fn(args[0])

    def run(s: S) -> Any:
        value = inner(s)
        if is_null_or_empty(value):
            raise DropFlow
        return value

    return run


def _predicate(test: Any) -> Any:
    def build(call: Call, args: list[Arg]) -> Fn:
        inner = _fn(args[0])
        return lambda s: test(inner(s))

    return build


def b_iif(call: Call, args: list[Arg]) -> Fn:
    cond, yes, no = _fn(args[0]), _fn(args[1]), _fn(args[2])

    def run(s: S) -> Any:
        return yes(s) if to_bool(cond(s)) else no(s)

    return run


def b_switch(call: Call, args: list[Arg]) -> Fn:
    if len(args) % 2:
        raise ExpressionError(
            "Switch takes source, defaultValue and then key/value pairs: an even number of arguments", call.pos
        )
    src, default = _fn(args[0]), _fn(args[1])
    pairs = [(args[i], args[i + 1]) for i in range(2, len(args), 2)]
    for key, value in pairs:
        if not key.present or not value.present:
            raise (key if not key.present else value).fail("Switch keys and values cannot be left empty")
    literal = all(k.is_const or k.str_literal("key") is not None for k, _ in pairs)
    if literal:
        table: dict[str, Fn] = {}
        for key, value in pairs:
            table.setdefault(str(key.str_literal("key")), _fn(value))

        def lookup(s: S) -> Any:
            # A null source compares as "" so that Switch([x], [x], "", "Other") handles absent values.
            chosen = table.get(text(src(s)) or "")
            return (chosen or default)(s)

        return lookup
    key_fns = [(_fn(k), _fn(v)) for k, v in pairs]

    def scan(s: S) -> Any:
        probe = text(src(s)) or ""
        for key_fn, value_fn in key_fns:
            if (text(key_fn(s)) or "") == probe:
                return value_fn(s)
        return default(s)

    return scan


def b_not(call: Call, args: list[Arg]) -> Fn:
    inner = _fn(args[0])

    def run(s: S) -> Any:
        value = inner(s)
        truth = value is True or (isinstance(value, str) and value.strip().lower() == "true")
        return not truth

    return run


def b_cbool(call: Call, args: list[Arg]) -> Fn:
    inner = _fn(args[0])
    return lambda s: to_bool(inner(s))


# ------------------------------------------------------------------------------------------- multi-valued


def b_count(call: Call, args: list[Arg]) -> Fn:
    inner = _fn(args[0])
    return lambda s: sum(1 for _ in values_of(inner(s)))


def b_item(call: Call, args: list[Arg]) -> Fn:
    inner, index_fn = _fn(args[0]), _fn(args[1])
    index_lit = args[1].int_literal("index")
    if index_lit is not None and index_lit < 1:
        raise args[1].fail("index is 1-based: the first item is 1")

    def run(s: S) -> Any:
        index = index_lit if index_lit is not None else to_int(index_fn(s), "index")
        items = list(values_of(inner(s)))
        if index is None or index < 1 or index > len(items):
            return None
        return items[index - 1]

    return run


def b_remove_duplicates(call: Call, args: list[Arg]) -> Fn:
    inner = _fn(args[0])

    def run(s: S) -> Any:
        value = inner(s)
        if not isinstance(value, list):
            return value
        seen: list[Any] = []
        for v in value:
            if v not in seen:
                seen.append(v)
        return seen

    return run


# ---------------------------------------------------------------------------------------------- app roles


def _roles(value: Any) -> list[Mapping[str, Any]]:
    return [r for r in values_of(value) if isinstance(r, Mapping)]


def _role_value(role: Mapping[str, Any]) -> Any:
    # The default-access role (appRoleId 00000000-...) has neither value nor name: it is not a role to send.
    for key in ("value", "displayName"):
        if role.get(key):
            return role[key]
    return None


def b_single_role(call: Call, args: list[Arg]) -> Fn:
    inner = _fn(args[0])

    def run(s: S) -> Any:
        # The reference gives no guarantee which role wins when several are assigned; Hospes takes the first
        # one that has a value, in the order given (the engine passes assignments sorted by creation time).
        for role in _roles(inner(s)):
            value = _role_value(role)
            if value is not None:
                return value
        return None

    return run


def b_complex_roles(call: Call, args: list[Arg]) -> Fn:
    inner = _fn(args[0])

    def run(s: S) -> Any:
        out = [
            {
                "primary": False,
                "type": "WindowsAzureActiveDirectoryRole",
                "display": role.get("displayName"),
                "value": _role_value(role),
            }
            for role in _roles(inner(s))
            if _role_value(role) is not None
        ]
        return out or None

    return run


# -------------------------------------------------------------------------------------------------- numbers


def b_bitand(call: Call, args: list[Arg]) -> Fn:
    for i, a in enumerate(args):
        a.int_literal(f"value{i + 1}")
    a_fn, b_fn = _fn(args[0]), _fn(args[1])

    def run(s: S) -> Any:
        a, b = to_int(a_fn(s), "value1"), to_int(b_fn(s), "value2")
        if a is None or b is None:
            return None
        return a & b

    return run


# ---------------------------------------------------------------------------------------------------- dates


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


def b_cdate(call: Call, args: list[Arg]) -> Fn:
    inner = _fn(args[0])
    literal = args[0].str_literal("expression")
    if literal is not None:
        try:
            dates.parse_lenient(literal)
        except ExpressionEvaluationError as exc:
            raise args[0].fail(exc.message) from None
    return lambda s: to_date(inner(s))


def b_dateadd(call: Call, args: list[Arg]) -> Fn:
    interval_lit = _interval(args[0])
    args[1].int_literal("value")
    interval_fn, n_fn, d_fn = _fn(args[0]), _fn(args[1]), _fn(args[2])

    def run(s: S) -> Any:
        interval = interval_lit or _runtime_interval(interval_fn(s))
        n = to_int(n_fn(s), "value")
        d = to_date(d_fn(s))
        if n is None or d is None:
            return None
        return dates.date_add(interval, n, dates.as_utc(d))

    return run


def b_datediff(call: Call, args: list[Arg]) -> Fn:
    interval_lit = _interval(args[0])
    interval_fn, d1_fn, d2_fn = _fn(args[0]), _fn(args[1]), _fn(args[2])

    def run(s: S) -> Any:
        interval = interval_lit or _runtime_interval(interval_fn(s))
        d1, d2 = to_date(d1_fn(s)), to_date(d2_fn(s))
        if d1 is None or d2 is None:
            return None
        return dates.date_diff(interval, d1, d2)

    return run


def b_datefromnum(call: Call, args: list[Arg]) -> Fn:
    args[0].int_literal("value")
    inner = _fn(args[0])

    def run(s: S) -> Any:
        n = to_int(inner(s), "value")
        return None if n is None else dates.from_filetime(n)

    return run


def b_numfromdate(call: Call, args: list[Arg]) -> Fn:
    inner = _fn(args[0])

    def run(s: S) -> Any:
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


def b_formatdatetime(call: Call, args: list[Arg]) -> Fn:
    src, styles_fn, in_fn, out_fn = (_fn(a) for a in args)
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

    def run(s: S) -> Any:
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


def b_now(call: Call, args: list[Arg]) -> Fn:
    return lambda s: datetime.now(UTC).replace(microsecond=0)


def b_guid(call: Call, args: list[Arg]) -> Fn:
    return lambda s: str(uuid.uuid4())


# ------------------------------------------------------------------------------------------------- generators

SPECIAL_CHARACTERS = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"


def b_random_string(call: Call, args: list[Arg]) -> Fn:
    names = ("Length", "MinimumNumbers", "MinimumSpecialCharacters", "MinimumCapital", "MinimumLowerCase")
    lits: list[int | None] = [a.int_literal(n) for a, n in zip(args[:5], names, strict=True)]
    for a, n, v in zip(args, names, lits, strict=False):
        if v is not None and v < 0:
            raise a.fail(f"{n} must not be negative")
    if lits[0] is not None and lits[0] > 256:
        raise args[0].fail("Length is at most 256")
    if all(v is not None for v in lits) and sum(v or 0 for v in lits[1:]) > (lits[0] or 0):
        raise args[0].fail("Length is smaller than the sum of the minimums")
    fns = [_fn(a) for a in args[:5]]
    avoid_fn = _fn(args[5]) if len(args) > 5 else _none
    rng = secrets.SystemRandom()

    def run(s: S) -> Any:
        length, digits, special, upper, lower = (
            v if v is not None else to_int(f(s), n) for v, f, n in zip(lits, fns, names, strict=True)
        )
        if None in (length, digits, special, upper, lower):
            return None
        assert length is not None and digits is not None and special is not None
        assert upper is not None and lower is not None
        if length > 256 or digits + special + upper + lower > length or min(digits, special, upper, lower) < 0:
            raise ExpressionEvaluationError("RandomString lengths are inconsistent")
        avoid = set(text(avoid_fn(s)) or "")
        pools = [
            [c for c in string.digits if c not in avoid],
            [c for c in SPECIAL_CHARACTERS if c not in avoid],
            [c for c in string.ascii_uppercase if c not in avoid],
            [c for c in string.ascii_lowercase if c not in avoid],
        ]
        chars: list[str] = []
        for pool, count in zip(pools, (digits, special, upper, lower), strict=True):
            if count and not pool:
                raise ExpressionEvaluationError("CharactersToAvoid removes a whole required character class")
            chars.extend(rng.choice(pool) for _ in range(count))
        everything = [c for pool in pools for c in pool]
        if len(chars) < length and not everything:
            raise ExpressionEvaluationError("CharactersToAvoid removes every character")
        chars.extend(rng.choice(everything) for _ in range(length - len(chars)))
        rng.shuffle(chars)
        return "".join(chars)

    return run


def b_redact(call: Call, args: list[Arg]) -> Fn:
    return _fn(args[0])  # the value flows unchanged; Expression.redacted tells the logs to hide it


def b_select_unique(call: Call, args: list[Arg]) -> Fn:
    fns = [_fn(a) for a in args]
    # Evaluated by Expression.evaluate, which owns the uniqueness callback; as a plain closure it yields the
    # list of candidates.
    return lambda s: [f(s) for f in fns]


# ------------------------------------------------------------------------------------------------ registry

P = Param
STR = "string"
EXPR = "expression"


def _spec(name: str, params: list[Param], summary: str, build: Any, **kw: Any) -> FunctionSpec:
    return FunctionSpec(name=name, params=tuple(params), summary=summary, build=build, **kw)


FUNCTIONS = Registry()
_add = FUNCTIONS.add
E = Example

_add(
    _spec(
        "Append",
        [P("source", STR), P("suffix", STR)],
        "Concatenates the suffix to the end of the source value. A null source gives null (no flow).",
        b_append,
        examples=(
            E(
                'Append([userPrincipalName], ".test")',
                {"userPrincipalName": "John.Doe@contoso.com"},
                "John.Doe@contoso.com.test",
            ),
        ),
    )
)
_add(
    _spec(
        "AppRoleAssignmentsComplex",
        [P("appRoleAssignments", "attribute")],
        "All of the user's app role assignments for this app as SCIM roles (primary false); target `roles`.",
        b_complex_roles,
        returns="Multi-valued complex",
        examples=(
            E(
                "AppRoleAssignmentsComplex([appRoleAssignments])",
                {"appRoleAssignments": [{"appRoleId": "a1", "value": "Admin", "displayName": "Administrator"}]},
                [
                    {
                        "primary": False,
                        "type": "WindowsAzureActiveDirectoryRole",
                        "display": "Administrator",
                        "value": "Admin",
                    }
                ],
            ),
        ),
    )
)
_add(
    _spec(
        "AssertiveAppRoleAssignmentsComplex",
        [P("appRoleAssignments", "attribute")],
        "Like AppRoleAssignmentsComplex; the engine replaces the whole `roles` list, so unassigned roles are removed.",
        b_complex_roles,
        returns="Multi-valued complex",
        examples=(
            E(
                "AssertiveAppRoleAssignmentsComplex([appRoleAssignments])",
                {"appRoleAssignments": [{"value": "Reader", "displayName": "Reader"}]},
                [{"primary": False, "type": "WindowsAzureActiveDirectoryRole", "display": "Reader", "value": "Reader"}],
            ),
        ),
    )
)
_add(
    _spec(
        "BitAnd",
        [P("value1", "integer"), P("value2", "integer")],
        "Bitwise AND of two integers (hex literals are written `&HF7`).",
        b_bitand,
        returns="Integer",
        examples=(E("BitAnd(&HF, &HF7)", {}, 7),),
    )
)
_add(
    _spec(
        "CBool",
        [P("expression", EXPR)],
        'True when the expression is true, "True" or a non-zero number; false otherwise (null is false).',
        b_cbool,
        returns="Boolean",
        examples=(
            E("CBool([attribute1] = [attribute2])", {"attribute1": "a", "attribute2": "a"}, True),
            E("CBool([attribute1] = [attribute2])", {"attribute1": "a", "attribute2": "b"}, False),
        ),
    )
)
_add(
    _spec(
        "CDate",
        [P("expression", EXPR)],
        "Parses a date string (ISO 8601 with or without offset, M/d/yyyy h:mm:ss tt, LDAP generalized time) to a "
        "UTC date, printed as M/d/yyyy h:mm:ss tt.",
        b_cdate,
        returns="DateTime",
        examples=(
            E("CDate([StatusHireDate])", {"StatusHireDate": "2020-03-16-07:00"}, "3/16/2020 7:00:00 AM"),
            E('CDate("2021-06-30+08:00")', {}, "6/29/2021 4:00:00 PM"),
            E('CDate("2009-06-15T01:45:30-07:00")', {}, "6/15/2009 8:45:30 AM"),
        ),
    )
)
_add(
    _spec(
        "Coalesce",
        [P("source", STR, repeating=True), P("defaultValue", STR, optional=True)],
        "The first argument that is not null; the last argument serves as the default.",
        b_coalesce,
        examples=(
            E(
                "Coalesce([mail], [userPrincipalName])",
                {"userPrincipalName": "John.Doe@contoso.com"},
                "John.Doe@contoso.com",
            ),
            E('Coalesce([mail], [otherMail], "none")', {}, "none"),
        ),
    )
)
_add(
    _spec(
        "ConvertToBase64",
        [P("source", STR)],
        'Base64 of the UTF-16LE ("Unicode") bytes of the string.',
        b_base64,
        examples=(E('ConvertToBase64("Hello world!")', {}, "SABlAGwAbABvACAAdwBvAHIAbABkACEA"),),
    )
)
_add(
    _spec(
        "ConvertToUTF8Hex",
        [P("source", STR)],
        "Upper-case hex of the UTF-8 bytes of the string.",
        b_utf8hex,
        examples=(E('ConvertToUTF8Hex("Hello world!")', {}, "48656C6C6F20776F726C6421"),),
    )
)
_add(
    _spec(
        "Count",
        [P("attribute", "attribute")],
        "Number of values of a multi-valued attribute (0 for null, 1 for a single value).",
        b_count,
        returns="Integer",
        examples=(E("Count([proxyAddresses])", {"proxyAddresses": ["SMTP:a@x", "smtp:b@x"]}, 2),),
    )
)
_add(
    _spec(
        "CStr",
        [P("value", EXPR)],
        'Converts a number, reference or boolean to a string ("True"/"False" for booleans).',
        b_cstr,
        examples=(
            E("CStr([dn])", {"dn": "cn=Joe,dc=contoso,dc=com"}, "cn=Joe,dc=contoso,dc=com"),
            E("CStr([accountEnabled])", {"accountEnabled": True}, "True"),
        ),
    )
)
_add(
    _spec(
        "DateAdd",
        [P("interval", "interval"), P("value", "integer"), P("dateTime", "datetime")],
        "Adds value intervals (yyyy q m y d w ww h n s) to a date; printed as M/d/yyyy h:mm:ss tt.",
        b_dateadd,
        returns="DateTime",
        examples=(
            E(
                'DateAdd("d", 7, CDate([StatusHireDate]))',
                {"StatusHireDate": "2012-03-16-07:00"},
                "3/23/2012 7:00:00 AM",
            ),
            E(
                'DateAdd("d", -10, CDate([StatusHireDate]))',
                {"StatusHireDate": "2012-03-16-07:00"},
                "3/6/2012 7:00:00 AM",
            ),
            E(
                'DateAdd("ww", 2, CDate([StatusHireDate]))',
                {"StatusHireDate": "2012-03-16-07:00"},
                "3/30/2012 7:00:00 AM",
            ),
            E(
                'DateAdd("m", 10, CDate([StatusHireDate]))',
                {"StatusHireDate": "2012-03-16-07:00"},
                "1/16/2013 7:00:00 AM",
            ),
            E(
                'DateAdd("yyyy", 2, CDate([StatusHireDate]))',
                {"StatusHireDate": "2012-03-16-07:00"},
                "3/16/2014 7:00:00 AM",
            ),
        ),
    )
)
_add(
    _spec(
        "DateDiff",
        [P("interval", "interval"), P("date1", "datetime"), P("date2", "datetime")],
        "Number of intervals from date1 to date2: positive when date2 is later (VB semantics: calendar "
        "boundaries for yyyy/q/m/ww, truncated spans for the others).",
        b_datediff,
        returns="Integer",
        examples=(
            E('DateDiff("d", CDate("2021-08-18+08:00"), CDate("2021-08-31+08:00"))', {}, 13),
            E('DateDiff("d", CDate("8/25/2021 5:41:18 PM"), CDate("2012-03-16-07:00"))', {}, -3449),
            E('DateDiff("ww", CDate("8/25/2021 5:41:18 PM"), CDate("2012-03-16-07:00"))', {}, -493),
            E('DateDiff("m", CDate("8/25/2021 5:41:18 PM"), CDate("2012-03-16-07:00"))', {}, -113),
            E('DateDiff("yyyy", CDate("8/25/2021 5:41:18 PM"), CDate("2012-03-16-07:00"))', {}, -9),
            E('DateDiff("d", CDate("2021-08-31+08:00"), CDate("2021-08-31+08:00"))', {}, 0),
            E('DateDiff("h", CDate("2021-08-24"), CDate("2021-08-25"))', {}, 24),
            E('DateDiff("n", CDate("2021-08-24"), CDate("2021-08-25"))', {}, 1440),
            E('DateDiff("s", CDate("2021-08-24"), CDate("2021-08-25"))', {}, 86400),
        ),
    )
)
_add(
    _spec(
        "DateFromNum",
        [P("value", "integer")],
        "Converts an AD FILETIME number (100 ns ticks since 1601-01-01 UTC) to a date.",
        b_datefromnum,
        returns="DateTime",
        examples=(E("DateFromNum(129699324000000000)", {}, "1/1/2012 11:00:00 PM"),),
    )
)
_add(
    _spec(
        "FormatDateTime",
        [
            P("source", STR),
            P("dateTimeStyles", "styles", optional=True),
            P("inputFormat", STR),
            P("outputFormat", STR),
        ],
        "Reformats a date string with .NET custom date format strings (invariant culture). Default styles: "
        "RoundtripKind, AllowLeadingWhite, AllowTrailingWhite.",
        b_formatdatetime,
        examples=(
            E(
                'FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")',
                {"extensionAttribute1": "20150123105347.1Z"},
                "2015-01-23",
            ),
            E(
                'FormatDateTime([ContractEndDate], , "yyyy-MM-ddzzz", "yyyy-MM-dd")',
                {"ContractEndDate": "2020-12-31-08:00"},
                "2020-12-31",
            ),
        ),
    )
)
_add(
    _spec(
        "Guid",
        [],
        "A new random GUID.",
        b_guid,
        examples=(
            E("Guid()", {}, r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", pattern=True),
        ),
    )
)
_add(
    _spec(
        "IgnoreFlowIfNullOrEmpty",
        [P("expression", EXPR)],
        "Drops the attribute from the flow when the enclosed expression is null or empty.",
        b_ignore_flow,
        returns="Any",
        examples=(
            E("IgnoreFlowIfNullOrEmpty([department])", {"department": ""}, "no flow"),
            E("IgnoreFlowIfNullOrEmpty([department])", {"department": "Sales"}, "Sales"),
            E(
                'IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))',
                {"prefix": "9999"},
                "no flow",
            ),
        ),
    )
)
_add(
    _spec(
        "IIF",
        [P("condition", EXPR), P("valueIfTrue", EXPR), P("valueIfFalse", EXPR)],
        "valueIfTrue when the condition holds, else valueIfFalse. Conditions compare with = <> > >= < <=; a "
        "comparison with a null or empty side is false.",
        b_iif,
        returns="Any",
        examples=(
            E('IIF([country]="USA",[country],[department])', {"country": "USA", "department": "Sales"}, "USA"),
            E('IIF([country]="USA",[country],[department])', {"country": "FR", "department": "Sales"}, "Sales"),
            E(
                'IIF([country]="USA",IIF([state]="CA","True","False"),"False")',
                {"country": "USA", "state": "CA"},
                "True",
            ),
        ),
    )
)
_add(
    _spec(
        "InStr",
        [
            P("value1", STR),
            P("value2", STR),
            P("start", "integer", optional=True),
            P("compareType", "compare", optional=True),
        ],
        "1-based position of value2 in value1 from start (0 when absent); vbTextCompare ignores case.",
        b_instr,
        returns="Integer",
        examples=(
            E('InStr("The quick brown fox","quick")', {}, 5),
            E('InStr("repEated","e",3,vbBinaryCompare)', {}, 7),
            E('InStr("repEated","e",3,vbTextCompare)', {}, 4),
        ),
    )
)
_add(
    _spec(
        "IsNull",
        [P("expression", EXPR)],
        "True when the expression is null (an absent attribute).",
        _predicate(is_null),
        returns="Boolean",
        examples=(E("IsNull([displayName])", {}, True),),
    )
)
_add(
    _spec(
        "IsNullOrEmpty",
        [P("expression", EXPR)],
        'True when the expression is null or "".',
        _predicate(is_null_or_empty),
        returns="Boolean",
        examples=(E("IsNullOrEmpty([displayName])", {"displayName": ""}, True),),
    )
)
_add(
    _spec(
        "IsPresent",
        [P("expression", EXPR)],
        'True when the expression is neither null nor "" (the inverse of IsNullOrEmpty).',
        _predicate(lambda v: not is_null_or_empty(v)),
        returns="Boolean",
        examples=(E("IsPresent([displayName])", {"displayName": "Ana"}, True),),
    )
)
_add(
    _spec(
        "IsString",
        [P("expression", EXPR)],
        "True when the expression evaluates to a string.",
        _predicate(lambda v: isinstance(v, str)),
        returns="Boolean",
        examples=(E("IsString([displayName])", {"displayName": "Ana"}, True), E("IsString(Count([x]))", {}, False)),
    )
)
_add(
    _spec(
        "Item",
        [P("attribute", "attribute"), P("index", "integer")],
        "The index-th value (1-based) of a multi-valued attribute; null when out of range. Index 0 is rejected.",
        b_item,
        returns="Any",
        examples=(E("Item([proxyAddresses], 1)", {"proxyAddresses": ["SMTP:a@x", "smtp:b@x"]}, "SMTP:a@x"),),
    )
)
_add(
    _spec(
        "Join",
        [P("separator", STR), P("source", STR, repeating=True)],
        "Joins the values (multi-valued ones expanded) with the separator, skipping null and empty values; "
        "null when nothing is left.",
        b_join,
        examples=(
            E('Join(", ", "", [surname], [givenName])', {"givenName": "John", "surname": "Doe"}, "Doe, John"),
            E('Join("", 1000, "7")', {}, "10007"),
        ),
    )
)
_add(
    _spec(
        "Left",
        [P("String", STR), P("NumChars", "integer")],
        'The first NumChars characters: 0 gives "", a negative count the whole string, a null string "".',
        b_left,
        examples=(E('Left("John Doe", 3)', {}, "Joh"),),
    )
)
_add(
    _spec(
        "Mid",
        [P("source", STR), P("start", "integer"), P("length", "integer")],
        "length characters from the 1-based start, cut at the end of the string.",
        b_mid,
        examples=(
            E(
                "Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))",
                {"givenName": "John", "surname": "Doe"},
                "JohDoe",
            ),
        ),
    )
)
_add(
    _spec(
        "NormalizeDiacritics",
        [P("source", STR)],
        "Replaces letters with diacritics by plain ones, per the reference table (æ→ae, ø→oe, ß→ss, ł→l ...).",
        b_normalize,
        examples=(E("NormalizeDiacritics([givenName])", {"givenName": "Zoë"}, "Zoe"),),
    )
)
_add(
    _spec(
        "Not",
        [P("source", "boolean")],
        'False when the source is true or "True", true otherwise.',
        b_not,
        returns="Boolean",
        examples=(E("Not([accountEnabled])", {"accountEnabled": True}, False), E('Not("False")', {}, True)),
    )
)
_add(
    _spec(
        "Now",
        [],
        "The current UTC date and time, printed as M/d/yyyy h:mm:ss tt.",
        b_now,
        returns="DateTime",
        examples=(E("Now()", {}, r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M", pattern=True),),
    )
)
_add(
    _spec(
        "NumFromDate",
        [P("value", STR)],
        "Converts an ISO 8601 date to AD FILETIME (for accountExpires).",
        b_numfromdate,
        returns="Integer",
        examples=(
            E('NumFromDate("2012-01-01T23:00:00Z")', {}, 129699324000000000),
            E(
                'NumFromDate(Join("", FormatDateTime([ContractEndDate], ,"yyyy-MM-ddzzz", "yyyy-MM-dd"), '
                '" 23:59:59-08:00"))',
                {"ContractEndDate": "2020-12-31-08:00"},
                132539615990000000,
            ),
        ),
    )
)
_add(
    _spec(
        "PCase",
        [P("source", STR), P("wordSeparators", STR, optional=True)],
        "Upper-cases the first letter of each word and lower-cases the rest; words split at spaces and "
        "punctuation (.NET ToTitleCase) or only at the given separator characters.",
        b_pcase,
        examples=(
            E("PCase([firstName])", {"firstName": "PABLO GONSALVES (SECOND)"}, "Pablo Gonsalves (Second)"),
            E('PCase([lastName]," \'-")', {"lastName": "PINTO-DE'SILVA"}, "Pinto-De'Silva"),
            E(
                'PCase(Join(" ",[firstName],[lastName]))',
                {"firstName": "GREGORY", "lastName": "JAMES"},
                "Gregory James",
            ),
        ),
    )
)
_add(
    _spec(
        "RandomString",
        [
            P("Length", "integer"),
            P("MinimumNumbers", "integer"),
            P("MinimumSpecialCharacters", "integer"),
            P("MinimumCapital", "integer"),
            P("MinimumLowerCase", "integer"),
            P("CharactersToAvoid", STR, optional=True),
        ],
        "A random string (cryptographic RNG) of Length ≤ 256 characters with the given minimum counts.",
        b_random_string,
        examples=(
            E("RandomString(6,3,0,0,3)", {}, r"(?=(?:.*\d){3})(?=(?:.*[a-z]){3})[0-9a-z]{6}", pattern=True),
            E('RandomString(10,2,2,2,1,"?,")', {}, r"(?=(?:.*\d){2})(?=(?:.*[A-Z]){2})[^?,]{10}", pattern=True),
        ),
    )
)
_add(
    _spec(
        "Redact",
        [P("value", EXPR)],
        "The value flows unchanged but is shown as [Redact] in provisioning logs.",
        b_redact,
        returns="Any",
        examples=(E("Redact([userPrincipalName])", {"userPrincipalName": "a@b.c"}, "a@b.c"),),
    )
)
_add(
    _spec(
        "RemoveDuplicates",
        [P("attribute", "attribute")],
        "The values of a multi-valued attribute without duplicates, order kept.",
        b_remove_duplicates,
        returns="Multi-valued",
        examples=(E("RemoveDuplicates([proxyAddresses])", {"proxyAddresses": ["a", "b", "a"]}, ["a", "b"]),),
    )
)
_add(
    _spec(
        "Replace",
        [
            P("source", STR),
            P("oldValue", STR, optional=True),
            P("regexPattern", "regex", optional=True),
            P("regexGroupName", STR, optional=True),
            P("replacementValue", STR, optional=True),
            P("replacementAttributeName", STR, optional=True),
            P("template", STR, optional=True),
        ],
        "Case-sensitive replacement; the mode depends on which arguments are given: oldValue+replacementValue, "
        "oldValue+template (the source is put into the template), regexPattern+replacementValue (.NET $1 / "
        "${name} references), regexPattern+regexGroupName+replacementValue (only the group is replaced), "
        "regexPattern+regexGroupName+replacementAttributeName (when the source is empty, the group matched in "
        "that other value). Regexes are .NET-style and bounded in time.",
        b_replace,
        examples=(
            E(
                'Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )',
                {"BusinessTitle": "Product Developer"},
                "Software Engineer",
            ),
            E(
                'Replace([UserID],"<username>", , , , , "<username>@contoso.com")',
                {"UserID": "jsmith"},
                "jsmith@contoso.com",
            ),
            E(
                'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", , '
                '"${phoneNumber}", , )',
                {"telephoneNumber": "+91 9998887777"},
                "9998887777",
            ),
            E(
                'Replace([mobile], , "[()\\\\s-]+", , "", , )',
                {"mobile": "+1 (999) 888-7777"},
                "+19998887777",
                note="Microsoft's page prints 19998887777, but the pattern does not remove the +.",
            ),
            E(
                'Replace([AddressLineData], ,"(?<streetNumber>^\\\\d*)","streetNumber", "888", , )',
                {"AddressLineData": "545 Tremont Street"},
                "888 Tremont Street",
            ),
            E(
                'Replace([userPrincipalName], , "(?<Suffix>@(.)*)", "Suffix", "", , )',
                {"userPrincipalName": "jsmith@contoso.com"},
                "jsmith",
            ),
            E(
                'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", '
                '"phoneNumber" , , [mobile], )',
                {"telephoneNumber": "", "mobile": "+91 8887779999"},
                "8887779999",
            ),
            E('Replace([mailNickname], , "[a-zA-Z_]*", , "", , )', {"mailNickname": "john_doe72"}, "72"),
            E('Replace([mail], "@contoso.com", , ,"", ,)', {"mail": "john.doe@contoso.com"}, "john.doe"),
        ),
    )
)
_add(
    _spec(
        "SelectUniqueValue",
        [P("uniqueValueRule", EXPR, repeating=True)],
        "The first candidate the target reports as unique (the engine supplies the check); at least two "
        "rules, top level only, for creation-only mappings that are not matching attributes. When every "
        "candidate is taken the object is escrowed.",
        b_select_unique,
        top_level_only=True,
        min_repeats=2,
        examples=(
            E(
                'SelectUniqueValue(Join("@", NormalizeDiacritics(StripSpaces(Join(".", [PreferredFirstName], '
                '[PreferredLastName]))), "contoso.com"), Join("@", NormalizeDiacritics(StripSpaces(Join(".", '
                'Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), "contoso.com"))',
                {"PreferredFirstName": "John", "PreferredLastName": "Smith"},
                "John.Smith@contoso.com",
            ),
        ),
    )
)
_add(
    _spec(
        "SingleAppRoleAssignment",
        [P("appRoleAssignments", "attribute")],
        "The value of one app role assigned to the user for this app (the first with a value).",
        b_single_role,
        examples=(
            E(
                "SingleAppRoleAssignment([appRoleAssignments])",
                {"appRoleAssignments": [{"appRoleId": "r1", "value": "Admin", "displayName": "Administrator"}]},
                "Admin",
            ),
        ),
    )
)
_add(
    _spec(
        "Split",
        [P("source", STR), P("delimiter", STR)],
        "Splits a string into a multi-valued attribute at each delimiter (parts trimmed, as in the reference example).",
        b_split,
        returns="Multi-valued",
        examples=(
            E(
                'Split([extensionAttribute5], ",")',
                {"extensionAttribute5": "PermissionSetOne, PermissionSetTwo"},
                ["PermissionSetOne", "PermissionSetTwo"],
            ),
        ),
    )
)
_add(
    _spec(
        "StripSpaces",
        [P("source", STR)],
        'Removes every space (" ") character, and only those.',
        b_strip_spaces,
        examples=(E('StripSpaces("Jean Luc\tX")', {}, "JeanLuc\tX"),),
    )
)
_add(
    _spec(
        "Switch",
        [P("source", STR), P("defaultValue", STR, optional=True), P("key", STR, repeating=True)],
        "The value paired with the first key equal (case-sensitive) to the source, else defaultValue. Keys and "
        'values alternate. A null source matches the key "".',
        b_switch,
        returns="Any",
        pairs=True,
        min_repeats=2,
        examples=(
            E(
                'Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "SA", '
                '"Australia/Adelaide")',
                {"state": "QLD"},
                "Australia/Brisbane",
            ),
            E('Switch([IsSoftDeleted], , "False", "True", "True", "False")', {"IsSoftDeleted": False}, "True"),
            E('Switch([country],[country],"","Other")', {}, "Other"),
            E('Switch(ToLower([statusFlag]), "0", "true", "1", "false", "0")', {"statusFlag": "TRUE"}, "1"),
        ),
    )
)
_add(
    _spec(
        "ToLower",
        [P("source", STR), P("culture", "culture", optional=True)],
        "Lower case, invariant culture unless a culture is given (tr-TR and az-AZ change i and I).",
        _case(upper=False),
        examples=(
            E(
                'ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], '
                '[PreferredLastName]))), "contoso.com"))',
                {"PreferredFirstName": "John", "PreferredLastName": "Smith"},
                "john.smith@contoso.com",
            ),
        ),
    )
)
_add(
    _spec(
        "ToUpper",
        [P("source", STR), P("culture", "culture", optional=True)],
        "Upper case, invariant culture unless a culture is given.",
        _case(upper=True),
        examples=(E('ToUpper("istanbul", "tr-TR")', {}, "İSTANBUL"), E('ToUpper("straße")', {}, "STRASSE")),
    )
)
_add(
    _spec(
        "Word",
        [P("String", STR), P("WordNumber", "integer"), P("Delimiters", STR)],
        'The WordNumber-th word (1-based) where any delimiter character splits; "" when out of range or null.',
        b_word,
        examples=(
            E('Word("The quick brown fox",3," ")', {}, "brown"),
            E('Word("This,string!has&many separators",3,",!&#")', {}, "has"),
        ),
    )
)


def suggest(name: str) -> str | None:
    """The registered function a misspelt name most likely meant (functions are case-sensitive)."""
    for known in FUNCTIONS.specs:
        if known.lower() == name.lower():
            return known
    close = difflib.get_close_matches(name, list(FUNCTIONS.specs), n=1, cutoff=0.7)
    return close[0] if close else None
