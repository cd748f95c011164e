"""The ``$filter`` syntax tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Path:
    segments: tuple[str, ...]

    def __str__(self) -> str:
        return "/".join(self.segments)


@dataclass(frozen=True)
class Literal:
    value: Any  # str, int, float, bool, None


@dataclass(frozen=True)
class Compare:
    op: str  # eq ne gt ge lt le
    left: Path | Literal
    right: Path | Literal


@dataclass(frozen=True)
class In:
    path: Path
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class Func:
    name: str  # startswith | endswith
    path: Path
    value: Literal


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Lambda:
    """``collection/any(var: body)``; inside ``body`` paths start with ``var``."""

    collection: Path
    variable: str
    body: Node


Node = Compare | In | Func | And | Or | Not | Lambda


def walk(node: Node) -> list[Node]:
    """Every node of the tree, depth first (used to find which operators a filter uses)."""
    out: list[Node] = [node]
    if isinstance(node, And | Or):
        for item in node.items:
            out.extend(walk(item))
    elif isinstance(node, Not):
        out.extend(walk(node.item))
    elif isinstance(node, Lambda):
        out.extend(walk(node.body))
    return out
