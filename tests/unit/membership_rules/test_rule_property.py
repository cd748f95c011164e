"""Generated valid rules over generated users: the compiled rule, its explanation and an independent predicate
agree."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from hospes.membership_rules import Detail, compile_rule
from tests.helpers.rules import GeneratedRule, rules, users


def _connectives_agree(detail: Detail) -> None:
    """A negation's result is the opposite of its child's, all the way down."""
    for child in detail.children:
        _connectives_agree(child)
    if detail.expression.startswith("-not") and len(detail.children) == 1:
        assert detail.result is not detail.children[0].result


@settings(max_examples=300, deadline=None)
@given(rules, users())
def test_compiled_rule_matches_the_independent_predicate(rule: GeneratedRule, user: dict[str, Any]) -> None:
    compiled = compile_rule(rule.text)
    # the keys a compiled rule reads are exactly what the user mapping must hold
    assert compiled.columns <= set(user)
    expected = rule.expected(user)
    assert compiled.matches(user) is expected
    detail = compiled.explain(user)
    assert detail.result is expected
    _connectives_agree(detail)
