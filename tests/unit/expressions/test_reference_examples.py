"""Every example of the reference documentation, as registered next to each function, evaluates as documented."""

from __future__ import annotations

import re

import pytest

from hospes.expressions import FUNCTIONS, NO_FLOW, compile_expression
from hospes.expressions.functions.registry import Example

# The function list of Microsoft's "functions for customizing application data" page plus
# AssertiveAppRoleAssignmentsComplex, documented on the attribute-mapping page, and AltSecIdFromNetId, the
# matching function of cross-tenant synchronization's default mappings.
REFERENCE_FUNCTIONS = [
    "AltSecIdFromNetId",
    "Append",
    "AppRoleAssignmentsComplex",
    "AssertiveAppRoleAssignmentsComplex",
    "BitAnd",
    "CBool",
    "CDate",
    "Coalesce",
    "ConvertToBase64",
    "ConvertToUTF8Hex",
    "Count",
    "CStr",
    "DateAdd",
    "DateDiff",
    "DateFromNum",
    "FormatDateTime",
    "Guid",
    "IgnoreFlowIfNullOrEmpty",
    "IIF",
    "InStr",
    "IsNull",
    "IsNullOrEmpty",
    "IsPresent",
    "IsString",
    "Item",
    "Join",
    "Left",
    "Mid",
    "NormalizeDiacritics",
    "Not",
    "Now",
    "NumFromDate",
    "PCase",
    "RandomString",
    "Redact",
    "RemoveDuplicates",
    "Replace",
    "SelectUniqueValue",
    "SingleAppRoleAssignment",
    "Split",
    "StripSpaces",
    "Switch",
    "ToLower",
    "ToUpper",
    "Word",
]

EXAMPLES = [
    pytest.param(example, id=f"{name}-{i}")
    for name, spec in FUNCTIONS.items()
    for i, example in enumerate(spec.examples)
]


def test_every_reference_function_is_registered_with_an_example() -> None:
    assert set(FUNCTIONS) == set(REFERENCE_FUNCTIONS)
    for name in REFERENCE_FUNCTIONS:
        assert FUNCTIONS[name].examples, name


@pytest.mark.parametrize("example", EXAMPLES)
def test_reference_example(example: Example) -> None:
    result = compile_expression(example.expression).evaluate(example.source)
    if example.pattern:
        assert re.fullmatch(example.result, str(result)), result
    elif example.result == "no flow":
        assert result is NO_FLOW
    else:
        assert result == example.result
        assert type(result) is type(example.result)


def test_signatures_follow_the_reference() -> None:
    assert FUNCTIONS["Replace"].signature == (
        "Replace(source, [oldValue], [regexPattern], [regexGroupName], [replacementValue], "
        "[replacementAttributeName], [template])"
    )
    assert FUNCTIONS["Join"].signature == "Join(separator, source1, ..., sourceN)"
    assert FUNCTIONS["Mid"].min_args == FUNCTIONS["Mid"].max_args == 3
    assert FUNCTIONS["SelectUniqueValue"].min_args == 2
    assert FUNCTIONS["Switch"].min_args == 4
    assert FUNCTIONS["Guid"].max_args == 0
    assert FUNCTIONS["FormatDateTime"].min_args == 4  # the optional styles slot sits before required ones
    assert FUNCTIONS["Coalesce"].min_args == 1
