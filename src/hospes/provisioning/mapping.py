"""The engine's single door to the expressions package (``hospes.expressions``): compiling and evaluating
attribute-mapping expressions and scoping filters, and turning target paths into a SCIM resource. The engine has
no evaluator of its own; plain ``[attribute]`` and ``"constant"`` sources skip the expression machinery only
because they are the bulk of every mapping set and need none of it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from hospes.expressions import (
    NO_FLOW,
    ExpressionError,
    build_scim_resource,
    compile_expression,
    compile_scope,
    scope_from_text,
    scope_to_text,
)
from hospes.expressions.defaults import EIGHT_BY_EIGHT_USER_MAPPINGS, SCIM_GROUP_MAPPINGS, DefaultMapping


class MappingError(ValueError):
    """An expression or a scoping filter that does not compile. ``message`` is the reason alone, ``position``
    the 0-based offset in the text where it was found (when known); ``str()`` adds the position."""

    def __init__(self, text: str, message: str | None = None, position: int | None = None) -> None:
        super().__init__(text)
        self.message = text if message is None else message
        self.position = position


class Compiled(Protocol):
    def evaluate(self, source: Mapping[str, Any]) -> Any: ...


class CompiledScope(Protocol):
    def matches(self, source: Mapping[str, Any]) -> bool: ...


def is_no_flow(value: Any) -> bool:
    return value is NO_FLOW


class _Direct:
    def __init__(self, name: str) -> None:
        self.name, self.lname = name, name.lower()

    def evaluate(self, source: Mapping[str, Any]) -> Any:
        if self.name in source:
            return source[self.name]
        for key, value in source.items():  # Entra attribute names are case-insensitive
            if key.lower() == self.lname:
                return value
        return None


class _Constant:
    def __init__(self, value: str) -> None:
        self.value = value

    def evaluate(self, source: Mapping[str, Any]) -> Any:
        return self.value


def compile_text(text: str) -> Compiled:
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]") and stripped.count("[") == 1 and stripped.count("]") == 1:
        return _Direct(stripped[1:-1])
    if stripped.startswith('"') and stripped.endswith('"') and "\\" not in stripped:
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if isinstance(value, str):
            return _Constant(value)
    try:
        return compile_expression(stripped)
    except ExpressionError as exc:
        raise MappingError(str(exc), exc.message, exc.position) from None


def compile_scope_json(data: dict[str, Any]) -> CompiledScope:
    try:
        return compile_scope(data)
    except (ExpressionError, ValueError, TypeError) as exc:
        raise MappingError(str(exc)) from None


def scope_text(scope: Mapping[str, Any] | None) -> str:
    """A scoping filter (Graph ``filter`` JSON) in the text form the portal edits."""
    return scope_to_text(scope)


def parse_scope_text(text: str) -> dict[str, Any] | None:
    """The Graph ``filter`` JSON written by the text form (``None`` for no clause); only the shape of each line
    is checked here, ``compile_scope_json`` checks the operands."""
    try:
        return scope_from_text(text)
    except ExpressionError as exc:
        raise MappingError(str(exc), exc.message, exc.position) from None


def build_resource(values: dict[str, Any], kind: str = "user") -> dict[str, Any]:
    """A SCIM resource from target paths -> values (filtered multi-valued paths, extension URNs)."""
    try:
        return build_scim_resource(values, resource_type="Group" if kind == "group" else "User")
    except ExpressionError as exc:
        raise MappingError(str(exc)) from None


Row = tuple[str, str | None, int, str]


def _rows(mappings: tuple[DefaultMapping, ...]) -> list[Row]:
    return [(m.target, m.source or None, m.matching_priority, m.flow_type) for m in mappings]


def default_user_rows() -> list[Row]:
    """The 8x8 tutorial's table, plus ``displayName`` ← displayName as in the generic SCIM app's defaults (a
    target without a display name shows people by their sign-in name); locale and timezone are listed but
    unmapped."""
    rows = _rows(EIGHT_BY_EIGHT_USER_MAPPINGS)
    after_active = next(i for i, row in enumerate(rows) if row[0] == "active") + 1
    rows.insert(after_active, ("displayName", "[displayName]", 0, "Always"))
    return [*rows, ("locale", None, 0, "Always"), ("timezone", None, 0, "Always")]


def default_group_rows() -> list[Row]:
    return _rows(SCIM_GROUP_MAPPINGS)
