"""The sign-in log's retention: a tenant setting (30 days unless changed, 1 to 730) on the portal's Sign-in logs
page, and the housekeeping pass that deletes each tenant's rows past its own retention, no one else's."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.domain.errors import InvalidInputError
from hospes.domain.principals import system_principal
from hospes.services.sign_in_retention import SIGN_IN_RETENTION_DAYS, SignInRetentionService, prune_sign_ins
from hospes.storage.tables import AuditLog
from hospes.storage.tables_sso import SignIn
from tests.helpers.portal import alerts, csrf_of, sign_in_as_admin
from tests.helpers.tenants import TenantHandle


def _row(tenant_id: str, age_days: float) -> SignIn:
    return SignIn(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        created_at=utcnow() - timedelta(days=age_days),
        user_id=None,
        protocol="web",
        is_interactive=True,
        error_code=0,
        conditional_access_status="notApplied",
        details={},
    )


def _ages(sessions: sessionmaker[Session], tenant_id: str) -> list[int]:
    with sessions() as session:
        # Only the rows this test wrote: the tenants' own token requests are logged meanwhile.
        mine = (SignIn.tenant_id == tenant_id, SignIn.protocol == "web", SignIn.user_id.is_(None))
        rows = session.scalars(select(SignIn.created_at).where(*mine))
        return sorted(round((utcnow() - at).total_seconds() / 86400) for at in rows)


def test_each_tenant_keeps_its_own_retention(
    tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    short = SignInRetentionService(sessions, system_principal(tenant.id))
    assert short.get() == SIGN_IN_RETENTION_DAYS == 30
    short.set(7)
    with sessions.begin() as session:
        for handle in (tenant, other_tenant):
            session.add_all([_row(handle.id, age) for age in (1, 6, 8, 29, 31, 400)])
    assert prune_sign_ins(sessions, utcnow(), batch=2) >= 6
    assert _ages(sessions, tenant.id) == [1, 6]
    assert _ages(sessions, other_tenant.id) == [1, 6, 8, 29]  # the default 30 days
    with sessions() as session:
        audit = session.scalars(
            select(AuditLog).where(AuditLog.tenant_id == tenant.id, AuditLog.activity == "Update sign-in log retention")
        ).one()
        assert audit.result == "success"
    for wrong in (0, 731, -3, True):
        with pytest.raises(InvalidInputError):
            short.set(wrong)
    assert short.get() == 7


def test_the_portal_sets_the_retention(web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    sign_in_as_admin(web, tenant)
    page = web.get(f"/{tenant.domain}/admin/sign-ins")
    assert page.status_code == 200 and 'id="retention-days"' in page.text and 'value="30"' in page.text
    token = csrf_of(page.text)
    wrong = web.post(f"/{tenant.domain}/admin/sign-ins/retention", data={"csrf": token, "days": "1000"})
    assert wrong.status_code == 400
    assert "730" in alerts(wrong.text)["retention_days"]
    assert SignInRetentionService(sessions, system_principal(tenant.id)).get() == 30
    saved = web.post(f"/{tenant.domain}/admin/sign-ins/retention", data={"csrf": token, "days": "90"})
    assert saved.status_code == 303
    again = web.get(saved.headers["location"])
    assert 'id="retention-saved"' in again.text and 'value="90"' in again.text
    assert SignInRetentionService(sessions, system_principal(tenant.id)).get() == 90
    refused = web.post(f"/{tenant.domain}/admin/sign-ins/retention", data={"csrf": "forged", "days": "5"})
    assert refused.status_code == 403
    assert SignInRetentionService(sessions, system_principal(tenant.id)).get() == 90
