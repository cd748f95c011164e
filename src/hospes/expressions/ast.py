"""The expression syntax tree.

Positions are 0-based character offsets into the source text. They are excluded from equality so that
"print the tree, parse it again" compares structure, not layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attribute:
    """``[name]``: a source attribute (looked up case-insensitively)."""

    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class String:
    """``"text"`` with ``\\\\`` and ``\\"`` escapes."""

    value: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Number:
    """A bare integer (``7``, ``-1``) or a VB hex literal (``&HF7``)."""

    value: int
    hex: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    """A bare identifier argument: ``True``, ``False``, ``vbTextCompare``, ``vbBinaryCompare``."""

    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Omitted:
    """A skipped optional argument: the empty slot in ``Replace([x], , "re", , "", , )``."""

    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    """``Name(arg, ...)``."""

    name: str
    args: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Compare:
    """``left op right`` with op one of ``= <> > >= < <=`` (IIF and CBool conditions)."""

    op: str
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


Node = Attribute | String | Number | Name | Omitted | Call | Compare
COMPARE_OPS = ("=", "<>", ">", ">=", "<", "<=")
