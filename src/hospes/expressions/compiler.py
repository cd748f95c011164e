"""Syntax tree → ``Expression``: name/arity/literal checks, then one closure per node, built once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from hospes.expressions.ast import Attribute, Call, Compare, Name, Node, Number, Omitted, String
from hospes.expressions.dates import format_reference
from hospes.expressions.errors import NO_FLOW, DropFlow, ExpressionError, NoUniqueValueError
from hospes.expressions.functions import FUNCTIONS, suggest
from hospes.expressions.functions.registry import Arg, Fn
from hospes.expressions.parser import parse
from hospes.expressions.printer import to_text
from hospes.expressions.values import attribute_getter, is_null_or_empty, text, to_date

NAMED_CONSTANTS: dict[str, Any] = {
    "True": True,
    "False": False,
    "vbTextCompare": "vbTextCompare",
    "vbBinaryCompare": "vbBinaryCompare",
}
UniqueCheck = Callable[[Any], bool]


class _Context:
    def __init__(self) -> None:
        self.attributes: set[str] = set()
        self.redacted = False


def _const(value: Any) -> Fn:
    return lambda s: value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def compare_values(op: str, left: Any, right: Any) -> bool:
    """IIF/CBool comparison. Numbers compare numerically, dates as dates, everything else as ordinal text."""
    a: Any
    b: Any
    if isinstance(left, datetime) or isinstance(right, datetime):
        a, b = to_date(left), to_date(right)
    else:
        na, nb = _number(left), _number(right)
        numeric = na is not None and nb is not None
        if numeric and (op not in ("=", "<>") or not (isinstance(left, str) and isinstance(right, str))):
            a, b = na, nb
        else:
            a, b = text(left), text(right)
    if op == "=":
        return bool(a == b)
    if op == "<>":
        return bool(a != b)
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op == "<":
        return bool(a < b)
    return bool(a <= b)


def _compile(node: Node, ctx: _Context, top: bool) -> Fn:
    if isinstance(node, Attribute):
        if not node.name:
            raise ExpressionError("empty attribute name", node.pos)
        ctx.attributes.add(node.name)
        return attribute_getter(node.name)
    if isinstance(node, String):
        return _const(node.value)
    if isinstance(node, Number):
        return _const(node.value)
    if isinstance(node, Name):
        if node.name not in NAMED_CONSTANTS:
            raise ExpressionError(
                f'unknown name {node.name!r}: write [{node.name}] for an attribute or "{node.name}" for text',
                node.pos,
                ["[attribute]", "string", "function call"],
            )
        return _const(NAMED_CONSTANTS[node.name])
    if isinstance(node, Omitted):
        return _const(None)
    if isinstance(node, Compare):
        left, right = _compile(node.left, ctx, False), _compile(node.right, ctx, False)

        def compare(s: Mapping[str, Any], op: str = node.op) -> bool:
            a, b = left(s), right(s)
            # Entra's rule: "if a source attribute in the condition is null or empty, the condition check fails".
            if is_null_or_empty(a) or is_null_or_empty(b):
                return False
            return compare_values(op, a, b)

        return compare
    return _compile_call(node, ctx, top)


def _compile_call(node: Call, ctx: _Context, top: bool) -> Fn:
    spec = FUNCTIONS.get(node.name)
    if spec is None:
        hint = suggest(node.name)
        message = f"unknown function {node.name!r}" + (f" (did you mean {hint}?)" if hint else "")
        raise ExpressionError(message, node.pos, [hint] if hint else [])
    if spec.top_level_only and not top:
        raise ExpressionError(f"{spec.name} must be the whole expression, not nested", node.pos)
    count = len(node.args)
    if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
        if spec.max_args is None:
            wanted = f"at least {spec.min_args}"
        elif spec.min_args == spec.max_args:
            wanted = str(spec.min_args)
        else:
            wanted = f"{spec.min_args} to {spec.max_args}"
        raise ExpressionError(
            f"{spec.name} takes {wanted} argument{'s' if wanted != '1' else ''}, got {count}: {spec.signature}",
            node.pos,
        )
    args: list[Arg] = []
    for index, arg_node in enumerate(node.args):
        param = _param_at(spec.params, index, count)
        if isinstance(arg_node, Omitted):
            if param is not None and not param.optional and not (param.repeating and spec.name == "Coalesce"):
                raise ExpressionError(f"{spec.name}: {param.name} cannot be left empty", node.pos)
            args.append(Arg(arg_node, None))
            continue
        fn = _compile(arg_node, ctx, False)
        const = (
            arg_node.value
            if isinstance(arg_node, String | Number)
            else NAMED_CONSTANTS.get(arg_node.name)
            if isinstance(arg_node, Name)
            else None
        )
        args.append(Arg(arg_node, fn, const) if isinstance(arg_node, String | Number | Name) else Arg(arg_node, fn))
    if spec.max_args is not None:
        while len(args) < spec.max_args:
            args.append(Arg(Omitted(node.pos), None))
    if spec.name == "Redact":
        ctx.redacted = True
    return spec.build(node, args)


def _param_at(params: Any, index: int, total: int) -> Any:
    fixed = [p for p in params if not p.repeating]
    if not any(p.repeating for p in params):
        return params[index] if index < len(params) else None
    before = 0
    for p in params:
        if p.repeating:
            break
        before += 1
    after = len(fixed) - before
    if index < before:
        return params[index]
    if index >= total - after:
        return params[before + 1 + (index - (total - after))]
    return next(p for p in params if p.repeating)


def finish(value: Any) -> Any:
    """A mapping's result as the engine sees it: NO_FLOW for null, dates as reference text, else the value."""
    if type(value) is str:
        return value
    if value is None:
        return NO_FLOW
    if isinstance(value, list):
        if not value:
            return NO_FLOW
        return [format_reference(v) if isinstance(v, datetime) else v for v in value]
    if isinstance(value, datetime):
        return format_reference(value)
    return value


class Expression:
    """A compiled expression: immutable, reusable and thread-safe (closures hold no per-call state)."""

    __slots__ = ("_fn", "_rules", "attributes", "redacted", "text", "tree")

    text: str
    tree: Node
    attributes: frozenset[str]
    redacted: bool
    _fn: Fn
    _rules: tuple[Fn, ...] | None

    def __init__(self, text: str, tree: Node) -> None:
        ctx = _Context()
        fn = _compile(tree, ctx, True)
        rules: tuple[Fn, ...] | None = None
        if isinstance(tree, Call) and tree.name == "SelectUniqueValue":
            rules = tuple(_compile(arg, _Context(), False) for arg in tree.args)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "tree", tree)
        object.__setattr__(self, "attributes", frozenset(ctx.attributes))
        object.__setattr__(self, "redacted", ctx.redacted)
        object.__setattr__(self, "_fn", fn)
        object.__setattr__(self, "_rules", rules)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Expression is immutable")

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.tree == self.tree

    def __hash__(self) -> int:
        return hash(self.tree)

    @property
    def canonical(self) -> str:
        return to_text(self.tree)

    @property
    def direct_attribute(self) -> str | None:
        """The source attribute when the expression is just ``[name]`` (a "Direct" mapping)."""
        return self.tree.name if isinstance(self.tree, Attribute) else None

    @property
    def is_constant(self) -> bool:
        return isinstance(self.tree, String | Number)

    @property
    def selects_unique_value(self) -> bool:
        return self._rules is not None

    def evaluate(self, source: Mapping[str, Any], *, is_unique: UniqueCheck | None = None, default: Any = None) -> Any:
        """Evaluate against one source object: a value, a list, or ``NO_FLOW``.

        ``is_unique`` is consulted by ``SelectUniqueValue`` for each candidate in turn (the engine asks the
        target); without it the first non-empty candidate is returned. ``default`` (the mapping's "Default value
        if null") replaces a null result, but not a flow dropped on purpose by ``IgnoreFlowIfNullOrEmpty``.
        Raises ``ExpressionEvaluationError`` when the object makes the expression fail (bad date, regex timeout,
        every unique candidate taken).
        """
        try:
            rules = self._rules
            result = finish(self._fn(source)) if rules is None else self._select_unique(source, is_unique)
        except DropFlow:
            return NO_FLOW
        if result is NO_FLOW and default is not None:
            return default
        return result

    def _select_unique(self, source: Mapping[str, Any], is_unique: UniqueCheck | None) -> Any:
        assert self._rules is not None
        tried: list[Any] = []
        for rule in self._rules:
            try:
                candidate = finish(rule(source))
            except DropFlow:
                continue
            if candidate is NO_FLOW or candidate == "":
                continue
            if is_unique is None or is_unique(candidate):
                return candidate
            tried.append(candidate)
        if not tried:
            return NO_FLOW
        raise NoUniqueValueError(f"every SelectUniqueValue candidate is already taken: {tried!r}")


def compile_tree(tree: Node, source_text: str | None = None) -> Expression:
    return Expression(source_text if source_text is not None else to_text(tree), tree)


def compile_expression(source_text: str) -> Expression:
    """Parse and check an expression (names, argument counts, literal types); raise ``ExpressionError``."""
    return compile_tree(parse(source_text), source_text)


__all__ = ["Expression", "compile_expression", "compile_tree", "finish", "text"]
