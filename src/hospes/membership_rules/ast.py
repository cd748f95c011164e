"""The syntax tree of a membership rule. ``start``/``end`` are 0-based offsets into the rule text (the slice is
the expression as written, which the evaluation details show)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Value:
    kind: str  # "string" | "number" | "bool" | "null" | "datetime" | "now"
    value: Any  # str, bool, None, datetime text, or ("plus"|"minus", duration text | None) for "now"
    start: int


@dataclass(frozen=True)
class Property:
    obj: str  # "user", "device", "assignedPlan", "group", ... as written
    name: str  # the rest after the first dot, as written
    start: int


@dataclass(frozen=True)
class Item:
    """``_``: the element of a string collection inside -any/-all."""

    start: int


@dataclass(frozen=True)
class Compare:
    subject: Property | Item
    op: str  # normalized: "eq", "ne", "startswith", ..., "le", "ge", "lt", "gt"
    value: Value
    start: int
    end: int
    op_start: int


@dataclass(frozen=True)
class InList:
    subject: Property | Item
    op: str  # "in" | "notin"
    values: tuple[Value, ...]
    start: int
    end: int
    op_start: int


@dataclass(frozen=True)
class Quantified:
    subject: Property
    op: str  # "any" | "all"
    body: Node
    start: int
    end: int
    op_start: int


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Not:
    item: Node
    start: int
    end: int


@dataclass(frozen=True)
class DirectReports:
    manager_id: str
    start: int
    end: int
    id_start: int


Node = Compare | InList | Quantified | And | Or | Not | DirectReports
