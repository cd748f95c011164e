"""Scoping filters: every operator, AND inside a group, OR across groups, the null rule, bounded regexes."""

from __future__ import annotations

from typing import Any

import pytest

from hospes.expressions import FILTER_OPERATORS, ExpressionError, ExpressionEvaluationError, compile_scope
from hospes.expressions import scope as scope_module


def clause(op: str, attr: str, *values: str, **extra: Any) -> dict[str, Any]:
    return {"operatorName": op, "sourceOperandName": attr, "targetOperand": {"values": list(values)}, **extra}


def one(op: str, attr: str, *values: str, **extra: Any) -> Any:
    return compile_scope({"groups": [{"name": "t", "clauses": [clause(op, attr, *values, **extra)]}]})


@pytest.mark.parametrize(
    ("op", "values", "value", "expected"),
    [
        ("EQUALS", ["Sales"], "Sales", True),
        ("EQUALS", ["Sales"], "sales", False),  # case-sensitive
        ("NOT EQUALS", ["Sales"], "sales", True),
        ("NOT EQUALS", ["Sales"], "Sales", False),
        ("IS TRUE", [], True, True),
        ("IS TRUE", [], "True", True),
        ("IS TRUE", [], False, False),
        ("IS FALSE", [], False, True),
        ("IS FALSE", [], "false", True),
        ("IS FALSE", [], "no", False),
        ("IS NULL", [], "x", False),
        ("IS NOT NULL", [], "x", True),
        ("REGEX MATCH", [r".*\@domain.com"], "ana@domain.com", True),
        ("REGEX MATCH", [r"([1-9][0-9])"], "id 42", True),  # searched, not anchored
        ("REGEX MATCH", ["^A"], "abc", False),  # case-sensitive
        ("NOT REGEX MATCH", [r".*\@domain.com"], "ana@other.com", True),
        ("NOT REGEX MATCH", [r".*\@domain.com"], "ana@domain.com", False),
        ("Greater_Than", ["1000000"], "1500000", True),
        ("Greater_Than", ["10"], "10", False),
        ("Greater_Than", ["10"], "eleven", False),  # not an integer: never satisfied
        ("Greater_Than_OR_EQUALS", ["10"], 10, True),
        ("GREATER THAN OR EQUALS", ["10"], "9", False),
        ("Less_Than", ["10"], "9", True),
        ("Less_Than_OR_EQUALS", ["10"], "11", False),
        ("Includes", ["Sal"], "Sales", True),
        ("Includes", ["sal"], "Sales", False),
        ("ENDS_WITH", ["@contoso.com"], "a@contoso.com", True),
        ("ENDS_WITH", ["@contoso.com"], "a@contoso.com.evil", False),
        ("&", ["Paris,London"], "Paris", True),
        ("&", ["Paris,London"], "Rome", False),
        ("!&", ["Paris,London"], "Rome", True),
        ("IS IN", ["FR", "DE"], "DE", True),
        ("IS IN", ["FR", "DE"], "US", False),
        ("IS NOT IN", ["FR", "DE"], "US", True),
    ],
)
def test_operator(op: str, values: list[str], value: Any, expected: bool) -> None:
    assert one(op, "attr", *values).matches({"attr": value}) is expected


@pytest.mark.parametrize("operator", [op.name for op in FILTER_OPERATORS])
@pytest.mark.parametrize("value", [None, "", []])
def test_every_clause_on_null_or_empty_is_false_except_is_null(operator: str, value: Any) -> None:
    op = next(o for o in FILTER_OPERATORS if o.name == operator)
    values = ["1"] if op.arity == "Binary" else []
    compiled = one(operator, "attr", *values)
    assert compiled.matches({"attr": value}) is (operator == "IS NULL")
    assert compiled.matches({}) is (operator == "IS NULL")


def test_clauses_and_groups() -> None:
    scope = compile_scope(
        {
            "groups": [
                {
                    "name": "NY engineers",
                    "clauses": [
                        clause("EQUALS", "state", "New York"),
                        clause("EQUALS", "department", "Engineering"),
                        clause("REGEX MATCH", "employeeId", "^(1[0-9]{6})$"),
                        clause("IS NOT NULL", "jobTitle"),
                    ],
                },
                {"name": "Sales", "clauses": [clause("EQUALS", "department", "Sales")]},
            ],
            "inputFilterGroups": [],
            "categoryFilterGroups": [],
        }
    )
    ny = {"state": "New York", "department": "Engineering", "employeeId": "1500000", "jobTitle": "Dev"}
    assert scope.matches(ny)
    assert not scope.matches({**ny, "jobTitle": ""})  # AND inside a group
    assert not scope.matches({**ny, "employeeId": "2500000"})
    assert scope.matches({"department": "Sales"})  # OR across groups
    result = scope.evaluate({**ny, "jobTitle": None})
    assert not result.in_scope
    assert result.details["NY engineers.department EQUALS 'Engineering'"] is True
    assert result.details["NY engineers.jobTitle IS NOT NULL"] is False
    assert result.details["Sales.department EQUALS 'Sales'"] is False
    assert scope.attributes == {"state", "department", "employeeId", "jobTitle"}


def test_no_groups_means_everything_is_in_scope() -> None:
    assert compile_scope(None).matches({})
    assert compile_scope({"groups": []}).matches({"x": 1})
    assert compile_scope({"groups": [{"name": "empty", "clauses": []}]}).matches({})
    assert compile_scope({}).is_empty


def test_input_filter_groups_must_also_pass() -> None:
    scope = compile_scope(
        {
            "groups": [{"name": "g", "clauses": [clause("EQUALS", "a", "1")]}],
            "inputFilterGroups": [{"name": "i", "clauses": [clause("EQUALS", "b", "2")]}],
        }
    )
    assert scope.matches({"a": "1", "b": "2"})
    assert not scope.matches({"a": "1", "b": "3"})
    assert not scope.matches({"a": "0", "b": "2"})


def test_wire_spelling_and_case_insensitive_attribute() -> None:
    scope = compile_scope(
        {
            "Groups": [
                {
                    "Name": "x",
                    "Clauses": [
                        {
                            "OperatorName": "IS FALSE",
                            "SourceOperandName": "dirSyncEnabled",
                            "TargetOperand": {"Values": []},
                            "MultiValuedComparisonType": 0,
                        }
                    ],
                }
            ]
        }
    )
    assert scope.matches({"DirSyncEnabled": False})
    assert not scope.matches({"dirsyncenabled": True})


def test_multi_valued_attributes_all_or_any() -> None:
    all_ = one("ENDS_WITH", "proxyAddresses", "@c.com")
    any_ = one("ENDS_WITH", "proxyAddresses", "@c.com", multivaluedComparisonType="Any")
    src = {"proxyAddresses": ["a@c.com", "b@d.com"]}
    assert not all_.matches(src)
    assert any_.matches(src)
    assert all_.matches({"proxyAddresses": ["a@c.com", ""]})


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"groups": [{"clauses": [clause("LIKE", "a", "x")]}]}, "unknown operator 'LIKE'"),
        ({"groups": [{"clauses": [clause("EQUALS", "a")]}]}, "needs a value"),
        ({"groups": [{"clauses": [clause("EQUALS", "a", "x", "y")]}]}, "exactly one value"),
        ({"groups": [{"clauses": [clause("Greater_Than", "a", "ten")]}]}, "integer value"),
        ({"groups": [{"clauses": [clause("REGEX MATCH", "a", "(")]}]}, "invalid regular expression"),
        ({"groups": [{"clauses": [{"operatorName": "EQUALS"}]}]}, "sourceOperandName is required"),
        ({"groups": [{"clauses": [{"sourceOperandName": "a"}]}]}, "operatorName is required"),
        ({"groups": "nope"}, "must be a list"),
        ({"groups": [{"clauses": [clause("EQUALS", "a", "x") | {"targetOperand": {"values": "x"}}]}]}, "list"),
        ([1], "must be an object"),
    ],
)
def test_invalid_filters(raw: Any, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_scope(raw)
    assert fragment in info.value.message


def test_regex_is_bounded_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scope_module, "REGEX_TIMEOUT", 0.05)
    scope = one("REGEX MATCH", "a", "(a|aa)+$")
    with pytest.raises(ExpressionEvaluationError, match="longer than"):
        scope.matches({"a": "a" * 40 + "b"})


def test_filter_operators_payload() -> None:
    payload = scope_module.filter_operators_graph()
    names = [p["name"] for p in payload]
    for documented in ("EQUALS", "IS FALSE", "IS NOT NULL", "IS NULL", "IS TRUE", "NOT EQUALS", "NOT REGEX MATCH"):
        assert documented in names
    assert {p["arity"] for p in payload} == {"Unary", "Binary"}
