"""``signInActivity``: written by every successful sign-in (the sign-in page: interactive; the token endpoint:
non-interactive), returned only when selected, null for a user who never signed in, and read by access review
recommendations."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers.portal import sign_in
from tests.helpers.tenants import PASSWORD, TenantHandle


def activity(tenant: TenantHandle, user_id: str) -> dict[str, str | None] | None:
    response = tenant.get(f"/users/{user_id}?$select=id,signInActivity")
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"@odata.context", "id", "signInActivity"}
    value: dict[str, str | None] | None = response.json()["signInActivity"]
    return value


def test_every_sign_in_writes_its_time(tenant: TenantHandle, web: TestClient) -> None:
    user = tenant.new_user()
    assert "signInActivity" not in tenant.get(f"/users/{user['id']}").json()  # only when selected
    assert activity(tenant, user["id"]) is None
    failed = sign_in(web, tenant.domain, user["userPrincipalName"], "wrong-Password-1")
    assert failed.status_code != 303
    assert activity(tenant, user["id"]) is None
    assert sign_in(web, tenant.domain, user["userPrincipalName"]).status_code == 303
    first = activity(tenant, user["id"])
    assert first is not None and first["lastSignInDateTime"] is not None
    assert first["lastSuccessfulSignInDateTime"] == first["lastSignInDateTime"]
    assert first["lastNonInteractiveSignInDateTime"] is None
    token = tenant.client.post(
        f"/{tenant.domain}/oauth2/v2.0/token",
        data={
            "grant_type": "password",
            "client_id": tenant.boot.client_id,
            "username": user["userPrincipalName"],
            "password": PASSWORD,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert token.status_code == 200, token.text
    after = activity(tenant, user["id"])
    assert after is not None and after["lastNonInteractiveSignInDateTime"] is not None
    assert after["lastSuccessfulSignInDateTime"] == max(
        str(after["lastSignInDateTime"]), str(after["lastNonInteractiveSignInDateTime"])
    )
