"""The text form of a scoping filter, as the portal's mapping editor shows and reads it.

One clause per line, ``attribute OPERATOR value`` (several values separated by commas, none for unary
operators); groups, which are ORed, are separated by an empty line:

    department EQUALS Sales
    country IS IN FR, DE

    jobTitle Includes Director

The text form carries ``groups`` only: group names become ``Group 1``, ``Group 2``... and
``inputFilterGroups`` have no text form. A value cannot contain a comma. Only the shape of each line is
checked here; ``compile_scope`` checks the operands (value count, integers, regexes).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from hospes.expressions.errors import ExpressionError
from hospes.expressions.scope import FILTER_OPERATORS

# Longest first: "Greater_Than_OR_EQUALS 5" is that operator, not Greater_Than with the value "_OR_EQUALS 5".
_OPERATORS = sorted((op.name for op in FILTER_OPERATORS), key=len, reverse=True)


def scope_to_text(scope: Mapping[str, Any] | None) -> str:
    """The text form of a Graph ``filter`` object (camelCase or PascalCase keys); ``""`` for no filter."""
    if not isinstance(scope, Mapping):
        return ""
    blocks: list[str] = []
    for group in scope.get("groups") or scope.get("Groups") or []:
        lines: list[str] = []
        for clause in group.get("clauses") or group.get("Clauses") or []:
            attribute = clause.get("sourceOperandName") or clause.get("SourceOperandName") or ""
            operator = clause.get("operatorName") or clause.get("OperatorName") or ""
            target = clause.get("targetOperand") or clause.get("TargetOperand") or {}
            values = target.get("values") or target.get("Values") or []
            lines.append(" ".join(p for p in (attribute, operator, ",".join(values)) if p))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def scope_from_text(text: str) -> dict[str, Any] | None:
    """The Graph ``filter`` object written by ``text``; ``None`` when the text holds no clause.

    A line without a known operator after its attribute raises ``ExpressionError`` whose ``position`` is the
    0-based offset in ``text`` where the operator was expected and whose ``expected`` lists the operators.
    Operators are matched ignoring case and stored in their canonical spelling.
    """
    normalized = text.replace("\r\n", "\n")
    groups: list[dict[str, Any]] = []
    block_start = 0
    for block in normalized.split("\n\n"):
        start, block_start = block_start, block_start + len(block) + 2
        if not block.strip():
            continue
        clauses: list[dict[str, Any]] = []
        line_start = start
        for raw_line in block.splitlines(keepends=True):
            offset, line_start = line_start, line_start + len(raw_line)
            line = raw_line.strip()
            if not line:
                continue
            offset += len(raw_line) - len(raw_line.lstrip())
            attribute, space, tail = line.partition(" ")
            rest = tail.strip()
            operator = next((op for op in _OPERATORS if rest.upper().startswith(op.upper())), None)
            if operator is None:
                where = offset + len(attribute) + len(space) + len(tail) - len(tail.lstrip())
                raise ExpressionError(
                    f"'{line}': write an attribute, an operator and a value",
                    _original_offset(text, where),
                    [op.name for op in FILTER_OPERATORS],
                )
            value = rest[len(operator) :].strip()
            values = [v.strip() for v in value.split(",")] if value else []
            clauses.append(
                {"sourceOperandName": attribute, "operatorName": operator, "targetOperand": {"values": values}}
            )
        groups.append({"name": f"Group {len(groups) + 1}", "clauses": clauses})
    return {"groups": groups} if groups else None


def _original_offset(text: str, normalized_offset: int) -> int:
    """Map an offset in ``text`` with ``\\r\\n`` read as ``\\n`` back to ``text`` itself."""
    crlf_ends: list[int] = []  # normalized offset of each "\n" that stood for "\r\n"
    removed = 0
    index = text.find("\r\n")
    while index >= 0:
        crlf_ends.append(index - removed)
        removed += 1
        index = text.find("\r\n", index + 2)
    return normalized_offset + bisect_left(crlf_ends, normalized_offset)
