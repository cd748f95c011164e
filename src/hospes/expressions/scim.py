"""Mapped target paths → a SCIM resource body.

Target attribute names are SCIM paths as Entra's provisioning service writes them:
``userName``, ``name.givenName``, ``emails[type eq "work"].value``, ``roles[primary eq "True"].value``,
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`` and custom extension URNs such as
``urn:ietf:params:scim:schemas:extension:8x8:1.1:User:site``. Value-path targets that share a filter land in
one multi-valued entry (work address parts end up in one ``addresses`` item).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hospes.expressions.errors import NO_FLOW, ExpressionError

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_SCHEMAS = {CORE_USER.lower(): CORE_USER, CORE_GROUP.lower(): CORE_GROUP}
DEFAULT_TYPES = {"active": "Boolean"}
_DEFAULT_TYPES = {k.lower(): v for k, v in DEFAULT_TYPES.items()}

_ATTR = r"[A-Za-z$][\w$-]*"
_PATH = re.compile(
    rf"""^(?P<attr>{_ATTR})
    (?:\[\s*(?P<fattr>{_ATTR})\s+eq\s+(?P<fval>"(?:[^"\\]|\\.)*"|true|false|[\w.@+-]+)\s*\])?
    (?:\.(?P<sub>{_ATTR}))?$""",
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True)
class TargetPath:
    schema: str | None  # extension URN, None for the core schema
    attribute: str
    filter_attribute: str | None = None
    filter_value: Any = None
    sub_attribute: str | None = None


def _split_urn(path: str) -> tuple[str | None, str]:
    if path[:4].lower() != "urn:":
        return None, path
    depth = 0
    cut = -1
    for i, ch in enumerate(path):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == ":" and depth == 0:
            cut = i
    if cut <= 4 or cut == len(path) - 1:
        raise ExpressionError(f"target {path!r}: an extension path is urn:...:<attribute>")
    return path[:cut], path[cut + 1 :]


def parse_target_path(path: str) -> TargetPath:
    """Parse a SCIM target attribute path; raise ``ExpressionError`` when it is not one."""
    if not isinstance(path, str):
        raise ExpressionError("target attribute path is empty")
    return _parse_target_path(path)


@lru_cache(maxsize=4096)  # a job has a few dozen target paths, each built into every object's body
def _parse_target_path(path: str) -> TargetPath:
    if not path.strip():
        raise ExpressionError("target attribute path is empty")
    urn, rest = _split_urn(path.strip())
    if urn is not None and urn.lower() in CORE_SCHEMAS:
        urn = None
    m = _PATH.match(rest)
    if m is None:
        raise ExpressionError(f'target {path!r} is not a SCIM path like name.givenName or emails[type eq "work"].value')
    fattr, fval = m.group("fattr"), m.group("fval")
    value: Any = None
    if fval is not None:
        value = re.sub(r"\\(.)", r"\1", fval[1:-1]) if fval.startswith('"') else fval
        if fattr and fattr.lower() == "primary":
            value = str(value).lower() == "true"
    return TargetPath(urn, m.group("attr"), fattr, value, m.group("sub"))


def _coerce(value: Any, kind: str | None) -> Any:
    if kind == "Boolean" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if kind == "Integer" and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return value
    if kind == "String" and not isinstance(value, str | list | dict):
        return "True" if value is True else "False" if value is False else str(value)
    return value


def _entry(items: list[Any], fattr: str, fval: Any) -> dict[str, Any]:
    for item in items:
        if isinstance(item, dict):
            current = item.get(fattr)
            same = current == fval or (
                isinstance(current, str) and isinstance(fval, str) and current.lower() == fval.lower()
            )
            if same:
                return item
    entry: dict[str, Any] = {fattr: fval}
    items.append(entry)
    return entry


def build_scim_resource(
    values: Mapping[str, Any],
    schemas: Iterable[str] | None = None,
    *,
    resource_type: str = "User",
    attribute_types: Mapping[str, str] | None = None,
    list_custom_extensions: bool = True,
) -> dict[str, Any]:
    """Build a SCIM resource from ``{target path: mapped value}``.

    - ``NO_FLOW`` and ``None`` values are left out (null is never provisioned).
    - ``schemas`` is the base list (default: the core schema of ``resource_type``); every extension URN used
      is appended. Entra omits custom extension URNs from ``schemas`` ([MAP]); Hospes lists them unless
      ``list_custom_extensions=False`` (the compat profile), as RFC 7643 §3 asks.
    - ``emails[type eq "work"]`` is marked ``primary: true`` (unless another email already is), as Entra's
      POST does; ``roles[primary eq "True"]`` entries carry ``primary: true`` from their filter.
    - ``attribute_types`` (lower-case path → Boolean/Integer/String) coerces text like ``"False"``; by default
      only ``active`` is a Boolean. The enterprise ``manager`` becomes ``{"value": id}``; group ``members``
      given as ids become ``[{"value": id}]``.
    """
    types = (
        _DEFAULT_TYPES if not attribute_types else _DEFAULT_TYPES | {k.lower(): v for k, v in attribute_types.items()}
    )
    core = CORE_GROUP if resource_type.lower() == "group" else CORE_USER
    schema_list: list[str] = list(schemas) if schemas is not None else [core]
    resource: dict[str, Any] = {"schemas": schema_list}
    for path, raw in values.items():
        if raw is NO_FLOW or raw is None:
            continue
        target = parse_target_path(path)
        container: dict[str, Any] = resource
        if target.schema is not None:
            if target.schema not in schema_list and (
                list_custom_extensions or target.schema.lower() == ENTERPRISE_USER.lower()
            ):
                schema_list.append(target.schema)
            container = resource.setdefault(target.schema, {})
        kind = types.get(path.lower()) or types.get(target.attribute.lower())
        value = _coerce(raw, kind) if kind else raw
        name = target.attribute
        if target.filter_attribute is not None:
            items = container.setdefault(name, [])
            if not isinstance(items, list):
                raise ExpressionError(f"target {path!r}: {name} is both single- and multi-valued in this mapping set")
            entry = _entry(items, target.filter_attribute, target.filter_value)
            if (
                name.lower() == "emails"
                and target.filter_attribute.lower() == "type"
                and str(target.filter_value).lower() == "work"
                and not any(isinstance(i, dict) and i.get("primary") is True for i in items if i is not entry)
            ):
                entry["primary"] = True
            if target.sub_attribute:
                entry[target.sub_attribute] = value
            elif isinstance(value, Mapping):
                entry.update(value)
            else:
                entry["value"] = value
        elif target.sub_attribute:
            parent = container.setdefault(name, {})
            if not isinstance(parent, dict):
                raise ExpressionError(f"target {path!r}: {name} is not a complex attribute")
            parent[target.sub_attribute] = value
        elif name.lower() == "manager" and isinstance(value, str):
            container[name] = {"value": value}
        elif name.lower() == "members" and isinstance(value, list):
            container[name] = [{"value": v} if isinstance(v, str) else v for v in value]
        elif isinstance(value, list) and isinstance(container.get(name), list):
            container[name].extend(value)
        else:
            container[name] = value
    return resource
