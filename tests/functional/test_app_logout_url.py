"""``hospes app logout-url`` sets the application's and its service principal's logout URL in one transaction
(``AppService.update_app`` with ``sp_values``): both or neither, one audit row."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.errors import DomainError
from hospes.domain.principals import system_principal
from hospes.services.apps import AppService
from hospes.storage.tables import Application, AuditLog, ServicePrincipal
from tests.helpers.oidc import register_rp
from tests.helpers.tenants import TenantHandle

LOGOUT = "https://rp.example/signed-out"


def _urls(sessions: sessionmaker[Session], app_id: str, sp_id: str) -> tuple[str | None, str | None]:
    with sessions() as session:
        app, sp = session.get(Application, app_id), session.get(ServicePrincipal, sp_id)
        assert app is not None and sp is not None
        return app.logout_url, sp.logout_url


def _audited(sessions: sessionmaker[Session], tenant_id: str) -> list[tuple[str, str, str | None]]:
    with sessions() as session:
        query = select(AuditLog.activity, AuditLog.result, AuditLog.target_id).where(
            AuditLog.tenant_id == tenant_id, AuditLog.category == "ApplicationManagement"
        )
        return [tuple(row) for row in session.execute(query.order_by(AuditLog.at))]


def test_the_app_and_its_service_principal_change_together(
    tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    rp = register_rp(tenant)
    apps = AppService(sessions, system_principal(tenant.id))
    before = _audited(sessions, tenant.id)
    apps.update_app(rp.app_object_id, {}, {"web": {"logoutUrl": LOGOUT}}, {"logout_url": LOGOUT})
    assert _urls(sessions, rp.app_object_id, rp.sp_id) == (LOGOUT, LOGOUT)
    assert _audited(sessions, tenant.id)[len(before) :] == [("Update application", "success", rp.app_object_id)]

    with pytest.raises(DomainError):  # the service principal's value is refused: the app's is not kept either
        apps.update_app(rp.app_object_id, {}, {"web": {"logoutUrl": LOGOUT + "/2"}}, {"logout_url": "not a url"})
    assert _urls(sessions, rp.app_object_id, rp.sp_id) == (LOGOUT, LOGOUT)

    apps.update_app(rp.app_object_id, {}, {"web": {"logoutUrl": None}}, {"logout_url": None})
    assert _urls(sessions, rp.app_object_id, rp.sp_id) == (None, None)
