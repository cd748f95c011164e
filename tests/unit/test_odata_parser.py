"""The ``$filter`` grammar: precedence, literals, lambdas, and positioned syntax errors."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hospes.odata import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_TERMS,
    MAX_ORDERBY_KEYS,
    MAX_SEARCH_TERMS,
    And,
    Compare,
    Func,
    In,
    Lambda,
    Literal,
    Not,
    ODataLimitError,
    ODataSyntaxError,
    Or,
    Path,
    parse_filter,
)
from hospes.odata.parser import parse_orderby, parse_search


def test_precedence_and_over_or() -> None:
    node = parse_filter("a eq 'x' or b eq 'y' and not c eq 'z'")
    assert node == Or(
        (
            Compare("eq", Path(("a",)), Literal("x")),
            And((Compare("eq", Path(("b",)), Literal("y")), Not(Compare("eq", Path(("c",)), Literal("z"))))),
        )
    )


def test_literals_and_functions() -> None:
    assert parse_filter("displayName eq 'O''Brien'") == Compare("eq", Path(("displayName",)), Literal("O'Brien"))
    assert parse_filter("startsWith(mail,'a')") == Func("startswith", Path(("mail",)), Literal("a"))
    assert parse_filter("accountEnabled eq true") == Compare("eq", Path(("accountEnabled",)), Literal(True))
    assert parse_filter("mail eq null") == Compare("eq", Path(("mail",)), Literal(None))
    when = parse_filter("createdDateTime ge 2024-01-02T03:04:05Z")
    assert isinstance(when, Compare) and when.right == Literal(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert parse_filter("id in ('a', 'b')") == In(Path(("id",)), (Literal("a"), Literal("b")))
    guid = "5d2d2e5a-0b9e-4f4c-8a5b-2b0c1c1c1c1c"
    assert parse_filter(f"id eq {guid}") == Compare("eq", Path(("id",)), Literal(guid))


def test_lambda() -> None:
    node = parse_filter("identities/any(c:c/issuer eq 'x' and c/issuerAssignedId eq 'y')")
    assert isinstance(node, Lambda) and node.collection == Path(("identities",)) and node.variable == "c"
    # A property whose name starts with a keyword is still a property.
    assert parse_filter("notes eq 'x'") == Compare("eq", Path(("notes",)), Literal("x"))
    assert parse_filter("android eq 'x'") == Compare("eq", Path(("android",)), Literal("x"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "displayName eq",
        "eq 'x'",
        "(a eq 'x'",
        "a eq 'x')",
        "a",
        "a eq 'x' and",
        "startswith(a)",
        "a eq 'unterminated",
    ],
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(ODataSyntaxError):
        parse_filter(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab eqnotrdl()/'0123,:-_xany")), max_size=40))
def test_no_input_crashes_the_parser(text: str) -> None:
    with contextlib.suppress(ODataSyntaxError):
        parse_filter(text)


def test_orderby_and_search() -> None:
    assert parse_orderby("displayName desc, id") == [("displayName", True), ("id", False)]
    with pytest.raises(ODataSyntaxError):
        parse_orderby("displayName sideways")
    assert parse_search('"displayName:ada" OR "mail:ada"') == [("displayName", "ada"), ("mail", "ada")]
    with pytest.raises(ODataSyntaxError):
        parse_search("displayName:ada")


def _eq(i: int) -> str:
    return f"displayName eq 'n{i}'"


@pytest.mark.parametrize(
    "text",
    [
        "(" * 500 + _eq(0) + ")" * 500,  # deeper than the interpreter's recursion limit once transformed
        "not " * 500 + _eq(0),
        "(" * MAX_FILTER_DEPTH + _eq(0) + ")" * MAX_FILTER_DEPTH,  # the whole filter is the first level
    ],
)
def test_nesting_past_the_limit_is_refused(text: str) -> None:
    with pytest.raises(ODataLimitError, match=f"deeper than {MAX_FILTER_DEPTH}"):
        parse_filter(text)


def test_nesting_up_to_the_limit_parses() -> None:
    depth = MAX_FILTER_DEPTH - 1
    node = parse_filter("(" * depth + _eq(0) + ")" * depth)
    assert node == Compare("eq", Path(("displayName",)), Literal("n0"))
    assert isinstance(parse_filter("not " * (MAX_FILTER_DEPTH - 1) + _eq(0)), Not)


@pytest.mark.parametrize(
    "text",
    [
        " or ".join(_eq(i) for i in range(1000)),  # SQLite: "Expression tree is too large (maximum depth 1000)"
        " and ".join(_eq(i) for i in range(MAX_FILTER_TERMS + 1)),
        "id in (" + ",".join(f"'{i}'" for i in range(MAX_FILTER_TERMS + 1)) + ")",
    ],
)
def test_terms_past_the_limit_are_refused(text: str) -> None:
    with pytest.raises(ODataLimitError, match=f"more than {MAX_FILTER_TERMS} terms"):
        parse_filter(text)


def test_terms_up_to_the_limit_parse() -> None:
    node = parse_filter(" or ".join(_eq(i) for i in range(MAX_FILTER_TERMS)))
    assert isinstance(node, Or) and len(node.items) == MAX_FILTER_TERMS


def test_orderby_and_search_limits() -> None:
    assert len(parse_orderby(",".join(["displayName"] * MAX_ORDERBY_KEYS))) == MAX_ORDERBY_KEYS
    with pytest.raises(ODataLimitError):
        parse_orderby(",".join(["displayName desc", "id"] * 500))
    assert len(parse_search(" OR ".join(['"displayName:a"'] * MAX_SEARCH_TERMS))) == MAX_SEARCH_TERMS
    with pytest.raises(ODataLimitError):
        parse_search(" OR ".join(['"displayName:a"'] * 1000))
