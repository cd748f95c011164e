"""Sponsors over Graph: ``$ref`` add and remove, at most five, no self-sponsorship; and the orphaned-guest audit
row when a guest's last sponsor is removed, blocked or deleted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.orphans import ACTIVITY
from hospes.storage.tables import AuditLog
from tests.helpers.graph import assert_graph_error
from tests.helpers.reviews import ref
from tests.helpers.tenants import TenantHandle


def orphaned(sessions: sessionmaker[Session], tenant: TenantHandle) -> list[tuple[str, str]]:
    with sessions() as session:
        rows = session.execute(
            select(AuditLog.target_id, AuditLog.details).where(
                AuditLog.tenant_id == tenant.id, AuditLog.activity == ACTIVITY
            )
        ).all()
        return [(str(target), details["cause"]) for target, details in rows]


def test_sponsors_by_ref_and_orphaned_guests(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    guest, other, third = (tenant.new_user(userType="Guest") for _ in range(3))
    sponsors = [tenant.new_user() for _ in range(6)]
    path = f"/users/{guest['id']}/sponsors"
    for sponsor in sponsors[:5]:
        assert tenant.post(f"{path}/$ref", json=ref(sponsor["id"])).status_code == 204
    assert_graph_error(tenant.post(f"{path}/$ref", json=ref(sponsors[5]["id"])), 400, "Request_BadRequest")
    assert_graph_error(tenant.post(f"{path}/$ref", json=ref(sponsors[0]["id"])), 400, "Request_BadRequest")
    assert_graph_error(tenant.post(f"{path}/$ref", json=ref(guest["id"])), 400, "Request_BadRequest")
    assert len(tenant.get(path).json()["value"]) == 5
    for sponsor in sponsors[1:5]:
        assert tenant.delete(f"{path}/{sponsor['id']}/$ref").status_code == 204
    assert orphaned(sessions, tenant) == []
    assert tenant.delete(f"{path}/{sponsors[0]['id']}/$ref").status_code == 204
    assert orphaned(sessions, tenant) == [(guest["id"], "sponsorRemoved")]
    assert_graph_error(tenant.delete(f"{path}/{sponsors[0]['id']}/$ref"), 404, "Request_ResourceNotFound")
    # The last sponsor blocked, or deleted.
    blocked, deleted = sponsors[4], sponsors[5]
    assert tenant.post(f"/users/{other['id']}/sponsors/$ref", json=ref(blocked["id"])).status_code == 204
    assert tenant.post(f"/users/{third['id']}/sponsors/$ref", json=ref(deleted["id"])).status_code == 204
    assert tenant.patch(f"/users/{blocked['id']}", json={"accountEnabled": False}).status_code == 204
    assert tenant.delete(f"/users/{deleted['id']}").status_code == 204
    assert sorted(orphaned(sessions, tenant)) == sorted(
        [(guest["id"], "sponsorRemoved"), (other["id"], "sponsorBlocked"), (third["id"], "sponsorDeleted")]
    )
