"""Rows -> Graph JSON: property selection, ``@odata.context``, collections with absolute ``@odata.nextLink``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from hospes.domain.schema import Resource
from hospes.graph.deps import QueryOptions
from hospes.runtime import Runtime
from hospes.services.listing import Page


def graph_datetime(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_graph_datetime(value: object) -> dt.datetime:
    """An Edm.DateTimeOffset of a request body (``2027-01-01T00:00:00Z``); ValueError for anything else. A value
    without an offset is read as UTC."""
    if not isinstance(value, str) or not value:
        raise ValueError("not a date and time")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def sign_in_activity(user: Any) -> dict[str, Any] | None:
    """A user's ``signInActivity``: absent (null) for users who never signed in, as Graph answers."""
    interactive = getattr(user, "last_sign_in_at", None)
    other = getattr(user, "last_non_interactive_sign_in_at", None)
    successful = getattr(user, "last_successful_sign_in_at", None) or max(
        (t for t in (interactive, other) if t is not None), default=None
    )
    if interactive is None and other is None and successful is None:
        return None
    return {
        "lastSignInDateTime": graph_datetime(interactive),
        "lastSignInRequestId": None,
        "lastNonInteractiveSignInDateTime": graph_datetime(other),
        "lastNonInteractiveSignInRequestId": None,
        "lastSuccessfulSignInDateTime": graph_datetime(successful),
        "lastSuccessfulSignInRequestId": None,
    }


# Properties computed from a row's columns when the caller passes no value: (resource name, property name).
DERIVED: dict[tuple[str, str], Callable[[Any], Any]] = {("user", "signInActivity"): sign_in_activity}


def to_wire(
    resource: Resource, row: Any, select: list[str] | None = None, computed: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON object of one row; ``computed`` supplies properties that have no storage attribute."""
    props = [p for p in (resource.get(n) for n in select) if p] if select else list(resource.default_props)
    if select and not any(p.name == "id" for p in props) and resource.get("id"):
        props.insert(0, resource.get("id"))  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    for prop in props:
        if prop.attr is not None:
            value = getattr(row, prop.attr)
        elif computed is not None and prop.name in computed:
            value = computed[prop.name]
        else:
            derive = DERIVED.get((resource.name, prop.name))
            value = derive(row) if derive is not None else None
        if prop.kind == "datetime":
            value = graph_datetime(value)
        elif prop.kind in ("str_list", "obj_list") and value is None:
            value = []
        out[prop.name] = value
    return out


def context_url(state: Runtime, path: str, select: list[str] | None = None, entity: bool = False) -> str:
    suffix = f"({','.join(select)})" if select else ""
    return f"{state.settings.public_url}/v1.0/$metadata#{path}{suffix}{'/$entity' if entity else ''}"


def entity(state: Runtime, context_path: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.context": context_url(state, context_path, entity=True), **body}


def collection(
    state: Runtime,
    context_path: str,
    items: Iterable[dict[str, Any]],
    next_link: str | None = None,
    count: int | None = None,
    select: list[str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"@odata.context": context_url(state, context_path, select)}
    if count is not None:
        out["@odata.count"] = count
    if next_link:
        out["@odata.nextLink"] = next_link
    out["value"] = list(items)
    return out


def paged(
    state: Runtime,
    path: str,
    options: QueryOptions,
    page: Page,
    tenant_id: str,
    items: Iterable[dict[str, Any]],
) -> dict[str, Any]:
    next_link = None
    if page.next_after is not None:
        token = options.skiptoken(tenant_id, page.next_after, state)
        next_link = f"{state.settings.public_url}/v1.0/{path}?$skiptoken={quote(token)}"
    return collection(state, path, items, next_link, page.count, options.select)
