"""Tenants made for one test: a handle with an authenticated Graph client for the tenant's bootstrap app, and the
passwords the factories give its administrator and users."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from hospes.services.tenants import TenantBootstrap

# The Global Administrator's password of every tenant the `make_tenant` fixture creates.
ADMIN_PASSWORD = "Admin-Pass-123"
# The password of every user the helpers create.
PASSWORD = "Correct-Horse-9"


@dataclass
class TenantHandle:
    """A tenant made for one test, with an authenticated Graph client for its bootstrap app."""

    boot: TenantBootstrap
    client: TestClient
    token: str

    @property
    def id(self) -> str:
        return self.boot.tenant_id

    @property
    def domain(self) -> str:
        return self.boot.domain

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        url = path if path.startswith("http") else f"/v1.0{path}"
        return self.client.request(method, url, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def new_user(self, nickname: str | None = None, **props: Any) -> dict[str, Any]:
        nickname = nickname or f"u{uuid.uuid4().hex[:8]}"
        body = {
            "accountEnabled": True,
            "displayName": nickname.title(),
            "mailNickname": nickname,
            "userPrincipalName": f"{nickname}@{self.domain}",
            "passwordProfile": {"password": PASSWORD},
            **props,
        }
        response = self.post("/users", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def new_group(self, name: str = "Team", **props: Any) -> dict[str, Any]:
        body = {
            "displayName": name,
            "mailEnabled": False,
            "mailNickname": name.lower().replace(" ", ""),
            "securityEnabled": True,
            **props,
        }
        response = self.post("/groups", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


def fetch_token(
    client: httpx.Client,
    tenant: str,
    client_id: str,
    secret: str,
    scope: str = "https://graph.microsoft.com/.default",
) -> str:
    response = client.post(
        f"/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token
