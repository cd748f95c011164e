"""Conditions and choices: null tests, Coalesce, IIF, Switch, Not, CBool and BitAnd."""

from __future__ import annotations

from typing import Any

from hospes.expressions.ast import Call
from hospes.expressions.errors import ExpressionError
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
from hospes.expressions.values import is_null, is_null_or_empty, text, to_bool, to_int


@function(
    "Coalesce",
    params=[Param("source", STRING, repeating=True), Param("defaultValue", STRING, optional=True)],
    summary="The first argument that is not null; the last argument serves as the default.",
    examples=[
        Example(
            "Coalesce([mail], [userPrincipalName])",
            {"userPrincipalName": "John.Doe@contoso.com"},
            "John.Doe@contoso.com",
        ),
        Example('Coalesce([mail], [otherMail], "none")', {}, "none"),
    ],
)
def build_coalesce(call: Call, args: list[Arg]) -> Fn:
    fns = [compiled(a) for a in args if a.present]

    def run(s: Source) -> Any:
        for f in fns:
            value = f(s)
            if not is_null(value):
                return value
        return None

    return run


@function(
    "IsNull",
    params=[Param("expression", EXPRESSION)],
    summary="True when the expression is null (an absent attribute).",
    returns="Boolean",
    examples=[Example("IsNull([displayName])", {}, True)],
)
def build_is_null(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])
    return lambda s: is_null(inner(s))


@function(
    "IsNullOrEmpty",
    params=[Param("expression", EXPRESSION)],
    summary='True when the expression is null or "".',
    returns="Boolean",
    examples=[Example("IsNullOrEmpty([displayName])", {"displayName": ""}, True)],
)
def build_is_null_or_empty(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])
    return lambda s: is_null_or_empty(inner(s))


@function(
    "IsPresent",
    params=[Param("expression", EXPRESSION)],
    summary='True when the expression is neither null nor "" (the inverse of IsNullOrEmpty).',
    returns="Boolean",
    examples=[Example("IsPresent([displayName])", {"displayName": "Ana"}, True)],
)
def build_is_present(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])
    return lambda s: not is_null_or_empty(inner(s))


@function(
    "IsString",
    params=[Param("expression", EXPRESSION)],
    summary="True when the expression evaluates to a string.",
    returns="Boolean",
    examples=[
        Example("IsString([displayName])", {"displayName": "Ana"}, True),
        Example("IsString(Count([x]))", {}, False),
    ],
)
def build_is_string(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])
    return lambda s: isinstance(inner(s), str)


@function(
    "IIF",
    params=[Param("condition", EXPRESSION), Param("valueIfTrue", EXPRESSION), Param("valueIfFalse", EXPRESSION)],
    summary=(
        "valueIfTrue when the condition holds, else valueIfFalse. Conditions compare with = <> > >= < <=; a "
        "comparison with a null or empty side is false."
    ),
    returns="Any",
    examples=[
        Example('IIF([country]="USA",[country],[department])', {"country": "USA", "department": "Sales"}, "USA"),
        Example('IIF([country]="USA",[country],[department])', {"country": "FR", "department": "Sales"}, "Sales"),
        Example(
            'IIF([country]="USA",IIF([state]="CA","True","False"),"False")',
            {"country": "USA", "state": "CA"},
            "True",
        ),
    ],
)
def build_iif(call: Call, args: list[Arg]) -> Fn:
    cond, yes, no = compiled(args[0]), compiled(args[1]), compiled(args[2])

    def run(s: Source) -> Any:
        return yes(s) if to_bool(cond(s)) else no(s)

    return run


@function(
    "Switch",
    params=[
        Param("source", STRING),
        Param("defaultValue", STRING, optional=True),
        Param("key", STRING, repeating=True),
    ],
    summary=(
        "The value paired with the first key equal (case-sensitive) to the source, else defaultValue. Keys and "
        'values alternate. A null source matches the key "".'
    ),
    returns="Any",
    min_repeats=2,
    pairs=True,
    examples=[
        Example(
            'Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "SA", '
            '"Australia/Adelaide")',
            {"state": "QLD"},
            "Australia/Brisbane",
        ),
        Example('Switch([IsSoftDeleted], , "False", "True", "True", "False")', {"IsSoftDeleted": False}, "True"),
        Example('Switch([country],[country],"","Other")', {}, "Other"),
        Example('Switch(ToLower([statusFlag]), "0", "true", "1", "false", "0")', {"statusFlag": "TRUE"}, "1"),
    ],
)
def build_switch(call: Call, args: list[Arg]) -> Fn:
    if len(args) % 2:
        raise ExpressionError(
            "Switch takes source, defaultValue and then key/value pairs: an even number of arguments", call.pos
        )
    src, default = compiled(args[0]), compiled(args[1])
    pairs = [(args[i], args[i + 1]) for i in range(2, len(args), 2)]
    for key, value in pairs:
        if not key.present or not value.present:
            raise (key if not key.present else value).fail("Switch keys and values cannot be left empty")
    literal = all(k.is_const or k.str_literal("key") is not None for k, _ in pairs)
    if literal:
        table: dict[str, Fn] = {}
        for key, value in pairs:
            table.setdefault(str(key.str_literal("key")), compiled(value))

        def lookup(s: Source) -> Any:
            # A null source compares as "" so that Switch([x], [x], "", "Other") handles absent values.
            chosen = table.get(text(src(s)) or "")
            return (chosen or default)(s)

        return lookup
    key_fns = [(compiled(k), compiled(v)) for k, v in pairs]

    def scan(s: Source) -> Any:
        probe = text(src(s)) or ""
        for key_fn, value_fn in key_fns:
            if (text(key_fn(s)) or "") == probe:
                return value_fn(s)
        return default(s)

    return scan


@function(
    "Not",
    params=[Param("source", "boolean")],
    summary='False when the source is true or "True", true otherwise.',
    returns="Boolean",
    examples=[Example("Not([accountEnabled])", {"accountEnabled": True}, False), Example('Not("False")', {}, True)],
)
def build_not(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])

    def run(s: Source) -> Any:
        value = inner(s)
        truth = value is True or (isinstance(value, str) and value.strip().lower() == "true")
        return not truth

    return run


@function(
    "CBool",
    params=[Param("expression", EXPRESSION)],
    summary='True when the expression is true, "True" or a non-zero number; false otherwise (null is false).',
    returns="Boolean",
    examples=[
        Example("CBool([attribute1] = [attribute2])", {"attribute1": "a", "attribute2": "a"}, True),
        Example("CBool([attribute1] = [attribute2])", {"attribute1": "a", "attribute2": "b"}, False),
    ],
)
def build_cbool(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])
    return lambda s: to_bool(inner(s))


@function(
    "BitAnd",
    params=[Param("value1", "integer"), Param("value2", "integer")],
    summary="Bitwise AND of two integers (hex literals are written `&HF7`).",
    returns="Integer",
    examples=[Example("BitAnd(&HF, &HF7)", {}, 7)],
)
def build_bitand(call: Call, args: list[Arg]) -> Fn:
    for i, a in enumerate(args):
        a.int_literal(f"value{i + 1}")
    a_fn, build_fn = compiled(args[0]), compiled(args[1])

    def run(s: Source) -> Any:
        a, b = to_int(a_fn(s), "value1"), to_int(build_fn(s), "value2")
        if a is None or b is None:
            return None
        return a & b

    return run
