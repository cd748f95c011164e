"""Errors of the membership-rule language: a validation error carries the reference's detail and a position."""

from __future__ import annotations

PREFIX = "Dynamic membership rule validation error"

# The details the reference service gives, reused verbatim so that scripts matching them keep working.
ATTRIBUTE_NOT_SUPPORTED = "Attribute not supported."
OPERATOR_NOT_SUPPORTED = "Operator isn't supported on attribute."
QUERY_COMPILATION = "Query compilation error."
INVALID_OPERANDS = "Invalid operands found for operator."
INVALID_OBJECT_TYPE = "Invalid object type."


def wrong_property(name: str, obj: str) -> str:
    return f"Wrong property applied. Property '{name}' cannot be applied to object '{obj}'"


class RuleError(ValueError):
    """An invalid rule: ``detail`` is what went wrong, ``position`` the 1-based character where it was found.
    Services turn it into their ``InvalidInputError`` (a Graph 400 ``Request_BadRequest``)."""

    def __init__(self, detail: str, position: int) -> None:
        self.message = f"{PREFIX}: {detail} (position {position})"
        super().__init__(self.message)
        self.detail = detail
        self.position = position


class RuleEvaluationError(Exception):
    """A rule could not decide for one user (a regular expression ran out of time): that user's membership is
    left as it is rather than guessed."""
