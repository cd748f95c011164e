"""The provisioning logs of the admin portal: every application's ``provisioningObjectSummary`` rows with filters
(date, status, action, identity, application), and one row's detail with its steps and modified properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hospes.domain.errors import DomainError, NotFoundError
from hospes.domain.provisioning import LOGGED_ACTIONS, Status
from hospes.provisioning.logs import LogQuery
from hospes.web.portal.deps import ProvisioningLogsDep
from hospes.web.portal.provisioning_settings import service

router = APIRouter(include_in_schema=False)
ACTIONS = tuple(str(a) for a in LOGGED_ACTIONS)
STATUSES = tuple(str(s) for s in Status)


def _day(value: str, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) - timedelta(microseconds=1) if end else day


@router.get("/{tenant}/admin/provisioning/logs")
def logs(request: Request, admin: ProvisioningLogsDep) -> Response:
    q = request.query_params
    filters = {
        "from": q.get("from", "")[:10],
        "to": q.get("to", "")[:10],
        "status": q.get("status", "") if q.get("status", "") in STATUSES else "",
        "action": q.get("action", "") if q.get("action", "") in ACTIONS else "",
        "identity": q.get("identity", "")[:256].strip(),
        "app": q.get("app", "")[:64],
    }
    query = LogQuery(
        since=_day(filters["from"]),
        until=_day(filters["to"], end=True),
        status=filters["status"] or None,
        action=filters["action"] or None,
        sp_id=filters["app"] or None,
        top=50,
        after=q.get("after") or None,
    )
    identity = filters["identity"]
    if identity:
        if len(identity) == 36 and identity.count("-") == 4:
            query.identity_id = identity.lower()
        else:
            query.identity_name = identity
    try:
        page = service(admin).logs(admin.page.tenant.id, query)
    except DomainError:
        query.after = None
        page = service(admin).logs(admin.page.tenant.id, query)
    next_url = None
    if page.next:
        next_url = "?" + urlencode({**filters, "after": page.next})
    return admin.render(
        "portal/provisioning_logs.html",
        items=page.items,
        filters=filters,
        next_url=next_url,
        actions=ACTIONS,
        statuses=STATUSES,
        apps=admin.queries.app_choices(),
    )


@router.get("/{tenant}/admin/provisioning/logs/{log_id}")
def log_detail(admin: ProvisioningLogsDep, log_id: str) -> Response:
    try:
        item = service(admin).get_log(admin.page.tenant.id, log_id[:20])
    except NotFoundError:
        return admin.not_found()
    return admin.render("portal/provisioning_log.html", item=item)
