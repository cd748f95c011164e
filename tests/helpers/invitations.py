"""Helpers of the B2B invitation tests: delegated tokens for users, and one-call invitations."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers.tenants import PASSWORD, TenantHandle


def user_token(client: TestClient, tenant: TenantHandle, username: str, password: str) -> str:
    """A delegated token for a user of ``tenant`` (OAuth 2.0 resource-owner password grant)."""
    response = client.post(
        f"/{tenant.domain}/oauth2/v2.0/token",
        data={
            "grant_type": "password",
            "client_id": tenant.boot.client_id,
            "username": username,
            "password": password,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def as_user(tenant: TenantHandle, username: str, password: str = PASSWORD) -> TenantHandle:
    """The same tenant handle, but calling with a user's delegated token instead of the bootstrap app's."""
    return TenantHandle(tenant.boot, tenant.client, user_token(tenant.client, tenant, username, password))


def invite(tenant: TenantHandle, email: str, **props: Any) -> Any:
    body = {"invitedUserEmailAddress": email, "inviteRedirectUrl": "https://myapp.example/home", **props}
    return tenant.post("/invitations", json=body)
