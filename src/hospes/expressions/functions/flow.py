"""Functions whose effect the compiled ``Expression`` carries out rather than the closure alone.

IgnoreFlowIfNullOrEmpty raises ``DropFlow``, which ``Expression.evaluate`` turns into no flow; Redact marks the
expression ``redacted`` so logs hide the value; SelectUniqueValue's candidates are tried by
``Expression.evaluate`` against the target's uniqueness check.
"""

from __future__ import annotations

from typing import Any

from hospes.expressions.ast import Call
from hospes.expressions.errors import DropFlow
from hospes.expressions.functions.registry import EXPRESSION, Arg, Example, Fn, Param, Source, compiled, function
from hospes.expressions.values import is_null_or_empty


@function(
    "IgnoreFlowIfNullOrEmpty",
    params=[Param("expression", EXPRESSION)],
    summary="Drops the attribute from the flow when the enclosed expression is null or empty.",
    returns="Any",
    examples=[
        Example("IgnoreFlowIfNullOrEmpty([department])", {"department": ""}, "no flow"),
        Example("IgnoreFlowIfNullOrEmpty([department])", {"department": "Sales"}, "Sales"),
        Example(
            'IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))',
            {"prefix": "9999"},
            "no flow",
        ),
    ],
)
def build_ignore_flow(call: Call, args: list[Arg]) -> Fn:
    inner = compiled(args[0])

    def run(s: Source) -> Any:
        value = inner(s)
        if is_null_or_empty(value):
            raise DropFlow
        return value

    return run


@function(
    "Redact",
    params=[Param("value", EXPRESSION)],
    summary="The value flows unchanged but is shown as [Redact] in provisioning logs.",
    returns="Any",
    examples=[Example("Redact([userPrincipalName])", {"userPrincipalName": "a@b.c"}, "a@b.c")],
)
def build_redact(call: Call, args: list[Arg]) -> Fn:
    return compiled(args[0])  # the value flows unchanged; Expression.redacted tells the logs to hide it


@function(
    "SelectUniqueValue",
    params=[Param("uniqueValueRule", EXPRESSION, repeating=True)],
    summary=(
        "The first candidate the target reports as unique (the engine supplies the check); at least two "
        "rules, top level only, for creation-only mappings that are not matching attributes. When every "
        "candidate is taken the object is escrowed."
    ),
    top_level_only=True,
    min_repeats=2,
    examples=[
        Example(
            'SelectUniqueValue(Join("@", NormalizeDiacritics(StripSpaces(Join(".", [PreferredFirstName], '
            '[PreferredLastName]))), "contoso.com"), Join("@", NormalizeDiacritics(StripSpaces(Join(".", '
            'Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), "contoso.com"))',
            {"PreferredFirstName": "John", "PreferredLastName": "Smith"},
            "John.Smith@contoso.com",
        ),
    ],
)
def build_select_unique(call: Call, args: list[Arg]) -> Fn:
    fns = [compiled(a) for a in args]
    # Evaluated by Expression.evaluate, which owns the uniqueness callback; as a plain closure it yields the
    # list of candidates.
    return lambda s: [f(s) for f in fns]
