"""Property tests: print → parse is the identity on trees; no input makes the library fail other than with
ExpressionError (parsing, compiling, or evaluating against arbitrary source objects)."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hospes.expressions import (
    FUNCTIONS,
    ExpressionError,
    compile_expression,
    compile_scope,
    compile_tree,
    parse,
    to_text,
)
from hospes.expressions.ast import COMPARE_OPS, Attribute, Call, Compare, Name, Node, Number, Omitted, String

IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
ATTR_NAME = st.text(alphabet=st.characters(blacklist_characters='[]"', blacklist_categories=["Cs"]), max_size=15).map(
    str.strip
)

LEAF_KINDS = st.sampled_from(["attribute", "string", "int", "hex", "name"])


@st.composite
def leaves(draw: st.DrawFn) -> Node:
    kind = draw(LEAF_KINDS)
    if kind == "attribute":
        return Attribute(draw(ATTR_NAME))
    if kind == "string":
        return String(draw(st.text(max_size=20)))
    if kind == "int":
        return Number(draw(st.integers(min_value=-(10**12), max_value=10**12)))
    if kind == "hex":
        return Number(draw(st.integers(min_value=0, max_value=2**40)), True)
    return Name(draw(IDENT))


@st.composite
def trees(draw: st.DrawFn, depth: int = 4, allow_compare: bool = True) -> Node:
    """Any syntactically valid tree: calls of any name, skipped slots, comparisons as operands."""
    choice = draw(st.integers(min_value=0, max_value=4 if depth > 0 else 1))
    if choice <= 1:
        return draw(leaves())
    if choice == 2 and allow_compare:
        op = draw(st.sampled_from(COMPARE_OPS))
        return Compare(op, draw(trees(depth - 1, False)), draw(trees(depth - 1, False)))
    args = draw(st.lists(st.one_of(trees(depth - 1), st.just(Omitted())), max_size=4))
    if len(args) == 1 and isinstance(args[0], Omitted):
        args = []
    return Call(draw(IDENT), tuple(args))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_print_then_parse_gives_the_same_tree(tree: Node) -> None:
    text = to_text(tree)
    assert parse(text) == tree
    assert to_text(parse(text)) == text  # the canonical text is a fixed point


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_arbitrary_text_fails_only_with_expression_error(text: str) -> None:
    try:
        compile_expression(text)
    except ExpressionError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)


TOKENS = [
    "Join", "Mid", "IIF", "Switch", "Replace", "SelectUniqueValue", "FormatDateTime", "Item", "Foo", "(", ")",
    ",", " ", "[a]", "[b]", "[", "]", '"x"', '"', "\\", "1", "-3", "0", "&HF", "=", "<>", ">=", "True",
    "vbTextCompare", '"(?<g>a)"', '"d"', '"yyyy"', "\n",
]  # fmt: skip


@settings(max_examples=500)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_token_soup_fails_only_with_expression_error(text: str) -> None:
    try:
        compile_expression(text)
    except ExpressionError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)


ATTRS = ["a", "b", "c"]
SOURCE_VALUES = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["2021-06-30+08:00", "3/5/2021 1:02:03 PM", "True", "false", "12", "-4", "a,b", "ÆØ é"]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.lists(st.fixed_dictionaries({"value": st.text(max_size=5), "displayName": st.text(max_size=5)}), max_size=2),
)
SOURCES = st.dictionaries(st.sampled_from(ATTRS), SOURCE_VALUES)
REAL_LEAVES: st.SearchStrategy[Node] = st.one_of(
    st.sampled_from(ATTRS).map(Attribute),
    st.sampled_from(["", "x", "d", "yyyy", "M/d/yyyy", ",", "(?<g>a)", "g", "tr-TR", "2021-01-01"]).map(String),
    st.integers(min_value=-3, max_value=5).map(Number),
    st.sampled_from(["True", "vbTextCompare"]).map(Name),
)
FUNCTION_NAMES = st.sampled_from(sorted(FUNCTIONS))


@st.composite
def real_trees(draw: st.DrawFn, depth: int = 3) -> Node:
    """Calls of registered functions with the right number of arguments (compile may still reject types)."""
    choice = draw(st.integers(min_value=0, max_value=3 if depth > 0 else 0))
    if choice == 0:
        return draw(REAL_LEAVES)
    if choice == 1:
        op = draw(st.sampled_from(COMPARE_OPS))
        return Compare(op, draw(REAL_LEAVES), draw(real_trees(depth - 1)))
    spec = FUNCTIONS[draw(FUNCTION_NAMES)]
    high = spec.max_args if spec.max_args is not None else spec.min_args + 3
    count = draw(st.integers(min_value=spec.min_args, max_value=max(spec.min_args, high)))
    args = [draw(st.one_of(real_trees(depth - 1), st.just(Omitted()))) for _ in range(count)]
    return Call(spec.name, tuple(args))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(real_trees(), SOURCES)
def test_evaluation_fails_only_with_expression_error(tree: Node, source: dict[str, Any]) -> None:
    try:
        expression = compile_tree(tree)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        expression.evaluate(source, is_unique=lambda v: len(str(v)) % 2 == 0)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
OPERATOR_NAMES = st.sampled_from(["EQUALS", "IS NULL", "REGEX MATCH", "Greater_Than", "IS IN", "&", "LIKE", ""])


@st.composite
def scope_filters(draw: st.DrawFn) -> Any:
    """Mostly well-shaped Graph filters with arbitrary values, sometimes arbitrary JSON."""
    if draw(st.booleans()):
        return draw(JSON)
    clause = st.fixed_dictionaries(
        {
            "operatorName": st.one_of(OPERATOR_NAMES, JSON),
            "sourceOperandName": st.one_of(st.sampled_from(ATTRS), JSON),
            "targetOperand": st.one_of(st.fixed_dictionaries({"values": st.lists(JSON, max_size=2)}), JSON),
        }
    )
    groups = st.lists(st.fixed_dictionaries({"name": JSON, "clauses": st.lists(clause, max_size=3)}), max_size=2)
    return {"groups": draw(groups)}


@settings(max_examples=400, deadline=None)
@given(scope_filters(), SOURCES)
def test_scoping_filters_fail_only_with_expression_error(raw: Any, source: dict[str, Any]) -> None:
    try:
        scope = compile_scope(raw)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        assert isinstance(scope.matches(source), bool)
