"""Replace: plain, template and .NET-style regular-expression replacement, with every regex bounded in time."""

from __future__ import annotations

from typing import Any

import regex

from hospes.digits import ascii_int
from hospes.expressions.ast import Call
from hospes.expressions.errors import ExpressionError, ExpressionEvaluationError
from hospes.expressions.functions.registry import STRING, Arg, Example, Fn, Param, Source, compiled, function
from hospes.expressions.values import is_null_or_empty, lift, text

REGEX_TIMEOUT = 0.25  # seconds; a pattern that needs longer is an error on that object, not a stuck cycle


def _compile_regex(pattern: str, pos: int) -> Any:
    try:
        return regex.compile(pattern, regex.VERSION0)
    except regex.error as exc:
        raise ExpressionError(f"invalid regular expression {pattern!r}: {exc}", pos) from None


def _literal_regex(arg: Arg, what: str) -> Any | None:
    pattern = arg.str_literal(what)
    return None if pattern is None else _compile_regex(pattern, arg.node.pos)


def _regex_of(cached: Any | None, fn: Fn, src: Source) -> Any:
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


_DOTNET_REPLACEMENT = regex.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*|\d+)\}|(\d+)|([&`'+_]))")


def dotnet_substitute(template: str, match: Any, whole: str) -> str:
    """Expand a .NET replacement string (``$1``, ``${name}``, ``$$``, ``$&``, ``$``\u0060, ``$'``, ``$+``, ``$_``)."""

    def expand(m: Any) -> str:
        name = m.group(1) or m.group(2)
        if m.group(0) == "$$":
            return "$"
        if name is not None:
            number = ascii_int(name)
            key: int | str = name if number is None else number
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


@function(
    "Replace",
    params=[
        Param("source", STRING),
        Param("oldValue", STRING, optional=True),
        Param("regexPattern", "regex", optional=True),
        Param("regexGroupName", STRING, optional=True),
        Param("replacementValue", STRING, optional=True),
        Param("replacementAttributeName", STRING, optional=True),
        Param("template", STRING, optional=True),
    ],
    summary=(
        "Case-sensitive replacement; the mode depends on which arguments are given: oldValue+replacementValue, "
        "oldValue+template (the source is put into the template), regexPattern+replacementValue (.NET $1 / "
        "${name} references), regexPattern+regexGroupName+replacementValue (only the group is replaced), "
        "regexPattern+regexGroupName+replacementAttributeName (when the source is empty, the group matched in "
        "that other value). Regexes are .NET-style and bounded in time."
    ),
    examples=[
        Example(
            'Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )',
            {"BusinessTitle": "Product Developer"},
            "Software Engineer",
        ),
        Example(
            'Replace([UserID],"<username>", , , , , "<username>@contoso.com")',
            {"UserID": "jsmith"},
            "jsmith@contoso.com",
        ),
        Example(
            'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", , "${phoneNumber}", , )',
            {"telephoneNumber": "+91 9998887777"},
            "9998887777",
        ),
        Example(
            'Replace([mobile], , "[()\\\\s-]+", , "", , )',
            {"mobile": "+1 (999) 888-7777"},
            "+19998887777",
            note="Microsoft's page prints 19998887777, but the pattern does not remove the +.",
        ),
        Example(
            'Replace([AddressLineData], ,"(?<streetNumber>^\\\\d*)","streetNumber", "888", , )',
            {"AddressLineData": "545 Tremont Street"},
            "888 Tremont Street",
        ),
        Example(
            'Replace([userPrincipalName], , "(?<Suffix>@(.)*)", "Suffix", "", , )',
            {"userPrincipalName": "jsmith@contoso.com"},
            "jsmith",
        ),
        Example(
            'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", '
            '"phoneNumber" , , [mobile], )',
            {"telephoneNumber": "", "mobile": "+91 8887779999"},
            "8887779999",
        ),
        Example('Replace([mailNickname], , "[a-zA-Z_]*", , "", , )', {"mailNickname": "john_doe72"}, "72"),
        Example('Replace([mail], "@contoso.com", , ,"", ,)', {"mail": "john.doe@contoso.com"}, "john.doe"),
    ],
)
def build_replace(call: Call, args: list[Arg]) -> Fn:
    source, old, pattern, group, replacement, repl_attr, template = args
    has = {
        n: a.present
        for n, a in zip(
            ("old", "regex", "group", "replacement", "attr", "template"),
            (old, pattern, group, replacement, repl_attr, template),
            strict=True,
        )
    }
    src_fn = compiled(source)
    old_fn, pat_fn, group_fn = compiled(old), compiled(pattern), compiled(group)
    repl_fn, attr_fn, tmpl_fn = compiled(replacement), compiled(repl_attr), compiled(template)
    literal_rx = _literal_regex(pattern, "regexPattern") if has["regex"] else None
    group_lit = group.str_literal("regexGroupName") if has["group"] else None
    if literal_rx is not None and group_lit is not None and group_lit not in literal_rx.groupindex:
        raise group.fail(f"the pattern has no group named {group_lit!r}")

    if has["old"] and has["template"] and not has["regex"]:

        def into_template(s: Source) -> Any:
            value, needle, tmpl = text(src_fn(s)), text(old_fn(s)), text(tmpl_fn(s))
            if value is None or tmpl is None:
                return None
            return tmpl.replace(needle, value) if needle else tmpl

        return into_template

    if has["old"] and has["replacement"] and not has["regex"]:

        def plain(s: Source) -> Any:
            needle, repl = text(old_fn(s)), text(repl_fn(s)) or ""
            return lift(lambda v: v.replace(needle, repl) if needle else v)(src_fn(s))

        return plain

    if has["regex"] and has["group"] and has["attr"]:

        def fallback(s: Source) -> Any:
            value = src_fn(s)
            if not is_null_or_empty(value):
                return value
            other = text(attr_fn(s))
            rx = _regex_of(literal_rx, pat_fn, s)
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

        def group_replace(s: Source) -> Any:
            rx = _regex_of(literal_rx, pat_fn, s)
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

        def regex_replace(s: Source) -> Any:
            rx = _regex_of(literal_rx, pat_fn, s)
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
