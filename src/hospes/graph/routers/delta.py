"""``/users/delta`` and ``/groups/delta``, also as ``delta()`` and ``microsoft.graph.delta()`` (SDK form).

The links carry opaque sealed tokens (``ServerKeys.seal``): tenant, original query options, page size, the
``Prefer: return=minimal`` choice and the cursor of ``hospes.services.delta``. A modified token fails its MAC
and gets a 400; a token of another tenant gets the same 400; a token older than the change-log retention gets
410 ``syncStateNotFound`` with a ``Location`` to start over.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hospes.digits import ascii_int
from hospes.domain.errors import InvalidInputError, SyncStateNotFoundError, UnsupportedQueryError
from hospes.domain.schema import GROUP, USER, Resource
from hospes.graph.deps import GroupsDelta, RuntimeDep, UsersDelta, odata_error
from hospes.graph.errors import error_response
from hospes.graph.wire import context_url, to_wire
from hospes.odata import Compare, In, Literal, Node, ODataSyntaxError, Or, Path, parse_filter, parse_select
from hospes.runtime import Runtime
from hospes.services.delta import MAX_IDS, Cursor, DeltaPage, DeltaQuery, DeltaService, Entry, MemberDelta

router = APIRouter()
_KEPT = ("$select", "$filter", "$expand")  # options sealed into the links
SAFE = ",'()"  # left as is in option values of the restart URL, for readability
_REFUSED = ("$orderby", "$search", "$top", "$count", "$skip")


def entry_wire(resource: Resource, entry: Entry, select: list[str] | None, minimal: bool) -> dict[str, Any]:
    """One delta item as Graph shows it."""
    if entry.removed:
        return {"id": entry.id, "@removed": {"reason": entry.removed}}
    if minimal and entry.changed is not None:
        # return=minimal: id and the changed properties only, nulls included.
        body = to_wire(resource, entry.row, ["id", *sorted(entry.changed - {"members"})])
    else:
        body = to_wire(resource, entry.row, select)
    if entry.members:
        body["members@delta"] = [_member_wire(m) for m in entry.members]
    return body


def _member_wire(member: MemberDelta) -> dict[str, Any]:
    item: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{member.kind}", "id": member.id}
    if member.removed:
        item["@removed"] = {"reason": "deleted"}  # membership removed, or member object deleted
    return item


def _ids(node: Node) -> list[str]:
    """``id eq 'a' or id eq 'b'`` (or ``id in (...)``): the only filter Graph allows on users/groups delta."""
    if isinstance(node, Or):
        return [i for item in node.items for i in _ids(item)]
    if isinstance(node, Compare) and node.op == "eq":
        path, value = (node.left, node.right) if isinstance(node.left, Path) else (node.right, node.left)
        is_id = isinstance(path, Path) and path.segments == ("id",)
        if is_id and isinstance(value, Literal) and isinstance(value.value, str):
            return [value.value.lower()]
    if isinstance(node, In) and node.path.segments == ("id",) and all(isinstance(v.value, str) for v in node.values):
        return [str(v.value).lower() for v in node.values]
    raise UnsupportedQueryError(
        f"Delta query supports only $filter on id ('id eq ...' joined by 'or', {MAX_IDS} ids at most)."
    )


def _query(resource: Resource, options: dict[str, str], page_size: int) -> tuple[DeltaQuery, list[str] | None]:
    """The service query and the $select list for serialization, from the (sealed) query options."""
    select: list[str] | None = None
    names = parse_select(options.get("$select"))
    if names:
        select = []
        for name in names:
            if resource is GROUP and name.lower() == "members":
                select.append("members")
                continue
            prop = resource.get(name)
            if prop is None:
                raise InvalidInputError(
                    "Parsing OData Select and Expand failed: Could not find a property "
                    f"named '{name}' on type 'microsoft.graph.{resource.name}'."
                )
            select.append(prop.name)
    expand = options.get("$expand")
    if expand is not None:
        # Older Graph docs track membership with $expand=members; the current ones with $select=members.
        if resource is not GROUP or expand.strip().lower() != "members":
            raise UnsupportedQueryError("$expand is not supported on delta query except 'members' on groups.")
        if select is not None and "members" not in select:
            select.append("members")
    ids = None
    if "$filter" in options:
        try:
            ids = _ids(parse_filter(options["$filter"]))
        except ODataSyntaxError as exc:
            raise odata_error(exc) from None
    kind = "user" if resource is USER else "group"
    query = DeltaQuery(kind, tuple(select) if select else None, tuple(dict.fromkeys(ids)) if ids else None, page_size)
    return query, select


def _preferences(request: Request) -> tuple[bool, int | None]:
    """``Prefer: return=minimal`` and ``odata.maxpagesize=n`` (clamped to 1..999)."""
    minimal, size = False, None
    for part in request.headers.get("prefer", "").split(","):
        key, _, value = part.strip().partition("=")
        if key.lower() == "return" and value.strip().lower() == "minimal":
            minimal = True
        elif key.lower() == "odata.maxpagesize" and (asked := ascii_int(value.strip())) is not None:
            size = max(1, min(999, asked))
    return minimal, size


def _link(state: Runtime, resource: Resource, name: str, token: str) -> str:
    return f"{state.settings.public_url}/v1.0/{resource.collection}/delta?{name}={quote(token, safe='')}"


def _unseal(state: Runtime, resource: Resource, tenant_id: str, name: str, token: str) -> dict[str, Any]:
    try:
        saved = state.keys.unseal(f"delta:{resource.collection}", token)
        if not isinstance(saved, dict) or saved.get("t") != tenant_id:
            raise ValueError("tenant")
        Cursor.from_json(saved.get("c"))
        if not isinstance(saved.get("o"), dict) or not isinstance(saved.get("n"), int):
            raise ValueError("options")
    except (ValueError, TypeError, KeyError):
        raise InvalidInputError(
            f"Invalid {name}: the token is malformed, was modified or is not for this tenant."
        ) from None
    return saved


def _delta(resource: Resource, request: Request, state: Runtime, service: DeltaService) -> JSONResponse:
    params = request.query_params
    header_minimal, header_size = _preferences(request)
    token_name = "$deltatoken" if params.get("$deltatoken") else "$skiptoken" if params.get("$skiptoken") else None
    latest = token_name == "$deltatoken" and params["$deltatoken"] == "latest"
    if token_name and not latest:
        saved = _unseal(state, resource, service.tenant_id, token_name, params[token_name])
        options: dict[str, str] = saved["o"]
        page_size: int = saved["n"]
        minimal = bool(saved.get("m")) or header_minimal
        cursor = Cursor.from_json(saved["c"])
    else:
        for name in _REFUSED:
            if name in params:
                raise UnsupportedQueryError(f"The query option '{name}' is not supported with delta query.")
        options = {k: params[k] for k in _KEPT if k in params}
        page_size = header_size or state.settings.delta_page_size
        minimal = header_minimal
        cursor = None
    query, select = _query(resource, options, page_size)
    if cursor is None:
        cursor = service.latest(query) if latest else service.initial(query)
    try:
        service.check_fresh(cursor, state.settings.change_log_retention_days)
        service.check_known(query, cursor)
    except SyncStateNotFoundError as exc:
        restart = f"{state.settings.public_url}/v1.0/{resource.collection}/delta?"
        restart += "".join(f"{k}={quote(v, safe=SAFE)}&" for k, v in options.items()) + "$deltatoken="
        return error_response(410, exc.code, exc.message, request, headers={"Location": restart})
    page = DeltaPage([], delta=cursor) if latest else service.page(query, cursor)

    def seal(next_cursor: Cursor) -> str:
        payload = {
            "t": service.tenant_id,
            "o": options,
            "n": page_size,
            "m": minimal,
            "c": next_cursor.to_json(),
        }
        return state.keys.seal(f"delta:{resource.collection}", payload)

    body: dict[str, Any] = {"@odata.context": context_url(state, resource.collection, select)}
    if page.next is not None:
        body["@odata.nextLink"] = _link(state, resource, "$skiptoken", seal(page.next))
    elif page.delta is not None:
        body["@odata.deltaLink"] = _link(state, resource, "$deltatoken", seal(page.delta))
    else:
        raise ValueError("a delta page ends with a nextLink or a deltaLink")
    body["value"] = [entry_wire(resource, e, select, minimal) for e in page.entries]
    headers = {"Preference-Applied": "return=minimal"} if minimal else None
    return JSONResponse(body, headers=headers)


for _suffix in ("delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"):

    @router.get(f"/users/{_suffix}", include_in_schema=_suffix == "delta")
    def users_delta(request: Request, state: RuntimeDep, delta: UsersDelta) -> JSONResponse:
        return _delta(USER, request, state, delta)

    @router.get(f"/groups/{_suffix}", include_in_schema=_suffix == "delta")
    def groups_delta(request: Request, state: RuntimeDep, delta: GroupsDelta) -> JSONResponse:
        return _delta(GROUP, request, state, delta)
