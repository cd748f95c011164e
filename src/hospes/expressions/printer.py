"""Syntax tree → canonical text (the round-trip partner of ``parser.parse``)."""

from __future__ import annotations

from hospes.expressions.ast import Attribute, Call, Compare, Name, Node, Number, Omitted, String


def quote(value: str) -> str:
    """A string literal for ``value``: backslash and double quote escaped with a backslash."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_text(node: Node) -> str:
    """Canonical text: ``Name(a, b)``, empty slots for skipped arguments, ``[a] = "x"`` for comparisons."""
    if isinstance(node, Attribute):
        return f"[{node.name}]"
    if isinstance(node, String):
        return quote(node.value)
    if isinstance(node, Number):
        if node.hex:
            return f"&H{node.value:X}"
        return str(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Omitted):
        return ""
    if isinstance(node, Compare):
        return f"{to_text(node.left)} {node.op} {to_text(node.right)}"
    if isinstance(node, Call):
        parts = [to_text(arg) for arg in node.args]
        # "F(a, )": a trailing skipped slot must keep its comma; join gives "a, " which re-parses the same.
        return f"{node.name}({', '.join(parts)})"
    raise TypeError(f"not an expression node: {node!r}")
