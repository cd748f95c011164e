"""SCIM attribute paths as the engine uses them: parse a target path and read its value from a resource.

Paths are the ones of attribute mappings: ``userName``, ``name.givenName``, ``emails[type eq "work"].value``,
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department``. Building resources from paths is the
expressions package's ``build_scim_resource``; this module only reads (matching by scan, drift checks) and
describes paths for PATCH.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_FILTERED = re.compile(r'^(?P<attr>[A-Za-z][\w$-]*)\[(?P<key>\w+) eq "(?P<val>(?:[^"\\]|\\.)*)"\](?:\.(?P<sub>\w+))?$')
_CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
_CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@dataclass(frozen=True)
class ScimPath:
    urn: str | None  # extension schema URN, or None for core attributes
    attr: str  # top-level attribute (within the extension, when urn is set)
    filter_key: str | None = None  # emails[type eq "work"] -> "type"
    filter_value: str | None = None  # -> "work"
    sub: str | None = None  # name.givenName -> "givenName"; emails[...].value -> "value"

    @property
    def multi_valued(self) -> bool:
        return self.filter_key is not None

    @property
    def container(self) -> str:
        """The path of the whole multi-valued entry (``emails[type eq "work"]``) or of the attribute."""
        base = f"{self.urn}:{self.attr}" if self.urn else self.attr
        if self.filter_key is not None:
            escaped = (self.filter_value or "").replace("\\", "\\\\").replace('"', '\\"')
            return f'{base}[{self.filter_key} eq "{escaped}"]'
        return base

    @property
    def attribute_path(self) -> str:
        """Path of the top-level attribute (``emails``, ``urn:...:User:manager``)."""
        return f"{self.urn}:{self.attr}" if self.urn else self.attr


def parse_path(path: str) -> ScimPath:
    urn: str | None = None
    rest = path
    if path.lower().startswith("urn:"):
        urn, _, rest = path.rpartition(":")
        if not urn or urn.lower() in (_CORE_USER.lower(), _CORE_GROUP.lower()):
            urn = None
    match = _FILTERED.match(rest)
    if match:
        value = re.sub(r"\\(.)", r"\1", match["val"])
        return ScimPath(urn, match["attr"], match["key"], value, match["sub"])
    attr, _, sub = rest.partition(".")
    return ScimPath(urn, attr, sub=sub or None)


def _ci_get(data: dict[str, Any], key: str) -> Any:
    if key in data:
        return data[key]
    lowered = key.lower()
    for name, value in data.items():
        if name.lower() == lowered:
            return value
    return None


def read_path(resource: dict[str, Any], path: str) -> Any:
    """The value at ``path`` in a SCIM resource (attribute names compare case-insensitively), or None."""
    parsed = parse_path(path)
    container: Any = resource
    if parsed.urn is not None:
        container = _ci_get(resource, parsed.urn)
        if not isinstance(container, dict):
            return None
    value = _ci_get(container, parsed.attr)
    if parsed.filter_key is not None:
        if not isinstance(value, list):
            return None
        wanted = (parsed.filter_value or "").lower()
        for item in value:
            if isinstance(item, dict) and str(_ci_get(item, parsed.filter_key) or "").lower() == wanted:
                return _ci_get(item, parsed.sub) if parsed.sub else item
        return None
    if parsed.sub is not None:
        return _ci_get(value, parsed.sub) if isinstance(value, dict) else None
    return value


def filter_literal(value: Any) -> str:
    """A SCIM filter comparison value: JSON string escaping, so quotes and backslashes in directory data cannot
    break the filter (a known fault of the reference service)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
