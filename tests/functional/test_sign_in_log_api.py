"""``/auditLogs/signIns`` (filters, keyset paging newest first, one row, Graph's signIn shape, permission, tenant
isolation) and ``/identity/conditionalAccess/evaluate`` (what-if, from the same decision as a live sign-in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session, sessionmaker

from hospes.services import sign_in_log
from hospes.services.sign_in_log import SignInEvent
from hospes.storage.tables import User
from tests.functional.test_conditional_access_api import _headers
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle

APP_A, APP_B = "aaaaaaaa-1111-4111-8111-000000000001", "aaaaaaaa-1111-4111-8111-000000000002"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _rows(tenant: TenantHandle, sessions: sessionmaker[Session]) -> dict[str, Any]:
    ana, bea = tenant.new_user("ana"), tenant.new_user("bea")
    with sessions() as session:
        users = {u["id"]: session.get(User, u["id"]) for u in (ana, bea)}
    applied = [
        {
            "id": "p",
            "displayName": "Block",
            "enforcedGrantControls": ["block"],
            "enforcedSessionControls": [],
            "result": "failure",
        }
    ]
    for i in range(10):
        user = users[ana["id"] if i % 2 == 0 else bea["id"]]
        blocked = i % 5 == 4
        sign_in_log.record(
            sessions,
            SignInEvent(
                tenant_id=tenant.id,
                at=T0 + timedelta(minutes=i),
                protocol="oidc",
                app_id=APP_A if i < 6 else APP_B,
                app_display_name="App A" if i < 6 else "App B",
                user=user,
                ip_address="192.0.2.1",
                error_code=53003 if blocked else 0,
                failure_reason="Access has been blocked by conditional access policies." if blocked else None,
                conditional_access_status="failure" if blocked else "success",
                details={"appliedConditionalAccessPolicies": applied if blocked else []},
            ),
        )
    return {"ana": ana, "bea": bea}


def _all(tenant: TenantHandle, query: str) -> list[dict[str, Any]]:
    response = tenant.get(f"/auditLogs/signIns?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    items = list(body["value"])
    while "@odata.nextLink" in body:
        body = tenant.get(body["@odata.nextLink"].replace("http://testserver", "http://testserver")).json()
        items += body["value"]
    return items


def test_list_filter_page_and_read(tenant: TenantHandle, sessions: sessionmaker[Session]) -> None:
    users = _rows(tenant, sessions)
    every = _all(tenant, "$top=3")
    assert len(every) == 10
    stamps = [r["createdDateTime"] for r in every]
    assert stamps == sorted(stamps, reverse=True)  # newest first, across pages
    first = next(r for r in every if r["status"]["errorCode"] == 0)
    assert first["status"] == {"errorCode": 0, "failureReason": "Other.", "additionalDetails": None}
    assert first["resourceTenantId"] == tenant.id and first["isInteractive"] is True
    assert first["userType"] == "Member" and first["conditionalAccessStatus"] == "success"

    def ids(query: str) -> set[str]:
        return {r["id"] for r in _all(tenant, query)}

    ana = users["ana"]
    assert len(ids(f"$filter=userId eq '{ana['id']}'")) == 5
    assert ids(f"$filter=userId eq '{ana['id']}'") == ids(
        f"$filter=userPrincipalName eq '{ana['userPrincipalName'].upper()}'"
    )
    assert len(ids(f"$filter=appId eq '{APP_B}'")) == 4
    since = quote((T0 + timedelta(minutes=7)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert len(ids(f"$filter=createdDateTime ge {since}")) == 3
    until = quote((T0 + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert len(ids(f"$filter=createdDateTime le {until}")) == 2
    blocked = _all(tenant, "$filter=status/errorCode eq 53003")
    assert len(blocked) == 2 and all(r["status"]["errorCode"] == 53003 for r in blocked)
    assert blocked[0]["appliedConditionalAccessPolicies"][0]["result"] == "failure"
    assert ids("$filter=conditionalAccessStatus eq 'failure'") == {r["id"] for r in blocked}
    assert len(ids(f"$filter=appId eq '{APP_A}' and status/errorCode eq 0")) == 5

    # Non-interactive sign-ins (the token endpoint's, the app's own) only when the filter asks for them.
    sign_in_log.record(sessions, SignInEvent(tenant_id=tenant.id, at=T0, protocol="refreshToken", interactive=False))
    assert len(_all(tenant, "$top=50")) == 10
    assert len(_all(tenant, "$filter=isInteractive eq false")) >= 1

    one = tenant.get(f"/auditLogs/signIns/{blocked[0]['id']}")
    assert one.status_code == 200 and one.json()["id"] == blocked[0]["id"]
    assert one.json()["@odata.context"].endswith("$metadata#auditLogs/signIns/$entity")
    assert_graph_error(tenant.get("/auditLogs/signIns/nope"), 404, "Request_ResourceNotFound")
    for bad in ("$filter=shoeSize eq 4", "$filter=status/errorCode eq 'x'", "$top=0", "$skiptoken=garbage"):
        assert tenant.get(f"/auditLogs/signIns?{bad}").status_code == 400, bad


def test_other_tenants_and_permissions(
    tenant: TenantHandle, other_tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    _rows(tenant, sessions)
    row = tenant.get("/auditLogs/signIns?$top=1").json()["value"][0]
    assert other_tenant.get("/auditLogs/signIns").json()["value"] == []
    assert_graph_error(other_tenant.get(f"/auditLogs/signIns/{row['id']}"), 404, "Request_ResourceNotFound")
    client = tenant.client
    assert client.get("/v1.0/auditLogs/signIns", headers=_headers(tenant, "AuditLog.Read.All")).status_code == 200
    denied = client.get("/v1.0/auditLogs/signIns", headers=_headers(tenant, "Policy.Read.All"))
    assert_graph_error(denied, 403, "Authorization_RequestDenied")


def test_what_if(tenant: TenantHandle) -> None:
    user = tenant.new_user()
    guest = tenant.new_user("guest", userType="Guest")
    body = {
        "displayName": "Block app A outside the office",
        "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": [APP_A]},
            "clientAppTypes": ["browser"],
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }
    block = tenant.post("/identity/conditionalAccess/policies", json=body).json()
    guests = tenant.post(
        "/identity/conditionalAccess/policies",
        json={
            **body,
            "displayName": "MFA for guests",
            "state": "disabled",
            "conditions": {**body["conditions"], "users": {"includeUsers": ["GuestsOrExternalUsers"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        },
    ).json()

    def evaluate(user_id: str, app: str, **extra: Any) -> dict[str, dict[str, Any]]:
        response = tenant.post(
            "/identity/conditionalAccess/evaluate",
            json={
                "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": user_id},
                "signInContext": {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": [app]},
                "signInConditions": {"clientAppType": "browser"},
                **extra,
            },
        )
        assert response.status_code == 200, response.text
        return {r["id"]: r for r in response.json()["value"]}

    results = evaluate(user["id"], APP_A)
    assert results[block["id"]]["policyApplies"] is True and results[block["id"]]["analysisReasons"] == "notSet"
    assert results[block["id"]]["@odata.type"] == "#microsoft.graph.whatIfAnalysisResult"
    assert results[block["id"]]["grantControls"]["builtInControls"] == ["block"]  # the policy itself is included
    assert results[guests["id"]]["analysisReasons"] == "policyNotEnabled"
    other_app = evaluate(user["id"], APP_B)[block["id"]]
    assert other_app["policyApplies"] is False and other_app["analysisReasons"] == "application"
    assert set(evaluate(user["id"], APP_B, appliedPoliciesOnly=True)) == set()
    assert evaluate(guest["id"], APP_A)[block["id"]]["policyApplies"] is True
    for bad in ({}, {"signInIdentity": {"userId": 4}}, {"signInIdentity": {"userId": user["id"]}, "x": 1}):
        assert_graph_error(tenant.post("/identity/conditionalAccess/evaluate", json=bad), 400, "Request_BadRequest")
    missing = tenant.post("/identity/conditionalAccess/evaluate", json={"signInIdentity": {"userId": "nobody"}})
    assert_graph_error(missing, 404, "Request_ResourceNotFound")
