"""SCIM PATCH bodies (RFC 7644 §3.5.2) for attribute changes and membership deltas; pure, no I/O.

RFC 7644 by default (lowercase ops, booleans, ``add`` for a multi-valued entry that does not exist yet,
``remove`` of a whole filtered entry, ``members[value eq "id"]`` removals). ``compat="entra"`` reproduces the
reference service's shape for targets built against it: capitalised ops, ``"True"``/``"False"`` strings, member
removal as ``path: members`` with a value array.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hospes.provisioning.connector import Change
from hospes.provisioning.paths import filter_literal, parse_path


def _op(name: str, compat: str) -> str:
    return name.capitalize() if compat == "entra" else name


def _wire_value(value: Any, compat: str) -> Any:
    if isinstance(value, bool) and compat == "entra":
        return "True" if value else "False"
    return value


def patch_operations(changes: list[Change], compat: str = "rfc") -> list[dict[str, Any]]:
    """PATCH operations for attribute changes (one operation per attribute, as targets expect)."""
    ops: list[dict[str, Any]] = []
    for change in changes:
        parsed = parse_path(change.path)
        new = _wire_value(change.new, compat)
        if compat == "entra":
            if change.new is None:
                ops.append({"op": _op("remove", compat), "path": change.path})
            else:
                ops.append({"op": _op("replace", compat), "path": change.path, "value": new})
            continue
        if parsed.multi_valued:
            if change.new is None:
                ops.append({"op": "remove", "path": parsed.container})
            elif change.old is None:
                # A filtered path cannot address an entry that does not exist yet (noTarget): add the entry.
                entry: dict[str, Any] = {parsed.filter_key or "type": parsed.filter_value}
                entry[parsed.sub or "value"] = new
                ops.append({"op": "add", "path": parsed.attribute_path, "value": [entry]})
            else:
                ops.append({"op": "replace", "path": change.path, "value": new})
        elif change.new is None:
            ops.append({"op": "remove", "path": change.path})
        else:
            ops.append({"op": "replace", "path": change.path, "value": new})
    return ops


def member_operations(add: list[str], remove: list[str], compat: str, chunk: int) -> Iterator[list[dict[str, Any]]]:
    """Membership deltas, ``chunk`` members per PATCH at most. RFC removals use a value filter per member: a
    ``path: members`` removal with a value array is "remove all members" to a strict server."""
    chunk = max(1, chunk)
    for i in range(0, len(add), chunk):
        part = add[i : i + chunk]
        yield [{"op": _op("add", compat), "path": "members", "value": [{"value": m} for m in part]}]
    for i in range(0, len(remove), chunk):
        part = remove[i : i + chunk]
        if compat == "entra":
            yield [{"op": "Remove", "path": "members", "value": [{"value": m} for m in part]}]
        else:
            yield [{"op": "remove", "path": f"members[value eq {filter_literal(m)}]"} for m in part]
