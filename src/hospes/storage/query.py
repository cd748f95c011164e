"""OData AST -> SQLAlchemy: ``$filter``, ``$search``, ``$orderby`` and keyset paging (never OFFSET)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    true,
    tuple_,
)
from sqlalchemy.orm import InstrumentedAttribute

from hospes.domain import alt_sec_id
from hospes.domain.errors import InvalidInputError, UnsupportedQueryError
from hospes.domain.schema import Prop, Resource
from hospes.odata import And, Compare, Func, In, Lambda, Literal, Node, Not, Or, Path

ALT_SEC_IDS = "alternativeSecurityIds"
_SQL_OPS = {"eq": "__eq__", "ne": "__ne__", "gt": "__gt__", "ge": "__ge__", "lt": "__lt__", "le": "__le__"}


@dataclass
class FilterCompiler:
    resource: Resource
    table: Any  # mapped class
    dialect: str  # "sqlite" | "postgresql"
    advanced: bool = False  # set when the filter needs ConsistencyLevel: eventual

    def compile(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(*(self.compile(n) for n in node.items))
        if isinstance(node, Or):
            return or_(*(self.compile(n) for n in node.items))
        if isinstance(node, Not):
            self.advanced = True
            return not_(self.compile(node.item))
        if isinstance(node, Compare):
            return self._compare(node)
        if isinstance(node, In):
            prop = self._prop(node.path, "in")
            col = self._column(prop)
            values = [self._value(prop, v) for v in node.values]
            return col.in_(values) if values else false()
        if isinstance(node, Func):
            prop = self._prop(node.path, node.name)
            if not isinstance(node.value.value, str):
                raise InvalidInputError(f"Invalid filter clause: {node.name} needs a string argument.")
            return self._like(self._column(prop), node.name, node.value.value.lower())
        if isinstance(node, Lambda):
            return self._any(node)
        raise InvalidInputError("Invalid filter clause.")

    def _prop(self, path: Path, op: str) -> Prop:
        if len(path.segments) != 1:
            raise InvalidInputError(f"Invalid filter clause: property '{path}' is not a simple property.")
        prop = self.resource.get(path.segments[0])
        if prop is None:
            raise InvalidInputError(
                f"Could not find a property named '{path}' on type 'microsoft.graph.{self.resource.name}'."
            )
        if op not in prop.ops or prop.attr is None:
            raise UnsupportedQueryError(
                "Unsupported or invalid query filter clause specified for property "
                f"'{prop.name}' of resource '{self.resource.name}'."
            )
        if op in prop.advanced_ops:
            self.advanced = True
        return prop

    def _column(self, prop: Prop) -> Any:
        if prop.key_attr:
            return getattr(self.table, prop.key_attr)
        col = getattr(self.table, prop.attr or "")
        return func.lower(col) if prop.kind == "str" else col

    def _value(self, prop: Prop, literal: Literal) -> Any:
        value = literal.value
        if value is None:
            return None
        expected = {"str": str, "guid": str, "bool": bool, "datetime": dt.datetime, "int": int}.get(prop.kind)
        if expected is None or not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise InvalidInputError(f"Invalid filter clause: the value for '{prop.name}' is not of type {prop.kind}.")
        return value.lower() if isinstance(value, str) and prop.kind == "str" else value

    def _compare(self, node: Compare) -> ColumnElement[bool]:
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Literal) and isinstance(right, Path):
            left, right = right, left
            op = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}.get(op, op)
        if not isinstance(left, Path) or not isinstance(right, Literal):
            raise InvalidInputError("Invalid filter clause: compare a property with a literal value.")
        prop = self._prop(left, op)
        col = self._column(prop)
        value = self._value(prop, right)
        if value is None:
            if op not in ("eq", "ne"):
                raise InvalidInputError("Invalid filter clause: null can only be compared with eq or ne.")
            raw: ColumnElement[Any] = getattr(self.table, prop.attr or "")
            return raw.is_(None) if op == "eq" else raw.is_not(None)
        result: ColumnElement[bool] = getattr(col, _SQL_OPS[op])(value)
        return result

    def _like(self, col: Any, fn: str, text: str) -> ColumnElement[bool]:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"{escaped}%" if fn == "startswith" else f"%{escaped}"
        result: ColumnElement[bool] = col.like(pattern, escape="\\")
        return result

    def _any(self, node: Lambda) -> ColumnElement[bool]:
        prop = self._prop(node.collection, "any")
        if prop.name == ALT_SEC_IDS:
            return self._alt_sec_id(node)
        column = getattr(self.table, prop.attr or "")
        if self.dialect == "postgresql":
            fn = func.jsonb_array_elements if prop.kind == "obj_list" else func.jsonb_array_elements_text
        else:
            fn = func.json_each
        elements = fn(column).table_valued("value").alias("elem")
        condition = _AnyBody(self, elements.c.value, node.variable, prop).compile(node.body)
        return exists().select_from(elements).where(condition)

    def _alt_sec_id(self, node: Lambda) -> ColumnElement[bool]:
        """``alternativeSecurityIds/any(x:x/key eq '<base64>' [and x/type eq 5])``: the one stored anchor."""
        terms = node.body.items if isinstance(node.body, And) else [node.body]
        values: dict[str, Any] = {}
        for term in terms:
            if not (
                isinstance(term, Compare)
                and term.op == "eq"
                and isinstance(term.left, Path)
                and isinstance(term.right, Literal)
                and len(term.left.segments) == 2
                and term.left.segments[0] == node.variable
                and term.left.segments[1] in ("type", "key")
                and term.left.segments[1] not in values
            ):
                raise UnsupportedQueryError(
                    "alternativeSecurityIds supports only any(x:x/type eq <int> and x/key eq '<base64>')."
                )
            values[term.left.segments[1]] = term.right.value
        kind = values.get("type", alt_sec_id.ANCHOR_TYPE)
        if "key" not in values or not isinstance(kind, int) or isinstance(kind, bool):
            raise InvalidInputError("Invalid filter clause: alternativeSecurityIds needs x/key and an integer x/type.")
        stored = alt_sec_id.anchor(alt_sec_id.decode_key(values["key"]), kind)
        column: ColumnElement[bool] = self.table.alt_sec_id == stored
        return column


@dataclass
class _AnyBody:
    """Compiles the body of ``coll/any(x: ...)`` where paths are ``x`` (strings) or ``x/field`` (objects)."""

    outer: FilterCompiler
    value: Any
    variable: str
    prop: Prop

    def compile(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(*(self.compile(n) for n in node.items))
        if isinstance(node, Or):
            return or_(*(self.compile(n) for n in node.items))
        if isinstance(node, Compare) and isinstance(node.left, Path) and isinstance(node.right, Literal):
            if node.op != "eq" or not isinstance(node.right.value, str):
                raise UnsupportedQueryError("Unsupported Query.")
            equal: ColumnElement[bool] = self._element(node.left) == node.right.value.lower()
            return equal
        if isinstance(node, Func) and node.name == "startswith" and isinstance(node.value.value, str):
            return self.outer._like(self._element(node.path), "startswith", node.value.value.lower())
        if isinstance(node, In):
            values = [v.value.lower() for v in node.values if isinstance(v.value, str)]
            member: ColumnElement[bool] = self._element(node.path).in_(values)
            return member
        raise UnsupportedQueryError("Unsupported Query.")

    def _element(self, path: Path) -> Any:
        segs = path.segments
        if not segs or segs[0] != self.variable or len(segs) > 2:
            raise InvalidInputError(f"Invalid filter clause: '{path}' must start with the lambda variable.")
        if (len(segs) == 2) != (self.prop.kind == "obj_list"):
            raise InvalidInputError(f"Invalid filter clause: '{path}' does not fit property '{self.prop.name}'.")
        key = segs[1] if len(segs) == 2 else None
        if self.outer.dialect == "postgresql":
            text = self.value.op("->>")(literal(key, String())) if key else self.value
        else:
            text = func.json_extract(self.value, f"$.{key}") if key else self.value
        return func.lower(text)


def search_clause(resource: Resource, table: Any, terms: Sequence[tuple[str, str]]) -> ColumnElement[bool]:
    """``$search``: tokenized, case-insensitive match of a word prefix in each named property (terms ORed)."""
    clauses = []
    for name, text in terms:
        prop = resource.get(name)
        if prop is None or not prop.searchable:
            raise InvalidInputError(f"Property '{name}' does not support $search on {resource.collection}.")
        col = func.lower(getattr(table, prop.attr or ""))
        word = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(or_(col.like(f"{word}%", escape="\\"), col.like(f"% {word}%", escape="\\")))
    return or_(*clauses) if clauses else true()


@dataclass(frozen=True)
class OrderKey:
    attr: str
    kind: str
    descending: bool


def order_keys(resource: Resource, orderby: Sequence[tuple[str, bool]], *, tie_follows: bool = False) -> list[OrderKey]:
    """The keyset: the ordered properties, then the id. ``tie_follows``: the id in the direction of the last key,
    so that a page's start is one row-value comparison an index can seek to (mixed directions need an OR the
    planner reads as a scan: the deeper the page, the slower)."""
    keys: list[OrderKey] = []
    for name, desc in orderby:
        prop = resource.get(name)
        if prop is None or not prop.orderable or prop.attr is None:
            raise UnsupportedQueryError(f"Sorting by property '{name}' is not supported.")
        keys.append(OrderKey(prop.attr, prop.kind, desc))
    tie_descending = tie_follows and bool(keys) and keys[-1].descending
    keys.append(OrderKey("id", "guid", tie_descending))  # unique tie-breaker makes the keyset total
    return keys


def apply_keyset(stmt: Select[Any], table: Any, keys: list[OrderKey], after: list[Any] | None) -> Select[Any]:
    """ORDER BY the keys, and start strictly after the last row of the previous page."""
    cols: list[InstrumentedAttribute[Any]] = [getattr(table, k.attr) for k in keys]
    stmt = stmt.order_by(*(c.desc() if k.descending else c.asc() for c, k in zip(cols, keys, strict=True)))
    if after is None:
        return stmt
    values = [_decode(v, k.kind) for v, k in zip(after, keys, strict=True)]
    if len({k.descending for k in keys}) == 1:
        row, bound = tuple_(*cols), tuple_(*values)
        return stmt.where(row < bound if keys[0].descending else row > bound)
    branches = []
    for i, (col, key) in enumerate(zip(cols, keys, strict=True)):
        equal = [c == v for c, v in zip(cols[:i], values[:i], strict=True)]
        step = col < values[i] if key.descending else col > values[i]
        branches.append(and_(*equal, step))
    return stmt.where(or_(*branches))


def keyset_of(row: Any, keys: list[OrderKey]) -> list[Any]:
    return [_encode(getattr(row, k.attr)) for k in keys]


def _encode(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _decode(value: Any, kind: str) -> Any:
    if kind == "datetime":
        if not isinstance(value, str):
            raise InvalidInputError("Invalid $skiptoken.")
        return dt.datetime.fromisoformat(value)
    return value
