"""An enterprise app with a provisioning job pointed at a SCIM target, driven through the Graph API as an admin
would, and the engine run to quiescence."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hospes.provisioning.logs import LogQuery
from hospes.provisioning.service import ProvisioningService
from tests.helpers.scimtarget import Target
from tests.helpers.tenants import TenantHandle

ROLE_ID = "6b7a3f3e-1b1c-4c55-8a7e-3b0b7d2b9c11"


@dataclass
class App:
    """An enterprise app (named 8x8, with one User role) and its provisioning job."""

    tenant: TenantHandle
    service: ProvisioningService
    sp_id: str
    job_id: str
    target: Target

    def assign(self, principal_id: str, role: str = ROLE_ID) -> str:
        response = self.tenant.post(
            f"/servicePrincipals/{self.sp_id}/appRoleAssignedTo",
            json={"principalId": principal_id, "resourceId": self.sp_id, "appRoleId": role},
        )
        assert response.status_code == 201, response.text
        assignment_id: str = response.json()["id"]
        return assignment_id

    def unassign(self, assignment_id: str) -> None:
        response = self.tenant.delete(f"/servicePrincipals/{self.sp_id}/appRoleAssignedTo/{assignment_id}")
        assert response.status_code == 204, response.text

    def settle(self, max_steps: int = 50) -> int:
        """Run the engine until it has nothing left to do (what the runner does in the background)."""
        for steps in range(max_steps):
            if not self.service.engine.step(self.job_id):
                return steps
        raise AssertionError("the engine never settled")

    def status(self) -> dict[str, Any]:
        return self.service.status(self.tenant.id, self.sp_id, self.job_id)

    def logs(self, **filters: Any) -> list[dict[str, Any]]:
        return self.service.logs(self.tenant.id, LogQuery(job_id=self.job_id, top=1000, **filters)).items


def make_app(
    tenant: TenantHandle,
    service: ProvisioningService,
    target: Target,
    *,
    token: str | None = None,
    base_url: str | None = None,
    extra_secrets: dict[str, str] | None = None,
    start: bool = True,
) -> App:
    response = tenant.post(
        "/applications",
        json={
            "displayName": "8x8",
            "appRoles": [
                {"id": ROLE_ID, "allowedMemberTypes": ["User"], "value": "User", "displayName": "User"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    sp = tenant.post("/servicePrincipals", json={"appId": response.json()["appId"]})
    assert sp.status_code == 201, sp.text
    sp_id = sp.json()["id"]
    job = service.create_job(tenant.id, sp_id, "scim")
    secrets = {
        "BaseAddress": base_url or target.base_url,
        "SecretToken": token if token is not None else target.token,
        **(extra_secrets or {}),
    }
    service.put_secrets(tenant.id, sp_id, secrets)
    app = App(tenant, service, sp_id, job["id"], target)
    if start:
        service.start(tenant.id, sp_id, job["id"])
    return app


def person(tenant: TenantHandle, **props: Any) -> dict[str, Any]:
    nick = f"p{uuid.uuid4().hex[:8]}"
    defaults = {
        "givenName": "Ada",
        "surname": "Lovelace",
        "jobTitle": "Engineer",
        "mail": f"{nick}@{tenant.domain}",
        "mobilePhone": "+33 6 12 34 56 78",
        "businessPhones": ["+33 1 23 45 67 89"],
        "department": "R&D",
        "officeLocation": "Paris",
    }
    created = tenant.new_user(nick, **{**defaults, **props})
    fields = "id,userPrincipalName,displayName,mailNickname,mail,givenName,surname,jobTitle,mobilePhone,businessPhones"
    fields += ",department"
    response = tenant.get(f"/users/{created['id']}", params={"$select": fields + ",officeLocation,accountEnabled"})
    assert response.status_code == 200, response.text
    full: dict[str, Any] = response.json()
    return full
