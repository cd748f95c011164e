"""String functions: concatenation, substrings, words, splitting, searching and byte encodings.

Text functions given a multi-valued source transform it value by value (``lift``).
"""

from __future__ import annotations

import base64
from typing import Any

from hospes.expressions.ast import Call, Name
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
    null,
)
from hospes.expressions.values import lift, text, to_int, values_of


@function(
    "Append",
    params=[Param("source", STRING), Param("suffix", STRING)],
    summary="Concatenates the suffix to the end of the source value. A null source gives null (no flow).",
    examples=[
        Example(
            'Append([userPrincipalName], ".test")',
            {"userPrincipalName": "John.Doe@contoso.com"},
            "John.Doe@contoso.com.test",
        ),
    ],
)
def build_append(call: Call, args: list[Arg]) -> Fn:
    src, suffix = compiled(args[0]), compiled(args[1])

    def run(s: Source) -> Any:
        tail = text(suffix(s)) or ""
        return lift(lambda v: v + tail)(src(s))

    return run


@function(
    "Join",
    params=[Param("separator", STRING), Param("source", STRING, repeating=True)],
    summary=(
        "Joins the values (multi-valued ones expanded) with the separator, skipping null and empty values; "
        "null when nothing is left."
    ),
    examples=[
        Example('Join(", ", "", [surname], [givenName])', {"givenName": "John", "surname": "Doe"}, "Doe, John"),
        Example('Join("", 1000, "7")', {}, "10007"),
    ],
)
def build_join(call: Call, args: list[Arg]) -> Fn:
    sep_fn = compiled(args[0])
    parts = [compiled(a) for a in args[1:]]

    def run(s: Source) -> Any:
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


@function(
    "Left",
    params=[Param("String", STRING), Param("NumChars", "integer")],
    summary='The first NumChars characters: 0 gives "", a negative count the whole string, a null string "".',
    examples=[Example('Left("John Doe", 3)', {}, "Joh")],
)
def build_left(call: Call, args: list[Arg]) -> Fn:
    src = compiled(args[0])
    n_lit = args[1].int_literal("NumChars")
    n_fn = compiled(args[1])

    def cut(value: str, n: int) -> str:
        if n < 0:
            return value
        return value[:n]

    def run(s: Source) -> Any:
        n = n_lit if n_lit is not None else to_int(n_fn(s), "NumChars")
        value = src(s)
        if n is None:
            return None
        if value is None:
            return ""  # documented: a null string gives ""
        return lift(lambda v: cut(v, n))(value)

    return run


@function(
    "Mid",
    params=[Param("source", STRING), Param("start", "integer"), Param("length", "integer")],
    summary="length characters from the 1-based start, cut at the end of the string.",
    examples=[
        Example(
            "Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))",
            {"givenName": "John", "surname": "Doe"},
            "JohDoe",
        ),
    ],
)
def build_mid(call: Call, args: list[Arg]) -> Fn:
    src = compiled(args[0])
    start_lit = args[1].int_literal("start")
    length_lit = args[2].int_literal("length")
    if start_lit is not None and start_lit < 1:
        raise args[1].fail("start is 1-based and must be at least 1")
    if length_lit is not None and length_lit < 0:
        raise args[2].fail("length must not be negative")
    start_fn, length_fn = compiled(args[1]), compiled(args[2])

    def run(s: Source) -> Any:
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


@function(
    "Word",
    params=[Param("String", STRING), Param("WordNumber", "integer"), Param("Delimiters", STRING)],
    summary='The WordNumber-th word (1-based) where any delimiter character splits; "" when out of range or null.',
    examples=[
        Example('Word("The quick brown fox",3," ")', {}, "brown"),
        Example('Word("This,string!has&many separators",3,",!&#")', {}, "has"),
    ],
)
def build_word(call: Call, args: list[Arg]) -> Fn:
    src, n_fn, delim_fn = compiled(args[0]), compiled(args[1]), compiled(args[2])
    n_lit = args[1].int_literal("WordNumber")

    def run(s: Source) -> Any:
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


@function(
    "StripSpaces",
    params=[Param("source", STRING)],
    summary='Removes every space (" ") character, and only those.',
    examples=[Example('StripSpaces("Jean Luc\tX")', {}, "JeanLuc\tX")],
)
def build_strip_spaces(call: Call, args: list[Arg]) -> Fn:
    src = compiled(args[0])
    f = lift(lambda v: v.replace(" ", ""))
    return lambda s: f(src(s))


@function(
    "Split",
    params=[Param("source", STRING), Param("delimiter", STRING)],
    summary=(
        "Splits a string into a multi-valued attribute at each delimiter (parts trimmed, as in the reference example)."
    ),
    returns="Multi-valued",
    examples=[
        Example(
            'Split([extensionAttribute5], ",")',
            {"extensionAttribute5": "PermissionSetOne, PermissionSetTwo"},
            ["PermissionSetOne", "PermissionSetTwo"],
        ),
    ],
)
def build_split(call: Call, args: list[Arg]) -> Fn:
    src, delim_fn = compiled(args[0]), compiled(args[1])
    delim_lit = args[1].str_literal("delimiter")
    if delim_lit == "":
        raise args[1].fail("the delimiter must not be empty")

    def run(s: Source) -> Any:
        value = text(src(s))
        delim = delim_lit if delim_lit is not None else text(delim_fn(s))
        if value is None:
            return None
        if not delim:
            raise ExpressionEvaluationError("Split delimiter is empty")
        # Microsoft's example trims the parts: "One, Two" -> ["One", "Two"].
        return [part.strip() for part in value.split(delim)]

    return run


@function(
    "InStr",
    params=[
        Param("value1", STRING),
        Param("value2", STRING),
        Param("start", "integer", optional=True),
        Param("compareType", "compare", optional=True),
    ],
    summary="1-based position of value2 in value1 from start (0 when absent); vbTextCompare ignores case.",
    returns="Integer",
    examples=[
        Example('InStr("The quick brown fox","quick")', {}, 5),
        Example('InStr("repEated","e",3,vbBinaryCompare)', {}, 7),
        Example('InStr("repEated","e",3,vbTextCompare)', {}, 4),
    ],
)
def build_instr(call: Call, args: list[Arg]) -> Fn:
    v1, v2 = compiled(args[0]), compiled(args[1])
    start_arg = args[2] if len(args) > 2 and args[2].present else None
    start_lit = start_arg.int_literal("start") if start_arg else 1
    if start_lit is not None and start_lit < 1:
        raise args[2].fail("start is 1-based and must be at least 1")
    start_fn = compiled(start_arg) if start_arg else null
    text_compare = False
    if len(args) > 3 and args[3].present:
        node = args[3].node
        mode = node.name if isinstance(node, Name) else args[3].str_literal("compareType")
        if mode not in ("vbTextCompare", "vbBinaryCompare"):
            raise args[3].fail("compareType must be vbTextCompare or vbBinaryCompare")
        text_compare = mode == "vbTextCompare"

    def run(s: Source) -> Any:
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


@function(
    "CStr",
    params=[Param("value", EXPRESSION)],
    summary='Converts a number, reference or boolean to a string ("True"/"False" for booleans).',
    examples=[
        Example("CStr([dn])", {"dn": "cn=Joe,dc=contoso,dc=com"}, "cn=Joe,dc=contoso,dc=com"),
        Example("CStr([accountEnabled])", {"accountEnabled": True}, "True"),
    ],
)
def build_cstr(call: Call, args: list[Arg]) -> Fn:
    src = compiled(args[0])
    return lambda s: lift(lambda v: v)(src(s))


@function(
    "AltSecIdFromNetId",
    params=[Param("source", EXPRESSION)],
    summary="The alternative security id cross-tenant synchronization stores on a target user for a source "
    "user's immutable id (type 5, the source object id).",
    examples=[
        Example(
            "AltSecIdFromNetId([netId])",
            {"netId": "0f1e2d3c-0000-4000-8000-00000000abcd"},
            "5::0f1e2d3c-0000-4000-8000-00000000abcd",
        )
    ],
)
def build_alt_sec_id_from_net_id(call: Call, args: list[Arg]) -> Fn:
    src = compiled(args[0])
    return lambda s: lift(lambda v: f"5::{v}")(src(s))


@function(
    "ConvertToBase64",
    params=[Param("source", STRING)],
    summary='Base64 of the UTF-16LE ("Unicode") bytes of the string.',
    examples=[Example('ConvertToBase64("Hello world!")', {}, "SABlAGwAbABvACAAdwBvAHIAbABkACEA")],
)
def build_convert_to_base64(call: Call, args: list[Arg]) -> Fn:
    src = compiled(args[0])
    f = lift(lambda v: base64.b64encode(v.encode("utf-16-le")).decode("ascii"))
    return lambda s: f(src(s))


@function(
    "ConvertToUTF8Hex",
    params=[Param("source", STRING)],
    summary="Upper-case hex of the UTF-8 bytes of the string.",
    examples=[Example('ConvertToUTF8Hex("Hello world!")', {}, "48656C6C6F20776F726C6421")],
)
def build_convert_to_utf8_hex(call: Call, args: list[Arg]) -> Fn:
    src = compiled(args[0])
    f = lift(lambda v: v.encode("utf-8").hex().upper())
    return lambda s: f(src(s))
