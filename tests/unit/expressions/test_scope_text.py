"""The text form of scoping filters: filter -> text -> filter round trips, parsing, and errors with a position."""

from __future__ import annotations

from typing import Any

import pytest

from hospes.expressions import FILTER_OPERATORS, ExpressionError, compile_scope, scope_from_text, scope_to_text


def clause(attribute: str, operator: str, *values: str) -> dict[str, Any]:
    return {"sourceOperandName": attribute, "operatorName": operator, "targetOperand": {"values": list(values)}}


def groups(*clause_lists: list[dict[str, Any]]) -> dict[str, Any]:
    return {"groups": [{"name": f"Group {i + 1}", "clauses": c} for i, c in enumerate(clause_lists)]}


# (filter as stored, its text form); the filter is in the shape scope_from_text writes, so both directions hold.
ROUND_TRIPS = [
    (groups([clause("department", "EQUALS", "Sales")]), "department EQUALS Sales"),
    (groups([clause("accountEnabled", "IS TRUE")]), "accountEnabled IS TRUE"),
    (
        groups([clause("department", "EQUALS", "Sales"), clause("country", "IS IN", "FR", "DE")]),
        "department EQUALS Sales\ncountry IS IN FR,DE",
    ),
    (
        groups([clause("department", "EQUALS", "Sales")], [clause("jobTitle", "Includes", "Director")]),
        "department EQUALS Sales\n\njobTitle Includes Director",
    ),
    (groups([clause("mail", "REGEX MATCH", r".*\@contoso\.com$")]), r"mail REGEX MATCH .*\@contoso\.com$"),
    (groups([clause("employeeId", "Greater_Than_OR_EQUALS", "10")]), "employeeId Greater_Than_OR_EQUALS 10"),
    (groups([clause("manager", "IS NOT NULL")]), "manager IS NOT NULL"),
    (groups([clause("city", "!&", "Paris")]), "city !& Paris"),
    (groups([clause("displayName", "EQUALS", "Ana Lopez")]), "displayName EQUALS Ana Lopez"),
] + [(groups([clause("a", op.name, "1")]), f"a {op.name} 1") for op in FILTER_OPERATORS if op.arity == "Binary"]


@pytest.mark.parametrize(("scope", "text"), ROUND_TRIPS)
def test_round_trip(scope: dict[str, Any], text: str) -> None:
    assert scope_to_text(scope) == text
    assert scope_from_text(text) == scope
    assert scope_to_text(scope_from_text(scope_to_text(scope))) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("  \n\n \n", None),
        ("department equals Sales", groups([clause("department", "EQUALS", "Sales")])),  # canonical spelling
        ("  department   EQUALS   Sales  ", groups([clause("department", "EQUALS", "Sales")])),
        ("country IS IN FR , DE,", groups([clause("country", "IS IN", "FR", "DE", "")])),
        ("a EQUALS 1\r\n\r\nb EQUALS 2\r\n", groups([clause("a", "EQUALS", "1")], [clause("b", "EQUALS", "2")])),
        ("\n\n\na EQUALS 1\n\n\n\nb EQUALS 2", groups([clause("a", "EQUALS", "1")], [clause("b", "EQUALS", "2")])),
        ("a EQUALS 1\n \nb EQUALS 2", groups([clause("a", "EQUALS", "1"), clause("b", "EQUALS", "2")])),
        ("a IS NOT IN x", groups([clause("a", "IS NOT IN", "x")])),
        ("a IS NOT NULL", groups([clause("a", "IS NOT NULL")])),
        ("a Less_Than_OR_EQUALS 3", groups([clause("a", "Less_Than_OR_EQUALS", "3")])),
    ],
)
def test_from_text(text: str, expected: dict[str, Any] | None) -> None:
    assert scope_from_text(text) == expected


@pytest.mark.parametrize(
    ("scope", "text"),
    [
        (None, ""),
        ("not a filter", ""),
        ({"groups": []}, ""),
        (
            {
                "Groups": [
                    {
                        "Name": "g",
                        "Clauses": [
                            {"SourceOperandName": "a", "OperatorName": "EQUALS", "TargetOperand": {"Values": ["1"]}}
                        ],
                    }
                ]
            },
            "a EQUALS 1",
        ),
        ({"groups": [{"clauses": [{"sourceOperandName": "a", "operatorName": "IS NULL"}]}]}, "a IS NULL"),
    ],
)
def test_to_text(scope: Any, text: str) -> None:
    assert scope_to_text(scope) == text


@pytest.mark.parametrize(
    ("text", "line", "position"),
    [
        ("department", "department", 10),  # no operator: expected at the end of the line
        ("department Sales", "department Sales", 11),
        ("department   LIKE Sales", "department   LIKE Sales", 13),
        ("a EQUALS 1\nb NEAR 2", "b NEAR 2", 13),
        ("a EQUALS 1\n\n   b NEAR 2", "b NEAR 2", 17),
        ("a EQUALS 1\r\n\r\nb NEAR 2", "b NEAR 2", 16),  # an offset in the text as given, CRLF included
        ("a\tEQUALS 1", "a\tEQUALS 1", 9),  # only a space separates the attribute
    ],
)
def test_errors_carry_the_position(text: str, line: str, position: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        scope_from_text(text)
    error = caught.value
    assert error.message == f"'{line}': write an attribute, an operator and a value"
    assert error.position == position
    assert error.expected == [op.name for op in FILTER_OPERATORS]
    assert error.caret(text).splitlines()[0].strip() == line


def test_parsed_text_compiles_to_the_same_scope() -> None:
    text = "department EQUALS Sales\ncountry IS IN FR,DE\n\njobTitle Includes Director"
    scope = compile_scope(scope_from_text(text))
    assert scope.matches({"department": "Sales", "country": "DE"})
    assert scope.matches({"jobTitle": "Sales Director"})
    assert not scope.matches({"department": "Sales", "country": "US"})
