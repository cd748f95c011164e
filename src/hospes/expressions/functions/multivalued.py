"""Functions over multi-valued attributes: Count, Item and RemoveDuplicates."""

from __future__ import annotations

from typing import Any

from hospes.expressions.ast import Call
from hospes.expressions.functions.registry import Arg, Example, Fn, Param, Source, compiled, function
from hospes.expressions.values import to_int, values_of


@function(
    "Count",
    params=[Param("attribute", "attribute")],
    summary="Number of values of a multi-valued attribute (0 for null, 1 for a single value).",
    returns="Integer",
    examples=[Example("Count([proxyAddresses])", {"proxyAddresses": ["SMTP:a@x", "smtp:b@x"]}, 2)],
)
def build_count(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])
    return lambda s: sum(1 for _ in values_of(inner(s)))


@function(
    "Item",
    params=[Param("attribute", "attribute"), Param("index", "integer")],
    summary="The index-th value (1-based) of a multi-valued attribute; null when out of range. Index 0 is rejected.",
    returns="Any",
    examples=[Example("Item([proxyAddresses], 1)", {"proxyAddresses": ["SMTP:a@x", "smtp:b@x"]}, "SMTP:a@x")],
)
def build_item(call: Call, args: list[Arg]) -> Fn:
    inner, index_fn = compiled(args[0]), compiled(args[1])
    index_lit = args[1].int_literal("index")
    if index_lit is not None and index_lit < 1:
        raise args[1].fail("index is 1-based: the first item is 1")

    def run(s: Source) -> Any:
        index = index_lit if index_lit is not None else to_int(index_fn(s), "index")
        items = list(values_of(inner(s)))
        if index is None or index < 1 or index > len(items):
            return None
        return items[index - 1]

    return run


@function(
    "RemoveDuplicates",
    params=[Param("attribute", "attribute")],
    summary="The values of a multi-valued attribute without duplicates, order kept.",
    returns="Multi-valued",
    examples=[Example("RemoveDuplicates([proxyAddresses])", {"proxyAddresses": ["a", "b", "a"]}, ["a", "b"])],
)
def build_remove_duplicates(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])

    def run(s: Source) -> Any:
        value = inner(s)
        if not isinstance(value, list):
            return value
        seen: list[Any] = []
        for v in value:
            if v not in seen:
                seen.append(v)
        return seen

    return run
