"""Cross-tenant synchronization between two independent Hospes deployments: two ``hospes serve`` processes on
loopback, each with its own database. The source deployment runs the provisioning runner and reaches the target's
Graph API with the client credentials of the target tenant's app; everything is configured over Graph, as an
administrator of each side would."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.principals import system_principal
from hospes.services.tenants import TenantBootstrap, create_tenant
from hospes.services.users import UserService
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from tests.helpers.cross_tenant import CTS_TEMPLATE, PARTNERS
from tests.helpers.live import LiveServer, run_server
from tests.helpers.tenants import ADMIN_PASSWORD

T = TypeVar("T")
# The source deployment's runner polls the change log often, and may reach the loopback target.
SOURCE_ENV = {
    "HOSPES_PROVISIONING_RUNNER": "true",
    "HOSPES_PROVISIONING_POLL_SECONDS": "0.05",
    "HOSPES_OUTBOUND_ALLOW": "127.0.0.1",
}


@dataclass
class Deployment:
    """One Hospes deployment: its database (for set-up and checks) and its live server."""

    name: str
    database_url: str
    database: Database
    data_dir: str
    env: dict[str, str]
    server: LiveServer | None = None

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.database.sessions

    def tenant(self, name: str) -> LiveTenant:
        assert self.server is not None
        domain = f"{name.lower()}-{uuid.uuid4().hex[:8]}.example"
        boot = create_tenant(self.sessions, name, domain, admin_password=ADMIN_PASSWORD)
        return LiveTenant(self, boot)


@contextmanager
def deployment(name: str, tmp: Path, env: dict[str, str] | None = None) -> Iterator[Deployment]:
    url = f"sqlite:///{tmp / f'{name}.db'}"
    upgrade(url)
    database = Database.open(url)
    (tmp / f"{name}-data").mkdir(exist_ok=True)
    made = Deployment(name, url, database, str(tmp / f"{name}-data"), dict(env or {}))
    try:
        with run_server(url, made.data_dir, made.env) as server:
            made.server = server
            yield made
    finally:
        database.dispose()


@dataclass
class LiveTenant:
    """A tenant of a deployment with a Graph client for its bootstrap app (which holds every Graph permission)."""

    deployment: Deployment
    boot: TenantBootstrap
    _token: str = ""
    _http: httpx.Client | None = None

    @property
    def id(self) -> str:
        return self.boot.tenant_id

    @property
    def domain(self) -> str:
        return self.boot.domain

    @property
    def base_url(self) -> str:
        assert self.deployment.server is not None
        return self.deployment.server.base_url

    def _client(self) -> httpx.Client:
        if self._http is None or str(self._http.base_url).rstrip("/") != self.base_url:
            self._http, self._token = httpx.Client(base_url=self.base_url, timeout=60), ""
        if not self._token:
            form = {
                "grant_type": "client_credentials",
                "client_id": self.boot.client_id,
                "client_secret": self.boot.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            }
            answer = self._http.post(f"/{self.id}/oauth2/v2.0/token", data=form)
            assert answer.status_code == 200, answer.text
            self._token = answer.json()["access_token"]
        return self._http

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        client = self._client()
        return client.request(method, f"/v1.0{path}", headers={"Authorization": f"Bearer {self._token}"}, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def reconnect(self) -> None:
        """After the deployment's server restarted (a new port)."""
        if self._http is not None:
            self._http.close()
        self._http, self._token = None, ""

    def member(self, nick: str, **props: Any) -> dict[str, Any]:
        body = {
            "accountEnabled": True,
            "displayName": nick.title(),
            "mailNickname": nick,
            "userPrincipalName": f"{nick}@{self.domain}",
            "mail": f"{nick}@{self.domain}",
            "jobTitle": "Engineer",
            "department": "R&D",
            "passwordProfile": {"password": "Correct-Horse-9"},
            **props,
        }
        made = self.post("/users", json=body)
        assert made.status_code == 201, made.text
        user: dict[str, Any] = made.json()
        return user


def many_members(sessions: sessionmaker[Session], tenant_id: str, domain: str, prefix: str, count: int) -> list[str]:
    """``count`` members (no password: nobody signs in) in one write of the tenant's services; their ids."""
    users = UserService(sessions, system_principal(tenant_id))
    ids = []
    with users.write("UserManagement", "Add user") as op:
        for i in range(count):
            nick = f"{prefix}{i}"
            values = {
                "account_enabled": True,
                "display_name": nick.title(),
                "mail_nickname": nick,
                "user_principal_name": f"{nick}@{domain}",
                "mail": f"{nick}@{domain}",
                "job_title": "Engineer",
                "department": "R&D",
            }
            ids.append(users.insert(op, values, None).id)
    return ids


def allow_sync(target: LiveTenant, source: LiveTenant) -> None:
    """The target allows the source's users in and redeems automatically; the source redeems outbound."""
    assert target.post(PARTNERS, json={"tenantId": source.id}).status_code == 201
    put = target.request(
        "PUT",
        f"{PARTNERS}/{source.id}/identitySynchronization",
        json={"displayName": "Source", "userSyncInbound": {"isSyncAllowed": True}},
    )
    assert put.status_code == 204, put.text
    inbound = {"automaticUserConsentSettings": {"inboundAllowed": True}}
    assert target.patch(f"{PARTNERS}/{source.id}", json=inbound).status_code == 204
    assert source.post(PARTNERS, json={"tenantId": target.id}).status_code == 201
    outbound = {"automaticUserConsentSettings": {"outboundAllowed": True}}
    assert source.patch(f"{PARTNERS}/{target.id}", json=outbound).status_code == 204


def remote_credentials(target: LiveTenant) -> list[dict[str, str]]:
    """The job's secrets: the target deployment, its tenant and the app registered there."""
    return [
        {"key": "AuthenticationType", "value": "SyncPolicy"},
        {"key": "CompanyId", "value": target.id},
        {"key": "BaseAddress", "value": target.base_url},
        {"key": "ClientIdentifier", "value": target.boot.client_id},
        {"key": "ClientSecret", "value": target.boot.client_secret},
    ]


@dataclass
class RemoteSync:
    """The source tenant's configuration (from Graph's template) and its Azure2Azure job toward the target."""

    source: LiveTenant
    target: LiveTenant
    sp_id: str
    role: str
    job_id: str = ""
    assignments: dict[str, str] = field(default_factory=dict)
    remote: bool = True  # False: the target tenant is in the source's own deployment

    def credentials(self) -> list[dict[str, str]]:
        if self.remote:
            return remote_credentials(self.target)
        return [{"key": "AuthenticationType", "value": "SyncPolicy"}, {"key": "CompanyId", "value": self.target.id}]

    @property
    def base(self) -> str:
        return f"/servicePrincipals/{self.sp_id}/synchronization"

    def validate(self) -> httpx.Response:
        body = {
            "useSavedCredentials": False,
            "templateId": "Azure2Azure",
            "credentials": self.credentials(),
        }
        return self.source.post(f"{self.base}/jobs/validateCredentials", json=body)

    def create_job(self, extra: list[dict[str, str]] | None = None, start: bool = True) -> None:
        created = self.source.post(f"{self.base}/jobs", json={"templateId": "Azure2Azure"})
        assert created.status_code == 201, created.text
        self.job_id = created.json()["id"]
        secrets = self.credentials() + (extra or [])
        answer = self.source.request("PUT", f"{self.base}/secrets", json={"value": secrets})
        assert answer.status_code == 204, answer.text
        if start:
            assert self.source.post(f"{self.base}/jobs/{self.job_id}/start").status_code == 204

    def assign(self, user_id: str) -> None:
        body = {"principalId": user_id, "resourceId": self.sp_id, "appRoleId": self.role}
        made = self.source.post(f"/servicePrincipals/{self.sp_id}/appRoleAssignedTo", json=body)
        assert made.status_code == 201, made.text
        self.assignments[user_id] = made.json()["id"]

    def unassign(self, user_id: str) -> None:
        assignment = self.assignments.pop(user_id)
        gone = self.source.delete(f"/servicePrincipals/{self.sp_id}/appRoleAssignedTo/{assignment}")
        assert gone.status_code == 204, gone.text

    def job(self) -> dict[str, Any]:
        answer = self.source.get(f"{self.base}/jobs/{self.job_id}")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        return job

    def schema(self, edit: Callable[[dict[str, Any]], None]) -> None:
        url = f"{self.base}/jobs/{self.job_id}/schema"
        schema = self.source.get(url).json()
        edit(schema)
        assert self.source.request("PUT", url, json=schema).status_code == 204

    # -- the target, as its own Graph shows it ----------------------------------------------------------------

    def find(self, source_user_id: str, *, deleted: bool = False) -> dict[str, Any] | None:
        import base64

        key = base64.b64encode(source_user_id.encode()).decode()
        where = "/directory/deletedItems/microsoft.graph.user" if deleted else "/users"
        params = {
            "$filter": f"alternativeSecurityIds/any(x:x/type eq 5 and x/key eq '{key}')",
            "$select": "id,displayName,jobTitle,department,accountEnabled,userType,mail,externalUserState,"
            "showInAddressList,alternativeSecurityIds,creationType",
        }
        answer = self.target.get(where, params=params)
        assert answer.status_code == 200, answer.text
        found = answer.json()["value"]
        assert len(found) <= 1, found
        return found[0] if found else None


def make_remote_sync(source: LiveTenant, target: LiveTenant, *, remote: bool = True) -> RemoteSync:
    made = source.post(f"/applicationTemplates/{CTS_TEMPLATE}/instantiate", json={"displayName": "Remote"})
    assert made.status_code == 201, made.text
    sp = made.json()["servicePrincipal"]
    role = next(r["id"] for r in sp["appRoles"] if r["value"] == "msiam_access")
    return RemoteSync(source, target, sp["id"], role, remote=remote)


def eventually(check: Callable[[], T | None], timeout: float = 90.0, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy (the runner works in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {what}")
        time.sleep(0.1)
