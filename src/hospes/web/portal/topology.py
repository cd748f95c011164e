"""Cross-tenant synchronization at a glance, for Global Administrators: the tenants of the multitenant
organization, each outbound pair's job (state, quarantine, last cycle, users synchronized) with a link to its
Provisioning screen, and the partners allowed to synchronize users in (``provisioning/topology_view.py``)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hospes.provisioning.topology_view import topology_page
from hospes.web.portal.deps import TopologyDep

router = APIRouter(include_in_schema=False)


@router.get("/{tenant}/admin/topology")
def topology(admin: TopologyDep) -> Response:
    view = topology_page(admin.sessions, admin.runtime.provisioning, admin.principal.tenant_id)
    return admin.render("portal/topology.html", view=view)
