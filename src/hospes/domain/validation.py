"""Validation of Graph request bodies against a resource schema, before any service runs."""

from __future__ import annotations

from typing import Any

from hospes.domain.errors import InvalidInputError
from hospes.domain.schema import Resource

_PY_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "guid": (str,), "bool": (bool,)}


def validate_body(
    resource: Resource, body: Any, *, extra: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a JSON object into (storage attribute -> value) and (extra name -> raw value).

    Unknown and read-only properties are refused with Graph's message; ``@odata.type`` (sent by the SDK) must
    name the resource when present.
    """
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    values: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for key, value in body.items():
        if key == "@odata.type":
            if value not in (resource.odata_type, resource.odata_type.lstrip("#")):
                raise InvalidInputError(f"Invalid @odata.type '{value}' for a {resource.name}.")
            continue
        if key in extra:
            extras[key] = value
            continue
        prop = resource.get(key)
        if prop is None:
            raise InvalidInputError(
                f"Property '{key}' does not exist on type 'microsoft.graph.{resource.name}'.",
                target=key,
            )
        if not prop.writable or prop.attr is None:
            if prop.attr is None and prop.writable:
                extras[prop.name] = value
                continue
            raise InvalidInputError(f"Property '{prop.name}' is read-only and cannot be set.", target=prop.name)
        values[prop.attr] = _check(prop.name, prop.kind, prop.max_len, value)
    return values, extras


def _check(name: str, kind: str, max_len: int | None, value: Any) -> Any:
    def bad(expected: str) -> InvalidInputError:
        return InvalidInputError(f"Invalid value specified for property '{name}': expected {expected}.", target=name)

    if value is None:
        return None
    if kind in _PY_TYPES:
        if not isinstance(value, _PY_TYPES[kind]) or (kind != "bool" and isinstance(value, bool)):
            raise bad("a boolean" if kind == "bool" else "a string")
        if isinstance(value, str) and max_len is not None and len(value) > max_len:
            raise InvalidInputError(
                f"Invalid value specified for property '{name}': the maximum length is {max_len}.",
                target=name,
            )
        return value
    if kind == "str_list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("an array of strings")
        if len(value) > 250:
            raise bad("at most 250 values")
        return value
    if kind == "obj_list":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise bad("an array of objects")
        return value
    if kind == "json":
        return value
    raise bad(kind)


def require(resource: Resource, values: dict[str, Any], *names: str) -> None:
    """Graph's answer to a missing required property on create."""
    for name in names:
        prop = resource.get(name)
        attr = prop.attr if prop else None
        if attr is None or values.get(attr) in (None, ""):
            raise InvalidInputError(
                f"Invalid value specified for property '{name}' of resource '{resource.name[0].upper()}"
                f"{resource.name[1:]}'.",
                target=name,
            )
