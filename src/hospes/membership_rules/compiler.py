"""Syntax tree → a checked, compiled rule: one closure per expression, built once, called per user.

Validation, preview ("validate against these users"), the Graph ``evaluateDynamicMembership`` answer and
processing all call ``Rule.matches`` (or, for the details, the very closures it is made of), so they cannot
disagree.

Semantics, as the reference documents them, with the gaps decided:
- String comparisons, ``-in`` lists and regular expressions ignore case.
- Null: a property is null when it has no value, an empty string or an empty collection. ``-eq null`` and
  ``-ne null`` test for it; on a null property every positive operator (``-eq``, ``-startsWith``, ``-contains``,
  ``-match``, ``-in``, ``-le``...) is false and every negative one (``-ne``, ``-notStartsWith``, ``-notIn``...)
  true: a negative operator is always exactly ``-not`` of its positive one.
- A scalar operator on a string collection means "some element": ``user.otherMails -startsWith "a"``; its
  negative form means "no element" (again ``-not`` of the positive one).
- ``-all`` over an empty collection is true (``user.assignedPlans -all (assignedPlan.servicePlanId -eq null)``
  selects users without plans, as documented).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hospes.membership_rules import ast
from hospes.membership_rules.errors import (
    ATTRIBUTE_NOT_SUPPORTED,
    INVALID_OBJECT_TYPE,
    INVALID_OPERANDS,
    OPERATOR_NOT_SUPPORTED,
    QUERY_COMPILATION,
    RuleError,
    wrong_property,
)
from hospes.membership_rules.parser import parse
from hospes.membership_rules.properties import (
    BOOL,
    DATETIME,
    GROUPS,
    ITEM_OBJECTS,
    MANAGER,
    PLANS,
    STRING,
    STRINGS,
    Attribute,
    user_attribute,
)
from hospes.membership_rules.values import compile_regex, now_function, parse_datetime, regex_search, text_key

Test = Callable[[Any], bool]
Getter = Callable[[Any], Any]
MEMBER_OF_LIMIT = 50  # groups one memberOf rule may name

_POSITIVE = {
    "ne": "eq",
    "notstartswith": "startswith",
    "notendswith": "endswith",
    "notcontains": "contains",
    "notmatch": "match",
    "notin": "in",
}
_STRING_OPS = frozenset({"eq", "startswith", "endswith", "contains", "match", "in"})
_DATE_OPS = frozenset({"eq", "le", "ge", "lt", "gt"})


@dataclass(frozen=True)
class Detail:
    """How one expression of a rule evaluated for one user (the evaluation details of validation)."""

    expression: str
    result: bool
    property_name: str | None = None
    property_value: Any = None
    children: tuple[Detail, ...] = ()


@dataclass(frozen=True)
class _Compiled:
    test: Test
    start: int
    end: int
    children: tuple[_Compiled, ...] = ()
    attribute: Attribute | None = None
    getter: Getter | None = None
    quantified: bool = False  # the one child is tested per element of the attribute's collection


@dataclass(frozen=True)
class Rule:
    """A valid rule. ``matches(user)`` takes a mapping holding every key of ``columns`` (user row attributes,
    plus ``member_of``: the user's direct group ids in lower case, when the rule reads ``memberOf``)."""

    text: str
    matches: Test
    columns: frozenset[str]  # what ``matches`` reads from its mapping
    reads: frozenset[str]  # Graph user properties whose change can change the result ("members": memberOf)
    unstored: tuple[str, ...]  # properties the rule reads that Hospes has no value for (always null)
    member_of: frozenset[str] = frozenset()  # group ids a memberOf rule names (lower case)
    direct_reports: str | None = None  # the manager id of a Direct Reports rule
    _root: _Compiled | None = field(default=None, repr=False, compare=False)

    def explain(self, user: Mapping[str, Any]) -> Detail:
        """The result for ``user`` with the result of every expression inside, from the closures ``matches``
        is made of (the root's result is ``matches(user)`` itself)."""
        assert self._root is not None
        return _detail(self.text, self._root, user)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def compile_rule(text: str, clock: Callable[[], dt.datetime] = _utcnow) -> Rule:
    """Parse and check ``text``; a ``RuleError`` names the first problem and its position."""
    tree = parse(text)
    builder = _Builder(clock)
    if isinstance(tree, ast.DirectReports):
        manager = tree.manager_id.strip().casefold()
        get = _getter(MANAGER)

        def reports(u: Any) -> bool:
            value = get(u)
            return bool(value) and value.casefold() == manager

        root = _Compiled(reports, tree.start, tree.end, attribute=MANAGER, getter=get)
        builder.attributes.append(MANAGER)
        return builder.rule(text, root, direct_reports=manager)
    root = builder.node(tree)
    if builder.member_of and not (isinstance(tree, ast.Quantified) and _is_member_of(tree)):
        raise RuleError("memberOf can't be combined with other expressions.", tree.start + 1)
    return builder.rule(text, root)


def _is_member_of(node: ast.Quantified) -> bool:
    found = user_attribute(node.subject.name)
    return found is not None and found.kind == GROUPS


def _detail(text: str, node: _Compiled, user: Any) -> Detail:
    if node.quantified and node.getter is not None:
        body = node.children[0]
        elements = sorted(node.getter(user) or (), key=str)
        children = tuple(
            Detail(text[body.start : body.end].strip(), body.test(e), "_", e, _detail(text, body, e).children)
            for e in elements
        )
    else:
        children = tuple(_detail(text, child, user) for child in node.children)
    name = value = None
    if node.attribute is not None and node.getter is not None:
        name, value = node.attribute.name, node.getter(user)
        if isinstance(value, frozenset):
            value = sorted(value)
    return Detail(text[node.start : node.end].strip(), node.test(user), name, value, children)


def _getter(attribute: Attribute) -> Getter:
    column, transform = attribute.column, attribute.transform
    if column is None:
        return lambda u: None
    if transform is not None:
        return lambda u: transform(u[column])
    return lambda u: u[column]


class _Builder:
    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self.clock = clock
        self.attributes: list[Attribute] = []
        self.member_of: set[str] = set()

    def rule(self, text: str, root: _Compiled, direct_reports: str | None = None) -> Rule:
        attrs = self.attributes
        return Rule(
            text=text,
            matches=root.test,
            columns=frozenset(a.column for a in attrs if a.column),
            reads=frozenset(a.graph for a in attrs if a.graph),
            unstored=tuple(sorted({a.name for a in attrs if a.column is None})),
            member_of=frozenset(self.member_of),
            direct_reports=direct_reports,
            _root=root,
        )

    def node(self, node: ast.Node) -> _Compiled:
        if isinstance(node, ast.Or | ast.And):
            kids = tuple(self.node(item) for item in node.items)
            tests = tuple(k.test for k in kids)
            test = _any_of(tests) if isinstance(node, ast.Or) else _all_of(tests)
            return _Compiled(test, node.start, node.end, kids)
        if isinstance(node, ast.Not):
            kid = self.node(node.item)
            inner = kid.test
            return _Compiled(lambda u: not inner(u), node.start, node.end, (kid,))
        if isinstance(node, ast.Quantified):
            return self.quantified(node)
        if isinstance(node, ast.Compare | ast.InList):
            if isinstance(node.subject, ast.Item):
                raise RuleError(INVALID_OPERANDS, node.subject.start + 1)
            attribute = self.attribute(node.subject)
            get = _getter(attribute)
            test = self.predicate(node, attribute.kind, get)
            return _Compiled(test, node.start, node.end, attribute=attribute, getter=get)
        raise RuleError(QUERY_COMPILATION, node.start + 1)  # Direct Reports inside an expression

    def attribute(self, prop: ast.Property) -> Attribute:
        obj = prop.obj.casefold()
        if obj == "device":
            raise RuleError(ATTRIBUTE_NOT_SUPPORTED, prop.start + 1)
        if obj != "user":
            raise RuleError(INVALID_OBJECT_TYPE, prop.start + 1)
        found = user_attribute(prop.name) if "." not in prop.name else None
        if found is None:
            raise RuleError(ATTRIBUTE_NOT_SUPPORTED, prop.start + 1)
        self.attributes.append(found)
        return found

    def predicate(self, node: ast.Compare | ast.InList, kind: str, get: Getter) -> Test:
        """A comparison or list test of a property (or of a collection's item) of type ``kind``."""
        op = node.op
        positive = _POSITIVE.get(op, op)
        values = (node.value,) if isinstance(node, ast.Compare) else node.values
        if isinstance(node, ast.Compare) and node.value.kind == "null":
            if op not in ("eq", "ne"):
                raise RuleError(INVALID_OPERANDS, node.value.start + 1)
            is_null = _null_test(get)
            return is_null if op == "eq" else (lambda u: not is_null(u))
        if isinstance(node, ast.InList) and not values:
            raise RuleError(INVALID_OPERANDS, node.op_start + 1)
        if kind in (STRING, STRINGS):
            if positive not in _STRING_OPS:
                raise RuleError(OPERATOR_NOT_SUPPORTED, node.op_start + 1)
            test = self.string_test(positive, values, get, many=kind == STRINGS)
        elif kind == BOOL:
            if op not in ("eq", "ne"):
                raise RuleError(OPERATOR_NOT_SUPPORTED, node.op_start + 1)
            test = _bool_test(values[0], get)
        elif kind == DATETIME:
            if positive not in _DATE_OPS:
                raise RuleError(OPERATOR_NOT_SUPPORTED, node.op_start + 1)
            test = self.date_test(positive, values[0], get)
        else:  # collections of objects take only -any / -all
            raise RuleError(OPERATOR_NOT_SUPPORTED, node.op_start + 1)
        if positive != op:
            positive_test = test
            return lambda u: not positive_test(u)
        return test

    def string_test(self, op: str, values: tuple[ast.Value, ...], get: Getter, *, many: bool) -> Test:
        for value in values:
            if value.kind in ("null", "now"):
                raise RuleError(INVALID_OPERANDS, value.start + 1)
        keys = [text_key(v.value) for v in values]
        one: Callable[[str], bool]
        if op == "match":  # the regex ignores case itself: the original text is searched
            rx = compile_regex(str(values[0].value))
            if rx is None:
                raise RuleError(QUERY_COMPILATION, values[0].start + 1)
            if not many:
                return lambda u: bool(v := get(u)) and regex_search(rx, v)
            return lambda u: any(regex_search(rx, s) for s in get(u) or () if s)
        key = keys[0]
        if op == "in":
            choices = frozenset(keys)
            one = choices.__contains__
        elif op == "eq":
            one = key.__eq__
        elif op == "startswith":
            one = lambda s: s.startswith(key)  # noqa: E731
        elif op == "endswith":
            one = lambda s: s.endswith(key)  # noqa: E731
        else:  # contains: a substring test, also on collections (each element)
            one = lambda s: key in s  # noqa: E731
        if many:
            return lambda u: any(one(s.casefold()) for s in get(u) or () if s)
        return lambda u: bool(v := get(u)) and one(v.casefold())

    def date_test(self, op: str, value: ast.Value, get: Getter) -> Test:
        if value.kind == "now":
            now = now_function(value.value, self.clock)
            if now is None:
                raise RuleError(INVALID_OPERANDS, value.start + 1)
        elif value.kind in ("datetime", "string") and (when := parse_datetime(str(value.value))) is not None:
            fixed = when
            now = lambda: fixed  # noqa: E731
        else:
            raise RuleError(INVALID_OPERANDS, value.start + 1)
        compare: Callable[[dt.datetime, dt.datetime], bool] = {
            "eq": lambda a, b: a == b,
            "le": lambda a, b: a <= b,
            "ge": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "gt": lambda a, b: a > b,
        }[op]

        def test(u: Any) -> bool:
            v = get(u)
            if v is None:
                return False
            if v.tzinfo is None:
                v = v.replace(tzinfo=dt.UTC)
            return compare(v, now())

        return test

    def quantified(self, node: ast.Quantified) -> _Compiled:
        attribute = self.attribute(node.subject)
        get = _getter(attribute)
        if attribute.kind not in (STRINGS, PLANS, GROUPS):
            raise RuleError(INVALID_OPERANDS, node.op_start + 1)
        if attribute.kind == GROUPS and node.op != "any":
            raise RuleError(INVALID_OPERANDS, node.op_start + 1)
        body = self.item_node(node.body, attribute.kind)
        inner = body.test
        if node.op == "any":
            test: Test = lambda u: any(inner(x) for x in get(u) or ())  # noqa: E731
        else:
            test = lambda u: all(inner(x) for x in get(u) or ())  # noqa: E731
        return _Compiled(test, node.start, node.end, (body,), attribute=attribute, getter=get, quantified=True)

    def item_node(self, node: ast.Node, kind: str) -> _Compiled:
        """The body of -any/-all, evaluated per element of the collection."""
        if isinstance(node, ast.Or | ast.And):
            kids = tuple(self.item_node(item, kind) for item in node.items)
            tests = tuple(k.test for k in kids)
            test = _any_of(tests) if isinstance(node, ast.Or) else _all_of(tests)
            return _Compiled(test, node.start, node.end, kids)
        if not isinstance(node, ast.Compare | ast.InList):
            raise RuleError(INVALID_OPERANDS, node.start + 1)
        subject = node.subject
        if kind == STRINGS:
            if not isinstance(subject, ast.Item):
                raise RuleError(wrong_property(subject.name, subject.obj), subject.start + 1)
            return _Compiled(self.predicate(node, STRING, lambda x: x), node.start, node.end)
        if isinstance(subject, ast.Item):
            raise RuleError(INVALID_OPERANDS, subject.start + 1)
        obj, names = ITEM_OBJECTS[kind]
        name = subject.name.casefold()
        if subject.obj.casefold() != obj.casefold() or name not in names:
            raise RuleError(wrong_property(subject.name, subject.obj), subject.start + 1)
        if kind == GROUPS:
            if node.op not in ("eq", "in") or any(v.kind != "string" for v in _values(node)):
                raise RuleError(INVALID_OPERANDS, node.op_start + 1)
            ids = {str(v.value).strip().casefold() for v in _values(node)}
            self.member_of |= ids
            if len(self.member_of) > MEMBER_OF_LIMIT:
                raise RuleError(f"memberOf can name at most {MEMBER_OF_LIMIT} groups.", node.op_start + 1)
            return _Compiled(lambda gid: gid in ids, node.start, node.end)
        field_name = {n.casefold(): n for n in ("capabilityStatus", "service", "servicePlanId")}[name]
        return _Compiled(self.predicate(node, STRING, lambda x: x.get(field_name)), node.start, node.end)


def _values(node: ast.Compare | ast.InList) -> tuple[ast.Value, ...]:
    return (node.value,) if isinstance(node, ast.Compare) else node.values


def _null_test(get: Getter) -> Test:
    return lambda u: (v := get(u)) is None or (v is not False and not v)


def _bool_test(value: ast.Value, get: Getter) -> Test:
    if value.kind == "bool":
        wanted = bool(value.value)
    elif value.kind == "string" and str(value.value).strip().casefold() in ("true", "false"):
        wanted = str(value.value).strip().casefold() == "true"
    else:
        raise RuleError(INVALID_OPERANDS, value.start + 1)
    return lambda u: get(u) is wanted


def _any_of(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 2:
        a, b = tests
        return lambda u: a(u) or b(u)
    return lambda u: any(t(u) for t in tests)


def _all_of(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 2:
        a, b = tests
        return lambda u: a(u) and b(u)
    if len(tests) == 3:
        a, b, c = tests
        return lambda u: a(u) and b(u) and c(u)
    return lambda u: all(t(u) for t in tests)
