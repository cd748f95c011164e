"""One paging routine for every Graph collection: filter, search, order, keyset, count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from hospes.domain.errors import InvalidInputError, UnsupportedQueryError
from hospes.domain.schema import Resource
from hospes.odata import Node
from hospes.storage.query import FilterCompiler, apply_keyset, keyset_of, order_keys, search_clause


@dataclass
class ListQuery:
    filter: Node | None = None
    search: list[tuple[str, str]] = field(default_factory=list)
    orderby: list[tuple[str, bool]] = field(default_factory=list)
    top: int = 100
    after: list[Any] | None = None
    count: bool = False  # $count=true
    eventual: bool = False  # ConsistencyLevel: eventual


@dataclass
class Page:
    rows: list[Any]
    next_after: list[Any] | None
    count: int | None


def list_page(
    session: Session,
    resource: Resource,
    table: Any,
    scope: list[ColumnElement[bool]],
    query: ListQuery,
    *,
    allow_advanced: bool = False,
    tie_follows: bool = False,
) -> Page:
    """``scope`` holds the tenant (and deleted-state) conditions; the query options add to them. ``tie_follows``:
    see ``order_keys`` (for logs, paged deep)."""
    conditions = list(scope)
    dialect = session.get_bind().dialect.name
    advanced = False
    if query.filter is not None:
        compiler = FilterCompiler(resource, table, dialect)
        conditions.append(compiler.compile(query.filter))
        advanced = compiler.advanced or bool(query.orderby)
    if query.search:
        if not query.eventual:
            raise UnsupportedQueryError(
                "Request with $search query parameter only works through MSGraph with a special request header: "
                "'ConsistencyLevel: eventual'"
            )
        conditions.append(search_clause(resource, table, query.search))
    if advanced and not allow_advanced and not (query.eventual and query.count):
        raise UnsupportedQueryError("Unsupported Query.")
    if not 1 <= query.top <= 999:
        raise InvalidInputError(f"Invalid page size specified: '{query.top}'. Must be between 1 and 999 inclusive.")
    keys = order_keys(resource, query.orderby, tie_follows=tie_follows)
    if query.after is not None and len(query.after) != len(keys):
        raise InvalidInputError("Invalid $skiptoken.")
    stmt: Select[Any] = apply_keyset(select(table).where(*conditions), table, keys, query.after)
    rows = list(session.scalars(stmt.limit(query.top + 1)))
    more = len(rows) > query.top
    rows = rows[: query.top]
    count = None
    if query.count and query.eventual and query.after is None:
        count = session.scalar(select(func.count()).select_from(table).where(*conditions))
    return Page(rows=rows, next_after=keyset_of(rows[-1], keys) if more else None, count=count)
