"""FastAPI dependencies of the Graph surface: the caller, permissions, JSON bodies, OData query options."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy import bindparam, select

from hospes.domain.errors import AuthenticationError, ForbiddenError, InvalidInputError, PayloadTooLargeError
from hospes.domain.principals import Principal
from hospes.domain.schema import Resource
from hospes.odata import ODataSyntaxError, parse_filter, parse_orderby, parse_search, parse_select
from hospes.runtime import Runtime
from hospes.services.listing import ListQuery
from hospes.storage.engine import read_one
from hospes.storage.tables import ServicePrincipal


async def app_state(request: Request) -> Runtime:  # async: no blocking, so no thread-pool round trip
    state: Runtime = request.app.state.runtime
    return state


RuntimeDep = Annotated[Runtime, Depends(app_state)]


async def current_principal(request: Request, state: RuntimeDep) -> Principal:
    """Async: the token check is pure CPU and, on SQLite, the service principal lookup is a local indexed read of
    microseconds; a worker-thread round trip per request cost more than both (bench/bench_invitations.py)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise AuthenticationError("Access token is empty.")
    if scheme.lower() != "bearer":
        raise AuthenticationError("Access token validation failure: the Authorization scheme must be Bearer.")
    principal = state.issuer.verify(token.strip())
    if principal.kind == "app":
        if state.sessions.kw["bind"].dialect.name == "sqlite":
            active = app_is_active(state, principal)
        else:  # a network round trip: not on the event loop
            active = await anyio.to_thread.run_sync(app_is_active, state, principal)
        if not active:
            raise AuthenticationError("The application behind this token is disabled or was removed.")
    return principal


_APP_STATE = select(ServicePrincipal.tenant_id, ServicePrincipal.account_enabled).where(
    ServicePrincipal.id == bindparam("id")
)


def app_is_active(state: Runtime, principal: Principal) -> bool:
    """A token outlives nothing it was issued for: a deleted or disabled service principal stops at once."""
    row = read_one(state.sessions.kw["bind"], _APP_STATE, {"id": principal.id})
    return row is not None and row[0] == principal.tenant_id and bool(row[1])


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def requires(permissions: frozenset[str]) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: PrincipalDep) -> Principal:  # async: a pure check needs no worker thread
        if not principal.has_any(*permissions):
            raise ForbiddenError()
        return principal

    return check


async def _read_json(request: Request, limit: int, *, required: bool) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"The request body is larger than the limit of {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"The request body is larger than the limit of {limit} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        if required:
            raise InvalidInputError("The request body is empty: a JSON object is required.")
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and "
            "payload is of valid JSON format."
        ) from None


async def json_body(request: Request, state: RuntimeDep) -> Any:
    return await _read_json(request, state.settings.max_body_bytes, required=True)


async def optional_body(request: Request, state: RuntimeDep) -> Any:
    """A JSON body that may be absent (``start``, ``pause``, and ``restart`` sent without criteria): ``{}``."""
    return await _read_json(request, state.settings.max_body_bytes, required=False)


BodyDep = Annotated[Any, Depends(json_body)]
OptionalBodyDep = Annotated[Any, Depends(optional_body)]


class QueryOptions:
    """Parsed OData options of a collection request; ``$skiptoken`` restores the first request's options."""

    def __init__(self, request: Request, state: Runtime, resource: Resource, principal: Principal) -> None:
        params = request.query_params
        self.resource = resource
        token = params.get("$skiptoken")
        if token is not None:
            try:
                saved = state.keys.unseal(f"page:{resource.collection}", token)
                if saved.get("t") != principal.tenant_id:
                    raise ValueError("tenant")
            except (ValueError, AttributeError):
                raise InvalidInputError("Invalid $skiptoken.") from None
            self.raw: dict[str, Any] = saved["o"]
            self.after: list[Any] | None = saved["a"]
        else:
            self.raw = {
                k: params[k]
                for k in ("$filter", "$select", "$orderby", "$top", "$search", "$count", "$expand")
                if k in params
            }
            self.raw["eventual"] = request.headers.get("consistencylevel", "").lower() == "eventual"
            self.after = None
        if "$expand" in self.raw:
            raise InvalidInputError("$expand is not supported on this resource.")
        try:
            self.filter = parse_filter(self.raw["$filter"]) if "$filter" in self.raw else None
            self.orderby = parse_orderby(self.raw.get("$orderby"))
            self.search = parse_search(self.raw["$search"].strip()) if "$search" in self.raw else []
        except ODataSyntaxError as exc:
            raise InvalidInputError(str(exc)) from None
        self.select = parse_select(self.raw.get("$select"))
        if self.select:
            for name in self.select:
                if resource.get(name) is None:
                    raise InvalidInputError(
                        "Parsing OData Select and Expand failed: Could not find a property "
                        f"named '{name}' on type 'microsoft.graph.{resource.name}'."
                    )
        top = self.raw.get("$top", str(state.settings.page_size_default))
        if not top.isdigit():
            raise InvalidInputError(f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.")
        count = self.raw.get("$count", "false").lower()
        if count not in ("true", "false"):
            raise InvalidInputError("Invalid value for $count: expected true or false.")
        self.query = ListQuery(
            filter=self.filter,
            search=self.search,
            orderby=self.orderby,
            top=int(top),
            after=self.after,
            count=count == "true",
            eventual=bool(self.raw.get("eventual")),
        )

    def skiptoken(self, tenant_id: str, after: list[Any], state: Runtime) -> str:
        return state.keys.seal(f"page:{self.resource.collection}", {"t": tenant_id, "o": self.raw, "a": after})
