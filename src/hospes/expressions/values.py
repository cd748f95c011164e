"""Runtime value conventions shared by the functions.

Values are plain Python: ``None`` is null (an absent attribute), ``str``, ``bool``, ``int``, ``datetime``, and
``list`` for multi-valued attributes (an empty list is null too). Booleans print as ``"True"``/``"False"`` and
dates as ``M/d/yyyy h:mm:ss tt`` because that is how the .NET reference service turns them into text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from hospes.expressions.dates import format_reference, parse_lenient
from hospes.expressions.errors import ExpressionEvaluationError

_MISSING = object()


class SourceView(dict[str, Any]):
    """A source object with lower-cased keys, built once per object so that every ``[attribute]`` lookup of a
    mapping set is one dict probe (Entra attribute names are case-insensitive)."""

    __slots__ = ()


def source_view(source: Mapping[str, Any]) -> SourceView:
    if isinstance(source, SourceView):
        return source
    return SourceView((str(k).lower(), v) for k, v in source.items())


def attribute_getter(name: str) -> Callable[[Mapping[str, Any]], Any]:
    lname = name.lower()

    def get(src: Mapping[str, Any]) -> Any:
        if type(src) is SourceView:
            return src.get(lname)
        value = src.get(name, _MISSING)
        if value is _MISSING:
            for key, val in src.items():
                if isinstance(key, str) and key.lower() == lname:
                    return val
            return None
        return value

    return get


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, list) and not value)


def is_null_or_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list) and not value)


def text(value: Any) -> str | None:
    """The text of a single value, ``None`` for null; a multi-valued value must hold exactly one item."""
    if type(value) is str:
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return format_reference(value)
    if isinstance(value, list):
        if not value:
            return None
        if len(value) == 1:
            return text(value[0])
        raise ExpressionEvaluationError("a multi-valued attribute was given where one value is expected")
    if isinstance(value, Mapping):
        # Reference attributes (manager) may arrive as {"value": id} or {"id": ...}.
        for key in ("value", "id", "objectId"):
            if key in value:
                return text(value[key])
    raise ExpressionEvaluationError(f"cannot use a {type(value).__name__} value as text")


def values_of(value: Any) -> Iterator[Any]:
    """Every value of a possibly multi-valued attribute (nothing for null)."""
    if value is None:
        return
    if isinstance(value, list | tuple):
        yield from value
    else:
        yield value


def to_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ExpressionEvaluationError(f"{what} must be a number, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    s = text(value)
    try:
        return int(str(s).strip(), 0) if str(s).strip().lower().startswith(("0x",)) else int(str(s).strip())
    except ValueError:
        raise ExpressionEvaluationError(f"{what} must be a number, got {s!r}") from None


def to_bool(value: Any) -> bool:
    """Truth of a condition value: booleans, "True"/"False" text, numbers (non-zero is true); null is false."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float):
        return value != 0
    s = text(value)
    if s is None or s == "":
        return False
    low = s.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    try:
        return float(low) != 0
    except ValueError:
        raise ExpressionEvaluationError(f"{s!r} is not a boolean") from None


def to_date(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    s = text(value)
    if s is None:
        return None
    return parse_lenient(s)


def lift(fn: Callable[[str], Any]) -> Callable[[Any], Any]:
    """Apply a text function to a value, or to each value of a multi-valued one; null stays null."""

    def apply(value: Any) -> Any:
        if type(value) is str:
            return fn(value)
        if value is None:
            return None
        if isinstance(value, list):
            return [fn(s) for s in (text(v) for v in value) if s is not None] or None
        s = text(value)
        return None if s is None else fn(s)

    return apply
