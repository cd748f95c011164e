"""``/auditLogs/provisioning`` and ``/auditLogs/provisioning/{id}``: provisioningObjectSummary.

``$filter`` is parsed by the shared lark grammar (``hospes.odata``) and translated into the facade's ``LogQuery``;
only conjunctions of comparisons on the documented fields are supported, anything else is
``400 Request_UnsupportedQuery``. Paging is keyset (newest first) behind a sealed ``$skiptoken`` that carries the
first request's options and the tenant, like every other collection of the API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request

from hospes.digits import ascii_int
from hospes.domain.errors import InvalidInputError, UnsupportedQueryError
from hospes.domain.principals import Principal
from hospes.domain.provisioning import LOGGED_ACTIONS, Status
from hospes.graph.deps import Provisioning, ProvisioningLogsReader, RuntimeDep, odata_error
from hospes.graph.wire import collection, entity
from hospes.odata import And, Compare, Literal, Node, ODataSyntaxError, Path, parse_filter, parse_select
from hospes.provisioning.logs import LogQuery

router = APIRouter()
PATH = "auditLogs/provisioning"
_PURPOSE = f"page:{PATH}"

# $filter property → LogQuery field (equality only).
_EQ_FIELDS = {
    "jobId": "job_id",
    "cycleId": "cycle_id",
    "changeId": "change_id",
    "provisioningAction": "action",
    "provisioningStatusInfo/status": "status",
    "sourceIdentity/id": "source_id",
    "targetIdentity/id": "target_id",
    "sourceIdentity/displayName": "source_name",
    "sourceIdentity/identityType": "identity_type",
    "servicePrincipal/id": "sp_id",
}
_TICK = dt.timedelta(microseconds=1)
FIELDS = (
    "id",
    "activityDateTime",
    "tenantId",
    "jobId",
    "cycleId",
    "changeId",
    "durationInMilliseconds",
    "initiatedBy",
    "provisioningAction",
    "provisioningStatusInfo",
    "provisioningSteps",
    "modifiedProperties",
    "servicePrincipal",
    "sourceSystem",
    "targetSystem",
    "sourceIdentity",
    "targetIdentity",
)

_STATUSES = tuple(Status)


def _unsupported(detail: str) -> UnsupportedQueryError:
    return UnsupportedQueryError(f"Unsupported Query. {detail}")


def _as_datetime(literal: Literal) -> dt.datetime:
    value = literal.value
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(f"Invalid activityDateTime value '{literal.value}'.") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise InvalidInputError("activityDateTime must be compared with a date and time, e.g. 2026-12-01T10:00:00Z.")
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def apply_filter(node: Node, query: LogQuery) -> None:
    """Fold a ``$filter`` tree into ``query``; raises UnsupportedQueryError for what the store cannot answer."""
    clauses = node.items if isinstance(node, And) else (node,)
    for clause in clauses:
        if not isinstance(clause, Compare) or not isinstance(clause.left, Path):
            raise _unsupported("Only 'and' of comparisons 'property op value' is supported on provisioning logs.")
        if not isinstance(clause.right, Literal):
            raise _unsupported("Comparisons must be against a literal value.")
        name, op, literal = str(clause.left), clause.op.lower(), clause.right
        if name == "activityDateTime":
            at = _as_datetime(literal)
            if op in ("ge", "gt", "eq"):
                since = at + _TICK if op == "gt" else at
                query.since = since if query.since is None else max(query.since, since)
            if op in ("le", "lt", "eq"):
                until = at - _TICK if op == "lt" else at
                query.until = until if query.until is None else min(query.until, until)
            if op == "ne":
                raise _unsupported("activityDateTime supports eq, gt, ge, lt and le.")
            continue
        field = _EQ_FIELDS.get(name)
        if field is None:
            raise _unsupported(f"Filtering on '{name}' is not supported.")
        if op != "eq":
            raise _unsupported(f"'{name}' supports only eq.")
        if not isinstance(literal.value, str):
            raise InvalidInputError(f"'{name}' must be compared with a string.")
        value = literal.value
        if field == "action" and value not in LOGGED_ACTIONS:
            raise InvalidInputError(f"Invalid provisioningAction '{value}'.")
        if field == "status" and value not in _STATUSES:
            raise InvalidInputError(f"Invalid provisioningStatusInfo/status '{value}'.")
        previous = getattr(query, field)
        if previous is not None and previous != value:
            raise _unsupported(f"'{name}' is compared with two different values.")
        setattr(query, field, value)


def _options(request: Request, state: RuntimeDep, principal: Principal) -> tuple[dict[str, str], str | None]:
    """The request's own options, or those sealed in ``$skiptoken`` with the cursor of the next page."""
    params = request.query_params
    token = params.get("$skiptoken")
    if token is None:
        unsupported = [k for k in ("$orderby", "$search", "$expand", "$skip") if k in params]
        if unsupported:
            raise _unsupported(f"{unsupported[0]} is not supported on provisioning logs.")
        return {k: params[k] for k in ("$filter", "$top", "$select") if k in params}, None
    try:
        saved = state.keys.unseal(_PURPOSE, token)
        if saved.get("t") != principal.tenant_id:
            raise ValueError("tenant")
        return dict(saved["o"]), str(saved["a"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInputError("Invalid $skiptoken.") from None


@router.get("/auditLogs/provisioning")
def list_logs(
    request: Request, state: RuntimeDep, principal: ProvisioningLogsReader, prov: Provisioning
) -> dict[str, Any]:
    raw, after = _options(request, state, principal)
    top_text = raw.get("$top", str(state.settings.page_size_default))
    if not 1 <= (ascii_int(top_text) or 0) <= 999:
        raise InvalidInputError(f"Invalid page size specified: '{top_text}'. Must be between 1 and 999 inclusive.")
    query = LogQuery(top=int(top_text), after=after)
    if raw.get("$filter"):
        try:
            tree = parse_filter(raw["$filter"])
        except ODataSyntaxError as exc:
            raise odata_error(exc) from None
        apply_filter(tree, query)
    select = parse_select(raw.get("$select"))
    for name in select or []:
        if name not in FIELDS:
            raise InvalidInputError(
                "Parsing OData Select and Expand failed: Could not find a property "
                f"named '{name}' on type 'microsoft.graph.provisioningObjectSummary'."
            )
    page = prov.logs(principal.tenant_id, query)
    items = page.items
    if select:
        keep = {"id", *select}
        items = [{k: v for k, v in item.items() if k in keep} for item in items]
    next_link = None
    if page.next:
        token = state.keys.seal(_PURPOSE, {"t": principal.tenant_id, "o": raw, "a": page.next})
        next_link = f"{state.settings.public_url}/v1.0/{PATH}?$skiptoken={quote(token)}"
    return collection(state, PATH, items, next_link, select=select)


@router.get("/auditLogs/provisioning/{log_id}")
def get_log(log_id: str, state: RuntimeDep, principal: ProvisioningLogsReader, prov: Provisioning) -> dict[str, Any]:
    return entity(state, PATH, prov.get_log(principal.tenant_id, log_id))
