"""Cross-tenant synchronization between two tenants of one deployment, set up over Graph as Microsoft documents
it: the target allows inbound sync and automatic redemption, the source redeems automatically outbound and
configures a job from the ``Azure2Azure`` template with the target tenant's id as credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hospes.provisioning.logs import LogQuery
from hospes.provisioning.service import ProvisioningService
from tests.helpers.tenants import TenantHandle

PARTNERS = "/policies/crossTenantAccessPolicy/partners"
CTS_TEMPLATE = "518e5f48-1fc8-4c48-9387-9fdf28b0dfe7"


def allow_sync(target: TenantHandle, source: TenantHandle) -> None:
    assert target.post(PARTNERS, json={"tenantId": source.id}).status_code == 201
    put = target.request(
        "PUT",
        f"{PARTNERS}/{source.id}/identitySynchronization",
        json={"displayName": "Source", "userSyncInbound": {"isSyncAllowed": True}},
    )
    assert put.status_code == 204, put.text
    inbound = {"inboundTrust": None, "automaticUserConsentSettings": {"inboundAllowed": True}}
    assert target.patch(f"{PARTNERS}/{source.id}", json=inbound).status_code == 204
    assert source.post(PARTNERS, json={"tenantId": target.id}).status_code == 201
    outbound = {"automaticUserConsentSettings": {"outboundAllowed": True}}
    assert source.patch(f"{PARTNERS}/{target.id}", json=outbound).status_code == 204


def credentials(target: TenantHandle) -> list[dict[str, str]]:
    return [{"key": "CompanyId", "value": target.id}, {"key": "AuthenticationType", "value": "SyncPolicy"}]


@dataclass
class SyncConfig:
    """The source tenant's cross-tenant synchronization configuration (an app with the msiam_access role)."""

    source: TenantHandle
    target: TenantHandle
    service: ProvisioningService
    sp_id: str
    role: str
    job_id: str = ""

    @property
    def base(self) -> str:
        return f"/servicePrincipals/{self.sp_id}/synchronization"

    def validate(self) -> Any:
        body = {"useSavedCredentials": False, "templateId": "Azure2Azure", "credentials": credentials(self.target)}
        return self.source.post(f"{self.base}/jobs/validateCredentials", json=body)

    def create_job(self, extra: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """The Azure2Azure job and its credentials (``extra``: more secrets, e.g. the notification settings)."""
        created = self.source.post(f"{self.base}/jobs", json={"templateId": "Azure2Azure"})
        assert created.status_code == 201, created.text
        job: dict[str, Any] = created.json()
        self.job_id = job["id"]
        secrets = self.source.request(
            "PUT", f"{self.base}/secrets", json={"value": credentials(self.target) + (extra or [])}
        )
        assert secrets.status_code == 204, secrets.text
        return job

    def start(self) -> None:
        assert self.source.post(f"{self.base}/jobs/{self.job_id}/start").status_code == 204

    def assign(self, user_id: str) -> str:
        response = self.source.post(
            f"/servicePrincipals/{self.sp_id}/appRoleAssignedTo",
            json={"principalId": user_id, "resourceId": self.sp_id, "appRoleId": self.role},
        )
        assert response.status_code == 201, response.text
        assignment: str = response.json()["id"]
        return assignment

    def unassign(self, assignment_id: str) -> None:
        response = self.source.delete(f"/servicePrincipals/{self.sp_id}/appRoleAssignedTo/{assignment_id}")
        assert response.status_code == 204, response.text

    def settle(self, max_steps: int = 50) -> None:
        for _ in range(max_steps):
            if not self.service.engine.step(self.job_id):
                return
        raise AssertionError("the engine never settled")

    def status(self) -> dict[str, Any]:
        return self.service.status(self.source.id, self.sp_id, self.job_id)

    def logs(self) -> list[dict[str, Any]]:
        return self.service.logs(self.source.id, LogQuery(job_id=self.job_id, top=1000)).items


def make_config(source: TenantHandle, target: TenantHandle) -> SyncConfig:
    """The configuration app from Graph's cross-tenant synchronization template (app role msiam_access)."""
    made = source.post(f"/applicationTemplates/{CTS_TEMPLATE}/instantiate", json={"displayName": "Fabrikam"})
    assert made.status_code == 201, made.text
    sp = made.json()["servicePrincipal"]
    role = next(r["id"] for r in sp["appRoles"] if r["value"] == "msiam_access")
    service: ProvisioningService = source.client.app.state.runtime.provisioning  # type: ignore[attr-defined]
    return SyncConfig(source, target, service, sp["id"], role=role)
