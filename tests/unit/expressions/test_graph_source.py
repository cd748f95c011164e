"""Graph attributeMappingSource JSON ⇄ Expression (the synchronization schema's storage form)."""

from __future__ import annotations

from typing import Any

import pytest

from hospes.expressions import (
    FUNCTIONS,
    NO_FLOW,
    ExpressionError,
    compile_expression,
    expression_from_graph_source,
    expression_to_graph_source,
    filter_operators_graph,
    functions_graph,
    parse_expression_response,
)

GRAPH_MID = {
    "expression": "Mid([userPrincipalName], 1, 8)",
    "name": "Mid",
    "type": "Function",
    "parameters": [
        {
            "key": "source",
            "value": {
                "expression": "[userPrincipalName]",
                "name": "userPrincipalName",
                "parameters": [],
                "type": "Attribute",
            },
        },
        {"key": "start", "value": {"expression": '"1"', "name": "1", "parameters": [], "type": "Constant"}},
        {"key": "length", "value": {"expression": '"8"', "name": "8", "parameters": [], "type": "Constant"}},
    ],
}
USER = {"userPrincipalName": "John.Doe@contoso.com"}


def test_graph_documentation_example() -> None:
    expr = expression_from_graph_source(GRAPH_MID)
    assert expr is not None
    assert expr.text == "Mid([userPrincipalName], 1, 8)"
    assert expr.evaluate(USER) == "John.Doe"
    assert expression_to_graph_source(expr) == GRAPH_MID


def test_tree_form_without_expression_text() -> None:
    tree_only = {k: v for k, v in GRAPH_MID.items() if k != "expression"}
    tree_only["parameters"] = list(reversed(GRAPH_MID["parameters"]))  # keys, not order, decide
    expr = expression_from_graph_source(tree_only)
    assert expr is not None
    assert expr.evaluate(USER) == "John.Doe"


def test_attribute_constant_and_none() -> None:
    mail = expression_from_graph_source({"expression": "[mail]", "name": "mail", "type": "Attribute"})
    assert mail is not None and mail.direct_attribute == "mail"
    const = expression_from_graph_source({"name": 'say "hi"', "type": "Constant"})
    assert const is not None and const.evaluate({}) == 'say "hi"'
    assert expression_from_graph_source(None) is None
    default_type = expression_from_graph_source({"name": "mail"})
    assert default_type is not None and default_type.evaluate({"mail": "m"}) == "m"


@pytest.mark.parametrize(
    "text",
    [
        'Replace([mail], "@contoso.com", , , "", , )',
        'Join(", ", "", [surname], [givenName])',
        'Switch([IsSoftDeleted], , "False", "True", "True", "False")',
        'IIF([country] = "USA", [country], [department])',
        'FormatDateTime([d], , "yyyyMMdd", "yyyy-MM-dd")',
        'Coalesce([mail], [userPrincipalName], "none")',
    ],
)
def test_round_trip_through_the_tree_form(text: str) -> None:
    source: dict[str, Any] = {
        "mail": "john@contoso.com",
        "surname": "Doe",
        "givenName": "John",
        "IsSoftDeleted": False,
        "country": "FR",
        "department": "Sales",
        "d": "20210305",
    }
    original = compile_expression(text)
    graph = expression_to_graph_source(original)
    graph.pop("expression")
    rebuilt = expression_from_graph_source(graph)
    assert rebuilt is not None
    assert rebuilt.evaluate(source) == original.evaluate(source)
    assert rebuilt.evaluate({}) == original.evaluate({}) or rebuilt.evaluate({}) is NO_FLOW


def test_repeating_parameters_are_numbered() -> None:
    graph = expression_to_graph_source(compile_expression('Join(" ", [a], [b])'))
    assert [p["key"] for p in graph["parameters"]] == ["separator", "source1", "source2"]
    graph = expression_to_graph_source(compile_expression('Coalesce([a], [b], "x")'))
    assert [p["key"] for p in graph["parameters"]] == ["source1", "source2", "defaultValue"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"type": "Attribute"}, "needs a name"),
        ({"type": "Function"}, "needs a name or an expression"),
        ({"type": "Lambda", "name": "x"}, "unknown attribute mapping source type"),
        ({"type": "Function", "name": "Mid", "parameters": [{"key": "begin", "value": {"name": "1"}}]}, "no parameter"),
        ({"type": "Function", "expression": "Mid([a], 1"}, "unexpected end"),
        ({"type": "Function", "name": "Nope", "parameters": []}, "unknown function"),
        ("x", "must be an object"),
    ],
)
def test_invalid_sources(raw: Any, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        expression_from_graph_source(raw)
    assert fragment in info.value.message


def test_parse_expression_response() -> None:
    ok = parse_expression_response(
        'Join(" ", [givenName], [surname])',
        {"properties": [{"key": "givenName", "value": "Ana"}, {"key": "surname", "value": "Lopez"}]},
    )
    assert ok["parsingSucceeded"] and ok["evaluationSucceeded"]
    assert ok["evaluationResult"] == ["Ana Lopez"]
    assert ok["parsedExpression"]["name"] == "Join"
    assert ok["error"] is None
    flags = parse_expression_response("CBool([a])", {"a": "1"})
    assert flags["evaluationResult"] == ["True"]
    none = parse_expression_response("IgnoreFlowIfNullOrEmpty([a])", {})
    assert none["evaluationSucceeded"] and none["evaluationResult"] == []
    bad = parse_expression_response("Mid([a], 1")
    assert not bad["parsingSucceeded"]
    assert bad["error"]["code"] == "InvalidExpression"
    assert bad["error"]["position"] == 10
    failed = parse_expression_response("CDate([d])", {"d": "soon"})
    assert failed["parsingSucceeded"] and not failed["evaluationSucceeded"]
    assert failed["error"]["code"] == "ExpressionEvaluationFailed"


def test_graph_payloads() -> None:
    functions = functions_graph()
    assert {f["name"] for f in functions} == set(FUNCTIONS)
    mid = next(f for f in functions if f["name"] == "Mid")
    assert [p["name"] for p in mid["parameters"]] == ["source", "start", "length"]
    assert {op["name"] for op in filter_operators_graph()} >= {"EQUALS", "REGEX MATCH", "IS NULL"}
