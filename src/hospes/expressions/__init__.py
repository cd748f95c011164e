"""Attribute-mapping expressions and scoping filters of the provisioning service, as a pure library.

Framework-free (no storage, web or Graph imports): the provisioning engine, the
``hospes expression`` CLI and the Graph ``schema/parseExpression`` action call this package (and cross-tenant sync,
when it lands, will too).

- ``compile_expression(text) -> Expression``: parse and check once; ``Expression.evaluate(source)`` many times.
- ``compile_scope(filter_json) -> Scope``: Graph ``filter`` scoping rules; ``Scope.matches(source)``.
- ``scope_to_text(filter_json)`` / ``scope_from_text(text)``: the editable text form of a scoping filter.
- ``build_scim_resource(values)``: mapped target paths → SCIM resource.
- ``FUNCTIONS``: the function registry (docs, Graph ``schema/functions()``); each function is registered by
  ``@function(...)`` next to its builder in ``functions/<category>.py``.
"""

from typing import Any

from hospes.expressions.compiler import Expression, compile_expression, compile_tree
from hospes.expressions.errors import (
    NO_FLOW,
    ExpressionError,
    ExpressionEvaluationError,
    NoUniqueValueError,
)
from hospes.expressions.functions import FUNCTIONS
from hospes.expressions.graph_source import (
    expression_from_graph_source,
    expression_to_graph_source,
    parse_expression_response,
)
from hospes.expressions.parser import parse
from hospes.expressions.printer import to_text
from hospes.expressions.scim import TargetPath, build_scim_resource, parse_target_path
from hospes.expressions.scope import FILTER_OPERATORS, Scope, compile_scope, filter_operators_graph
from hospes.expressions.scope_text import scope_from_text, scope_to_text
from hospes.expressions.values import SourceView, source_view


def functions_graph() -> list[dict[str, Any]]:
    """Graph ``schema/functions()`` payload: every function with its signature and parameters."""
    return [spec.as_graph() for spec in FUNCTIONS.values()]


__all__ = [
    "FILTER_OPERATORS",
    "FUNCTIONS",
    "NO_FLOW",
    "Expression",
    "ExpressionError",
    "ExpressionEvaluationError",
    "NoUniqueValueError",
    "Scope",
    "SourceView",
    "TargetPath",
    "build_scim_resource",
    "compile_expression",
    "compile_scope",
    "compile_tree",
    "expression_from_graph_source",
    "expression_to_graph_source",
    "filter_operators_graph",
    "functions_graph",
    "parse",
    "parse_expression_response",
    "parse_target_path",
    "scope_from_text",
    "scope_to_text",
    "source_view",
    "to_text",
]
