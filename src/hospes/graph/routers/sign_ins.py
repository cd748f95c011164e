"""``/auditLogs/signIns``: the sign-in log (one row per sign-in to an app, with its conditional-access result)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from hospes.domain.schema import SIGN_IN
from hospes.graph.deps import QueryOptions, RuntimeDep, SignInsReader
from hospes.graph.wire import entity, paged, to_wire
from hospes.services.sign_in_views import computed

router = APIRouter()


@router.get("/auditLogs/signIns")
def list_sign_ins(request: Request, state: RuntimeDep, log: SignInsReader) -> dict[str, Any]:
    options = QueryOptions(request, state, SIGN_IN, log.actor)
    page = log.page(options.query)
    items = (to_wire(SIGN_IN, r, options.select, computed(r)) for r in page.rows)
    return paged(state, "auditLogs/signIns", options, page, log.tenant_id, items)


@router.get("/auditLogs/signIns/{sign_in_id}")
def get_sign_in(sign_in_id: str, request: Request, state: RuntimeDep, log: SignInsReader) -> dict[str, Any]:
    options = QueryOptions(request, state, SIGN_IN, log.actor)
    row = log.get(sign_in_id)
    return entity(state, "auditLogs/signIns", to_wire(SIGN_IN, row, options.select, computed(row)))
