"""Scoping filters: which source objects are in scope of a provisioning object mapping.

Input is the Graph ``filter`` JSON of an object mapping (``scope``): ``groups`` (and ``inputFilterGroups``) of
clauses ``{operatorName, sourceOperandName, targetOperand: {values}}``. Clauses inside a group are ANDed,
groups are ORed; no groups means everything is in scope, as in Entra. Both the documented camelCase and the
PascalCase wire spelling (``OperatorName``...) are accepted.

Null rule: a clause on a null or empty attribute is false, whatever the operator (Entra's documented rule),
with ``IS NULL`` the one exception (true on null/empty). So ``NOT EQUALS``, ``NOT REGEX MATCH``, ``!&`` and
``IS NOT IN`` are all false on an absent attribute, as Entra documents for ``NOT REGEX MATCH``.

Regexes use the ``regex`` module (Python syntax plus .NET-style ``(?<name>...)`` groups) with a timeout, so a
catastrophic pattern costs at most ``REGEX_TIMEOUT`` per object and then fails that object (an error escrows
the object; it never silently puts it out of scope, which would deprovision it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from hospes.expressions.errors import ExpressionError, ExpressionEvaluationError
from hospes.expressions.values import attribute_getter, is_null_or_empty

REGEX_TIMEOUT = 0.25
Test = Callable[[Any], bool]


@dataclass(frozen=True)
class Operator:
    name: str  # canonical spelling, as the portal and schema/filterOperators() show it
    arity: str  # Unary | Binary
    summary: str
    extension: bool = False  # a Hospes addition (Entra does not document it)
    aliases: tuple[str, ...] = ()


FILTER_OPERATORS: tuple[Operator, ...] = (
    Operator("EQUALS", "Binary", "the attribute equals the value exactly (case-sensitive)"),
    Operator("NOT EQUALS", "Binary", "the attribute differs from the value (case-sensitive)"),
    Operator("IS TRUE", "Unary", 'the attribute is the boolean true (or the text "true", any case)'),
    Operator("IS FALSE", "Unary", 'the attribute is the boolean false (or the text "false", any case)'),
    Operator("IS NULL", "Unary", "the attribute is absent or empty (the only clause true on a null attribute)"),
    Operator("IS NOT NULL", "Unary", "the attribute is present and not empty"),
    Operator("REGEX MATCH", "Binary", "the attribute matches the regular expression somewhere (case-sensitive)"),
    Operator("NOT REGEX MATCH", "Binary", "the attribute does not match the regular expression; false on null"),
    Operator("Greater_Than", "Binary", "integer attribute > integer value", aliases=("GREATER THAN",)),
    Operator(
        "Greater_Than_OR_EQUALS",
        "Binary",
        "integer attribute >= integer value",
        aliases=("GREATER THAN OR EQUALS", "GREATER THAN OR EQUAL"),
    ),
    Operator("Less_Than", "Binary", "integer attribute < integer value", extension=True, aliases=("LESS THAN",)),
    Operator(
        "Less_Than_OR_EQUALS",
        "Binary",
        "integer attribute <= integer value",
        extension=True,
        aliases=("LESS THAN OR EQUALS", "LESS THAN OR EQUAL"),
    ),
    Operator("Includes", "Binary", "the attribute contains the value (.NET String.Contains, case-sensitive)"),
    Operator("ENDS_WITH", "Binary", "the attribute ends with the value (case-sensitive)", aliases=("ENDS WITH",)),
    Operator("&", "Binary", "the attribute's value occurs in the value (the value contains the attribute)"),
    Operator("!&", "Binary", "the attribute's value does not occur in the value"),
    Operator("IS IN", "Binary", "the attribute equals one of the values", extension=True, aliases=("IN",)),
    Operator("IS NOT IN", "Binary", "the attribute equals none of the values", extension=True, aliases=("NOT IN",)),
)


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").upper().split())


_BY_KEY: dict[str, Operator] = {}
for _op in FILTER_OPERATORS:
    _BY_KEY[_key(_op.name)] = _op
    for _alias in _op.aliases:
        _BY_KEY[_key(_alias)] = _op


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    low = str(value).strip().lower()
    return True if low == "true" else False if low == "false" else None


def _search(rx: Any, value: str) -> bool:
    try:
        return rx.search(value, timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        raise ExpressionEvaluationError(f"scoping regular expression took longer than {REGEX_TIMEOUT}s") from None


def _build_test(op: Operator, values: list[str], where: str) -> Test:
    """The per-value test of a clause (null handling is done by the caller)."""
    name = op.name
    if op.arity == "Binary":
        if not values:
            raise ExpressionError(f"{where}: operator {name} needs a value")
        if name not in ("IS IN", "IS NOT IN") and len(values) != 1:
            raise ExpressionError(f"{where}: operator {name} takes exactly one value, got {len(values)}")
    first = values[0] if values else ""
    if name == "EQUALS":
        return lambda v: _text(v) == first
    if name == "NOT EQUALS":
        return lambda v: _text(v) != first
    if name == "IS TRUE":
        return lambda v: _truth(v) is True
    if name == "IS FALSE":
        return lambda v: _truth(v) is False
    if name == "IS NOT NULL":
        return lambda v: True
    if name in ("REGEX MATCH", "NOT REGEX MATCH"):
        try:
            rx = regex.compile(first, regex.VERSION0)
        except regex.error as exc:
            raise ExpressionError(f"{where}: invalid regular expression {first!r}: {exc}") from None
        if name == "REGEX MATCH":
            return lambda v: _search(rx, _text(v))
        return lambda v: not _search(rx, _text(v))
    if name in ("Greater_Than", "Greater_Than_OR_EQUALS", "Less_Than", "Less_Than_OR_EQUALS"):
        bound = _integer(first)
        if bound is None:
            raise ExpressionError(f"{where}: operator {name} needs an integer value, got {first!r}")
        cmp: Callable[[int], bool] = {
            "Greater_Than": lambda n: n > bound,
            "Greater_Than_OR_EQUALS": lambda n: n >= bound,
            "Less_Than": lambda n: n < bound,
            "Less_Than_OR_EQUALS": lambda n: n <= bound,
        }[name]

        def numeric(v: Any) -> bool:
            n = _integer(v)
            return n is not None and cmp(n)  # a non-integer attribute never satisfies a numeric clause

        return numeric
    if name == "Includes":
        return lambda v: first in _text(v)
    if name == "ENDS_WITH":
        return lambda v: _text(v).endswith(first)
    if name == "&":
        return lambda v: _text(v) in first
    if name == "!&":
        return lambda v: _text(v) not in first
    allowed = set(values)
    if name == "IS IN":
        return lambda v: _text(v) in allowed
    return lambda v: _text(v) not in allowed


def _get(obj: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        if n in obj:
            return obj[n]
    return default


@dataclass(frozen=True)
class Clause:
    attribute: str
    operator: Operator
    values: tuple[str, ...]
    match_all: bool  # multi-valued attributes: every value must pass (All, the default) or any (Any)
    _get: Callable[[Mapping[str, Any]], Any] = field(repr=False, compare=False)
    _test: Test = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        """How Entra shows a clause in provisioning logs: ``department EQUALS 'Marketing'``."""
        if self.operator.arity == "Unary":
            return f"{self.attribute} {self.operator.name}"
        shown = ", ".join(f"'{v}'" for v in self.values)
        return f"{self.attribute} {self.operator.name} {shown}"

    def matches(self, source: Mapping[str, Any]) -> bool:
        value = self._get(source)
        if isinstance(value, list | tuple):
            items = [v for v in value if not is_null_or_empty(v)]
            if not items:
                return self.operator.name == "IS NULL"
            if self.operator.name == "IS NULL":
                return False
            return all(map(self._test, items)) if self.match_all else any(map(self._test, items))
        if is_null_or_empty(value):
            return self.operator.name == "IS NULL"
        if self.operator.name == "IS NULL":
            return False
        return self._test(value)


@dataclass(frozen=True)
class Group:
    name: str
    clauses: tuple[Clause, ...]

    def matches(self, source: Mapping[str, Any]) -> bool:
        return all(c.matches(source) for c in self.clauses)


@dataclass(frozen=True)
class ScopeResult:
    in_scope: bool
    details: dict[str, bool]  # "<group>.<clause label>" -> result, as in ScopeEvaluationResult log details


@dataclass(frozen=True)
class Scope:
    """Compiled scoping filter. ``groups`` decide scope (out of scope → deprovision); ``input_groups``
    (Graph ``inputFilterGroups``) filter objects on input too and must also pass when present."""

    groups: tuple[Group, ...] = ()
    input_groups: tuple[Group, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.groups and not self.input_groups

    @property
    def attributes(self) -> frozenset[str]:
        return frozenset(c.attribute for g in self.groups + self.input_groups for c in g.clauses)

    def matches(self, source: Mapping[str, Any]) -> bool:
        if self.groups and not any(g.matches(source) for g in self.groups):
            return False
        return not self.input_groups or any(g.matches(source) for g in self.input_groups)

    def evaluate(self, source: Mapping[str, Any]) -> ScopeResult:
        """Like ``matches`` but with every clause's result, for provisioning logs and provision-on-demand."""
        details: dict[str, bool] = {}
        results: dict[int, bool] = {}
        for i, group in enumerate(self.groups + self.input_groups):
            ok = True
            for clause in group.clauses:
                r = clause.matches(source)
                details[f"{group.name}.{clause.label}"] = r
                ok = ok and r
            results[i] = ok
        n = len(self.groups)
        first = not self.groups or any(results[i] for i in range(n))
        second = not self.input_groups or any(results[i] for i in range(n, n + len(self.input_groups)))
        return ScopeResult(first and second, details)


def _compile_clause(raw: Any, where: str) -> Clause:
    if not isinstance(raw, Mapping):
        raise ExpressionError(f"{where}: a clause must be an object")
    op_name = _get(raw, "operatorName", "OperatorName")
    attribute = _get(raw, "sourceOperandName", "SourceOperandName")
    if not isinstance(op_name, str) or not op_name.strip():
        raise ExpressionError(f"{where}: operatorName is required")
    if not isinstance(attribute, str) or not attribute.strip():
        raise ExpressionError(f"{where}: sourceOperandName is required")
    op = _BY_KEY.get(_key(op_name))
    if op is None:
        known = ", ".join(o.name for o in FILTER_OPERATORS)
        raise ExpressionError(f"{where}: unknown operator {op_name!r} (known: {known})")
    target = _get(raw, "targetOperand", "TargetOperand", default=None) or {}
    if not isinstance(target, Mapping):
        raise ExpressionError(f"{where}: targetOperand must be an object")
    raw_values = _get(target, "values", "Values", default=None) or []
    if isinstance(raw_values, str) or not isinstance(raw_values, Sequence):
        raise ExpressionError(f"{where}: targetOperand.values must be a list of strings")
    values = [_text(v) for v in raw_values if v is not None]
    mode = _get(raw, "multivaluedComparisonType", "MultiValuedComparisonType", default="All")
    match_all = str(mode).strip().lower() not in ("any", "1")
    label = f"{where} ({attribute.strip()} {op.name})"
    test = _build_test(op, values, label)
    return Clause(attribute.strip(), op, tuple(values), match_all, attribute_getter(attribute.strip()), test)


def _compile_groups(raw: Any, key: str) -> tuple[Group, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ExpressionError(f"{key} must be a list")
    groups: list[Group] = []
    for i, g in enumerate(raw):
        if not isinstance(g, Mapping):
            raise ExpressionError(f"{key}[{i}] must be an object")
        name = str(_get(g, "name", "Name", default=None) or f"filter{i + 1}")
        clauses_raw = _get(g, "clauses", "Clauses", default=None) or []
        if not isinstance(clauses_raw, Sequence) or isinstance(clauses_raw, str):
            raise ExpressionError(f"{key}[{i}].clauses must be a list")
        clauses = tuple(_compile_clause(c, f"{key}[{i}].clauses[{j}]") for j, c in enumerate(clauses_raw))
        if clauses:  # an empty group would put everything in scope by accident: ignore it
            groups.append(Group(name, clauses))
    return tuple(groups)


def compile_scope(scope: Mapping[str, Any] | None) -> Scope:
    """Compile a Graph ``filter`` object; raise ``ExpressionError`` on unknown operators or bad values."""
    if scope is None:
        return Scope()
    if not isinstance(scope, Mapping):
        raise ExpressionError("a scoping filter must be an object")
    return Scope(
        _compile_groups(_get(scope, "groups", "Groups"), "groups"),
        _compile_groups(_get(scope, "inputFilterGroups", "InputFilterGroups"), "inputFilterGroups"),
    )


def filter_operators_graph() -> list[dict[str, Any]]:
    """``schema/filterOperators()`` payload."""
    return [
        {
            "name": op.name,
            "arity": op.arity,
            "multivaluedComparisonType": "All",
            "supportedAttributeTypes": ["String", "Integer", "Boolean"]
            if op.name in ("EQUALS", "NOT EQUALS")
            else ["Boolean"]
            if op.name in ("IS TRUE", "IS FALSE")
            else ["Integer"]
            if "Than" in op.name
            else ["String", "Integer", "Boolean", "DateTime", "Reference", "Binary"]
            if "NULL" in op.name
            else ["String"],
        }
        for op in FILTER_OPERATORS
    ]
