"""The portal's credentials form of a cross-tenant synchronization job (Azure2Azure): the target tenant and, for a
tenant in another deployment, its address and the client credentials of its app — not SCIM's URL and token."""

from __future__ import annotations

import uuid

import httpx
from fastapi.testclient import TestClient

from tests.helpers.cross_tenant import allow_sync, make_config
from tests.helpers.portal import alerts, csrf_of, sign_in
from tests.helpers.tenants import ADMIN_PASSWORD, TenantHandle


def test_an_azure2azure_job_has_its_own_credentials(
    web: TestClient, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    allow_sync(other_tenant, tenant)
    config = make_config(tenant, other_tenant)
    config.create_job()
    assert sign_in(web, tenant.domain, tenant.boot.admin_user_principal_name, ADMIN_PASSWORD).status_code == 303
    page_url = f"/{tenant.domain}/admin/apps/{config.sp_id}/provisioning"
    page = web.get(page_url)
    assert page.status_code == 200 and "Target tenant ID" in page.text and other_tenant.id in page.text
    assert 'name="secret_token"' not in page.text and 'name="client_secret"' in page.text
    csrf = csrf_of(page.text)

    def post(**data: str) -> httpx.Response:
        return web.post(f"{page_url}/credentials", data={"csrf": csrf, "delete_threshold": "500", **data})

    tested = post(action="test", target_tenant=other_tenant.id, tenant_url="")
    assert tested.status_code == 200 and 'id="test-result"' in tested.text, tested.text
    refused = post(action="test", target_tenant=str(uuid.uuid4()), tenant_url="")  # not a tenant here
    assert refused.status_code == 400 and 'id="test-result"' in refused.text
    assert "is not in this deployment" in refused.text
    missing = post(action="save", target_tenant=other_tenant.id, tenant_url="https://hospes.partner.example")
    assert missing.status_code == 400
    assert {"client_id", "client_secret"} <= set(alerts(missing.text))
    no_tenant = post(action="save", target_tenant="", tenant_url="")
    assert no_tenant.status_code == 400 and "target_tenant" in alerts(no_tenant.text)

    remote = post(
        action="save",
        target_tenant=other_tenant.id,
        tenant_url="https://hospes.partner.example",
        client_id="app-123",
        client_secret="s3cret-value",
    )
    assert remote.status_code == 303, remote.text
    saved = config.service.saved_secrets(tenant.id, config.sp_id)
    assert saved["BaseAddress"] == "https://hospes.partner.example" and saved["ClientIdentifier"] == "app-123"
    assert saved["ClientSecret"] == "s3cret-value" and saved["AuthenticationType"] == "SyncPolicy"
    shown = web.get(page_url).text
    assert "s3cret-value" not in shown and "Saved — leave empty to keep it." in shown
    # saving again without typing the secret keeps it
    kept = post(
        action="save", target_tenant=other_tenant.id, tenant_url="https://hospes.partner.example", client_id="app-123"
    )
    assert kept.status_code == 303
    assert config.service.saved_secrets(tenant.id, config.sp_id)["ClientSecret"] == "s3cret-value"
    # the saved secret never goes to another address, tenant or app than the one it was typed for: testing or
    # saving a change of those needs it typed again (else an administrator could send it to a host of theirs)
    for changed in (
        {"tenant_url": "https://collector.attacker.example", "client_id": "app-123"},
        {"tenant_url": "https://hospes.partner.example", "client_id": "app-999"},
    ):
        for action in ("test", "save"):
            moved = post(action=action, target_tenant=other_tenant.id, **changed)
            assert moved.status_code == 400 and "client_secret" in alerts(moved.text), (action, changed)
    assert config.service.saved_secrets(tenant.id, config.sp_id)["BaseAddress"] == "https://hospes.partner.example"
    retyped = post(
        action="save",
        target_tenant=other_tenant.id,
        tenant_url="https://hospes2.partner.example",
        client_id="app-123",
        client_secret="n3w-value",
    )
    assert retyped.status_code == 303
    assert config.service.saved_secrets(tenant.id, config.sp_id)["ClientSecret"] == "n3w-value"
    # back to a tenant of this deployment: the other deployment's credentials go
    local = post(action="save", target_tenant=other_tenant.id, tenant_url="")
    assert local.status_code == 303
    saved = config.service.saved_secrets(tenant.id, config.sp_id)
    assert saved["CompanyId"] == other_tenant.id and not {"BaseAddress", "ClientIdentifier", "ClientSecret"} & set(
        saved
    )
