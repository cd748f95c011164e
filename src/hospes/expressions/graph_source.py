"""Graph ``attributeMappingSource`` JSON ⇄ ``Expression``.

The synchronization schema stores each mapping's source as a tree
``{type: Attribute|Constant|Function, name, expression, parameters: [{key, value: <source>}]}``. The
``expression`` text, when present, is authoritative; otherwise the tree is rebuilt from ``name`` and
``parameters`` (keys are the parameter names of ``FUNCTIONS``, or just their order).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hospes.expressions.ast import COMPARE_OPS, Attribute, Call, Compare, Name, Node, Number, Omitted, String
from hospes.expressions.compiler import Expression, compile_expression, compile_tree
from hospes.expressions.errors import NO_FLOW, ExpressionError
from hospes.expressions.functions import FUNCTIONS
from hospes.expressions.printer import to_text
from hospes.expressions.values import text


def _node(source: Mapping[str, Any], depth: int = 0) -> Node:
    if depth > 64:
        raise ExpressionError("attribute mapping source is nested too deeply")
    kind = str(source.get("type") or "Attribute")
    name = source.get("name")
    expression = source.get("expression")
    if kind == "Attribute":
        if not isinstance(name, str) or not name:
            raise ExpressionError("an Attribute source needs a name")
        return Attribute(name)
    if kind == "Constant":
        if name is None and isinstance(expression, str):
            return compile_expression(expression).tree
        return String("" if name is None else str(name))
    if kind != "Function":
        raise ExpressionError(f"unknown attribute mapping source type {kind!r}")
    if isinstance(expression, str) and expression.strip():
        return compile_expression(expression).tree
    if not isinstance(name, str) or not name:
        raise ExpressionError("a Function source needs a name or an expression")
    params = source.get("parameters") or []
    if not isinstance(params, list):
        raise ExpressionError("parameters must be a list")
    if name in COMPARE_OPS:
        if len(params) != 2 or not all(isinstance(p, Mapping) and isinstance(p.get("value"), Mapping) for p in params):
            raise ExpressionError(f"comparison {name} needs a left and a right parameter")
        return Compare(name, _node(params[0]["value"], depth + 1), _node(params[1]["value"], depth + 1))
    spec = FUNCTIONS.get(name)
    keyed = all(isinstance(p, Mapping) and p.get("key") for p in params)
    if spec is not None and spec.max_args is not None and keyed:
        # Fixed signature: place each key at its parameter's position; absent optional ones are empty slots.
        by_key = {str(p["key"]).lower(): p.get("value") for p in params}
        unknown = set(by_key) - {param.name.lower() for param in spec.params}
        if unknown:
            raise ExpressionError(f"{name} has no parameter {', '.join(sorted(unknown))}")
        slots: list[Node] = []
        for param in spec.params:
            value = by_key.get(param.name.lower())
            slots.append(_node(value, depth + 1) if isinstance(value, Mapping) else Omitted())
        while len(slots) > spec.min_args and isinstance(slots[-1], Omitted):
            slots.pop()
        return Call(name, tuple(slots))
    # Repeating signatures (Join, Coalesce, Switch...) and unkeyed lists: the order given is the order used.
    args = [
        _node(p["value"], depth + 1) if isinstance(p, Mapping) and isinstance(p.get("value"), Mapping) else Omitted()
        for p in params
    ]
    return Call(name, tuple(args))


def expression_from_graph_source(source: Mapping[str, Any] | None) -> Expression | None:
    """Compile a Graph ``attributeMappingSource``; ``None`` for a "None" mapping (``source: null``)."""
    if source is None:
        return None
    if not isinstance(source, Mapping):
        raise ExpressionError("attribute mapping source must be an object")
    tree = _node(source)
    expression = source.get("expression")
    text = expression if isinstance(expression, str) and expression.strip() else None
    return compile_tree(tree, text)


def _source(node: Node) -> dict[str, Any]:
    if isinstance(node, Attribute):
        return {"expression": to_text(node), "name": node.name, "parameters": [], "type": "Attribute"}
    if isinstance(node, String):
        return {"expression": to_text(node), "name": node.value, "parameters": [], "type": "Constant"}
    if isinstance(node, Number):
        # Graph stores numeric arguments as string constants ("1").
        return {"expression": f'"{node.value}"', "name": str(node.value), "parameters": [], "type": "Constant"}
    if isinstance(node, Compare):
        # Graph has no comparison node; Hospes writes it as a function named by its operator.
        params: list[dict[str, Any]] = [
            {"key": "left", "value": _source(node.left)},
            {"key": "right", "value": _source(node.right)},
        ]
        return {"expression": to_text(node), "name": node.op, "parameters": params, "type": "Function"}
    if isinstance(node, Name):
        return {"expression": to_text(node), "name": node.name, "parameters": [], "type": "Constant"}
    if isinstance(node, Call):
        spec = FUNCTIONS.get(node.name)
        params = []
        positional = spec is None or spec.max_args is None
        for i, arg in enumerate(node.args):
            key = spec.param_key(i, len(node.args)) if spec else f"arg{i + 1}"
            if isinstance(arg, Omitted):
                # Keyed parameters find their place by name; in a repeating signature the empty slot must stay.
                if positional:
                    params.append({"key": key, "value": None})
                continue
            params.append({"key": key, "value": _source(arg)})
        return {"expression": to_text(node), "name": node.name, "parameters": params, "type": "Function"}
    return {"expression": "", "name": "", "parameters": [], "type": "Constant"}


def expression_to_graph_source(expression: Expression) -> dict[str, Any]:
    """The Graph form of a compiled expression (what ``schema/parseExpression`` returns as parsedExpression)."""
    out = _source(expression.tree)
    out["expression"] = expression.text
    return out


def _test_properties(test_input: Mapping[str, Any]) -> dict[str, Any]:
    """Graph ``expressionInputObject`` ({definition, properties: [{key, value}]}) or a plain mapping."""
    props = test_input.get("properties")
    if isinstance(props, list):
        return {str(p.get("key")): p.get("value") for p in props if isinstance(p, Mapping) and p.get("key")}
    return dict(test_input)


def parse_expression_response(expression: str, test_input: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Graph ``schema/parseExpression`` response body (``parseExpressionResponse``), framework-free.

    Parsing and evaluation errors are reported in the body (``parsingSucceeded``/``evaluationSucceeded`` false,
    ``error`` with code, message and position), as Graph does, rather than as an HTTP error.
    """
    response: dict[str, Any] = {
        "error": None,
        "evaluationResult": None,
        "evaluationSucceeded": False,
        "parsedExpression": None,
        "parsingSucceeded": False,
    }

    def error(exc: ExpressionError) -> dict[str, Any]:
        return {
            "code": exc.code,
            "message": str(exc),
            "target": "expression",
            "position": exc.position,
            "expected": exc.expected,
        }

    try:
        compiled = compile_expression(expression)
    except ExpressionError as exc:
        response["error"] = error(exc)
        return response
    response["parsingSucceeded"] = True
    response["parsedExpression"] = expression_to_graph_source(compiled)
    if test_input is None:
        return response
    try:
        result = compiled.evaluate(_test_properties(test_input))
    except ExpressionError as exc:
        response["error"] = error(exc)
        return response
    response["evaluationSucceeded"] = True
    values = [] if result is NO_FLOW else result if isinstance(result, list) else [result]
    response["evaluationResult"] = [
        v if isinstance(v, str) else json.dumps(v) if isinstance(v, dict) else text(v) for v in values
    ]
    return response
