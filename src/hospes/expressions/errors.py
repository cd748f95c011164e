"""Errors and the "no flow" sentinel of the expression language."""

from __future__ import annotations

from typing import Final


class ExpressionError(ValueError):
    """A mapping expression or scoping filter is wrong (found when it is saved) or failed on one object.

    ``position`` is a 0-based character offset into the expression text (``None`` when the error is not tied
    to a place, for example a scoping filter clause); ``expected`` lists what the parser would have accepted
    there. ``code`` is a stable machine-readable reason for API error envelopes and provisioning logs.
    """

    code = "InvalidExpression"

    def __init__(self, message: str, position: int | None = None, expected: list[str] | None = None) -> None:
        self.message = message
        self.position = position
        self.expected = list(expected or [])
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" at position {self.position}" if self.position is not None else ""
        return f"{self.message}{where}"

    def caret(self, text: str) -> str:
        """The expression line with a caret under the error position (for terminals and the mapping editor)."""
        if self.position is None:
            return text
        line_start = text.rfind("\n", 0, self.position) + 1
        line_end = text.find("\n", self.position)
        line = text[line_start : line_end if line_end >= 0 else len(text)]
        return f"{line}\n{' ' * (self.position - line_start)}^"


class ExpressionEvaluationError(ExpressionError):
    """A valid expression failed on one source object (bad date, regex timeout, uncovertible value...).

    The engine treats it like any other per-object export error (escrow and retry), never as "no flow": an
    error must not silently blank or skip a target attribute.
    """

    code = "ExpressionEvaluationFailed"


class NoUniqueValueError(ExpressionEvaluationError):
    """Every candidate of ``SelectUniqueValue`` is already taken in the target: the entry is escrowed."""

    code = "SelectUniqueValueExhausted"


class _NoFlow:
    """The mapping must not flow: the target attribute is left out of the create or update."""

    _instance: _NoFlow | None = None

    def __new__(cls) -> _NoFlow:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_FLOW"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NO_FLOW"


NO_FLOW: Final = _NoFlow()


class DropFlow(Exception):  # noqa: N818 - control flow signal, not an error
    """Raised inside an evaluation by ``IgnoreFlowIfNullOrEmpty``; ``Expression.evaluate`` turns it into NO_FLOW.

    An exception rather than a returned marker because the function may be nested anywhere and every other
    function would otherwise have to test for the marker on every call (the hot path).
    """
