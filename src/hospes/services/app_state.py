"""Whether an app token's service principal may still act: asked on every app-token request, so it is one indexed
row read on a pooled connection, not an ORM session."""

from __future__ import annotations

from sqlalchemy import Engine, bindparam, select

from hospes.domain.principals import Principal
from hospes.storage.engine import read_one
from hospes.storage.tables import ServicePrincipal

_APP_STATE = select(ServicePrincipal.tenant_id, ServicePrincipal.account_enabled).where(
    ServicePrincipal.id == bindparam("id")
)


def is_app_active(engine: Engine, principal: Principal) -> bool:
    """A token outlives nothing it was issued for: a deleted or disabled service principal stops at once. Every
    app-token request asks, so this is one indexed row read on a pooled connection, not a session (``read_one``)."""
    row = read_one(engine, _APP_STATE, {"id": principal.id})
    return row is not None and row[0] == principal.tenant_id and bool(row[1])
