"""The guest inactivity policy: the dry run names who would be blocked (and who is left to an access package),
changes nothing; enabled, it blocks the inactive guests at once, says why on each guest, and deletes them when the
scheduled deletion falls due, unless an administrator let them back in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.clock import utcnow
from hospes.services import review_timers
from hospes.services.timers import TimerProcessor
from hospes.settings import Settings
from hospes.storage.tables import User
from tests.helpers.clock import FakeClock
from tests.helpers.entitlement import EM, make_bundle, ok, policy_body
from tests.helpers.graph import assert_graph_error
from tests.helpers.portal import sign_in_as_admin
from tests.helpers.tenants import TenantHandle

POLICY = "/policies/hospesGuestLifecyclePolicy"


def _age(sessions: sessionmaker[Session], user_id: str, created: int, signed_in: int | None) -> None:
    now = utcnow()
    values: dict[str, Any] = {"created_at": now - timedelta(days=created)}
    if signed_in is not None:
        values["last_successful_sign_in_at"] = now - timedelta(days=signed_in)
    with sessions.begin() as session:
        session.execute(update(User).where(User.id == user_id).values(**values))


def test_dry_run_then_block_then_delete(
    tenant: TenantHandle, sessions: sessionmaker[Session], settings: Settings, web: TestClient
) -> None:
    idle, never, fresh, new = (tenant.new_user(userType="Guest") for _ in range(4))
    member, disabled = tenant.new_user(), tenant.new_user(userType="Guest", accountEnabled=False)
    _age(sessions, idle["id"], 200, 100)
    _age(sessions, never["id"], 120, None)
    _age(sessions, fresh["id"], 200, 5)
    _age(sessions, new["id"], 10, None)
    _age(sessions, member["id"], 200, 100)
    _age(sessions, disabled["id"], 200, 100)
    assert tenant.get(POLICY).json()["isEnabled"] is False
    dry = tenant.post(f"{POLICY}/preview", json={"blockAfterInactiveDays": 60, "deleteAfterBlockedDays": 10})
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert {e["id"] for e in report["toBlock"]} == {idle["id"], never["id"]}
    assert "No sign-in for 60 days" in report["toBlock"][0]["reason"]
    assert tenant.get(f"/users/{idle['id']}?$select=accountEnabled").json()["accountEnabled"] is True  # dry
    assert_graph_error(tenant.patch(POLICY, json={"blockAfterInactiveDays": 5}), 400, "Request_BadRequest")

    review_timers.install(settings)
    clock = FakeClock()
    enabled = tenant.patch(POLICY, json={"isEnabled": True, "blockAfterInactiveDays": 60, "deleteAfterBlockedDays": 10})
    assert enabled.status_code == 200 and enabled.json()["isEnabled"] is True
    clock.advance(60)
    TimerProcessor(sessions, "lifecycle-test", clock=clock).run_due()
    for user, blocked in ((idle, True), (never, True), (fresh, False), (new, False), (member, False)):
        state = tenant.get(f"/users/{user['id']}?$select=accountEnabled").json()["accountEnabled"]
        assert state is (not blocked), user
    why = tenant.get(f"/users/{idle['id']}/hospesGovernance").json()
    assert why["block"]["origin"] == "lifecyclePolicy" and "60 days" in why["block"]["reason"]
    assert why["scheduledDeletionDateTime"] is not None
    watch = tenant.get(f"/users/{fresh['id']}/hospesGovernance").json()
    assert watch["block"] is None and watch["inactivity"]["blockOnDateTime"] is not None
    # The portal's guest page says the same in words.
    sign_in_as_admin(web, tenant)
    blocked_page = web.get(f"/{tenant.domain}/admin/users/{idle['id']}").text
    assert 'id="lifecycle-block"' in blocked_page and 'id="lifecycle-deletion"' in blocked_page
    assert "No sign-in for 60 days" in blocked_page
    watched_page = web.get(f"/{tenant.domain}/admin/users/{fresh['id']}").text
    assert 'id="lifecycle-inactivity"' in watched_page and watch["inactivity"]["blockOnDateTime"][:10] in watched_page
    assert 'id="lifecycle"' not in web.get(f"/{tenant.domain}/admin/users/{member['id']}").text
    # An administrator lets one back in; ten days later the other is deleted.
    assert tenant.patch(f"/users/{never['id']}", json={"accountEnabled": True}).status_code == 204
    clock.advance(11 * 86400)
    TimerProcessor(sessions, "lifecycle-test", clock=clock).run_due()
    assert tenant.get(f"/users/{idle['id']}").status_code == 404
    assert tenant.get(f"/users/{never['id']}").status_code == 200
    # The daily run came again meanwhile: "never" is still inactive, so it is blocked again, with a new date.
    again = tenant.get(f"/users/{never['id']}/hospesGovernance").json()
    assert again["block"] is not None and again["block"]["origin"] == "lifecyclePolicy"


@pytest.mark.parametrize("body", [{"isEnabled": "yes"}, {"deleteAfterBlockedDays": 400}, {"color": "blue"}])
def test_bad_settings_are_refused(tenant: TenantHandle, body: dict[str, Any]) -> None:
    assert_graph_error(tenant.patch(POLICY, json=body), 400, "Request_BadRequest")


def test_a_guest_governed_by_an_access_package_says_when_it_ends(
    tenant: TenantHandle, web: TestClient, sessions: sessionmaker[Session]
) -> None:
    bundle = make_bundle(tenant, "Vendors")
    body = policy_body(bundle.package["id"], "notSpecified", expiration={"type": "afterDuration", "duration": "P5D"})
    policy = ok(tenant.post(f"{EM}/assignmentPolicies", json=body), 201)
    assert (
        tenant.patch(f"{EM}/settings", json={"durationUntilExternalUserDeletedAfterBlocked": "P12D"}).status_code == 204
    )
    add = {
        "requestType": "adminAdd",
        "assignment": {
            "target": {"email": "vera@vendor.example"},
            "assignmentPolicyId": policy["id"],
            "accessPackageId": bundle.package["id"],
        },
    }
    guest_id = ok(tenant.post(f"{EM}/assignmentRequests", json=add), 201)["requestor"]["objectId"]
    why = tenant.get(f"/users/{guest_id}/hospesGovernance").json()
    assert why["governedByAccessPackages"] is True
    [held] = why["accessPackageAssignments"]
    assert held["displayName"] == "Vendors" and held["expirationDateTime"] is not None
    after = why["afterLastAssignment"]
    assert after["durationUntilExternalUserDeletedAfterBlocked"] == "P12D"
    assert after["lastAssignmentEndDateTime"] == held["expirationDateTime"]
    # The inactivity policy leaves a guest whose package is still delivered to it, and its dry run says so.
    _age(sessions, guest_id, 100, None)
    report = tenant.post(f"{POLICY}/preview", json={"blockAfterInactiveDays": 30}).json()
    assert guest_id not in {e["id"] for e in report["toBlock"]}
    assert [e["id"] for e in report["excluded"]] == [guest_id] and "access package" in report["excluded"][0]["reason"]
    sign_in_as_admin(web, tenant)
    page = web.get(f"/{tenant.domain}/admin/users/{guest_id}").text
    assert 'id="lifecycle-packages"' in page and "Vendors" in page and "12 days later" in page
