"""Cross-tenant access settings in the portal: the default configuration and a partner organization's page write
the same settings Graph's ``/policies/crossTenantAccessPolicy`` reads (B2B collaboration by users, groups and apps,
inbound trust, automatic redemption, inbound synchronization); a partner's "default settings" inherit; wrong ids
are refused under their field; removing a partner asks first."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers.portal import alerts, csrf_of, sign_in_as_admin
from tests.helpers.tenants import TenantHandle

BASE = "/policies/crossTenantAccessPolicy"
PARTNER = "2c4d6e8f-1a3b-4c5d-8e7f-9a0b1c2d3e4f"
GROUP = "7d1e2f3a-4b5c-4d6e-8f9a-0b1c2d3e4f5a"


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, Any]) -> Any:
    token = csrf_of(web.get(f"/{tenant.domain}/admin").text)
    return web.post(f"/{tenant.domain}/admin{path}", data={"csrf": token, **data})


def _directions(mode_in: str, mode_out: str) -> dict[str, str]:
    return {
        "inbound_mode": mode_in,
        "inbound_users": "all",
        "inbound_apps": "all",
        "outbound_mode": mode_out,
        "outbound_users": "all",
        "outbound_apps": "all",
    }


def test_default_settings_are_graphs(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    page = web.get(f"/{tenant.domain}/admin/settings/cross-tenant")
    assert page.status_code == 200 and 'id="inbound-allowed" name="inbound_mode"' in page.text
    form = {**_directions("blocked", "allowed"), "isMfaAccepted": "on"}
    assert _post(web, tenant, "/settings/cross-tenant", form).status_code == 303
    default = tenant.get(f"{BASE}/default").json()
    assert default["isServiceDefault"] is False
    assert default["b2bCollaborationInbound"]["usersAndGroups"]["accessType"] == "blocked"
    assert default["b2bCollaborationOutbound"]["applications"]["accessType"] == "allowed"
    assert default["inboundTrust"] == {
        "isMfaAccepted": True,
        "isCompliantDeviceAccepted": False,
        "isHybridAzureADJoinedDeviceAccepted": False,
    }
    bad = _post(
        web,
        tenant,
        "/settings/cross-tenant",
        {**form, "inbound_users": "listed", "inbound_group_ids": "Sales"},
    )
    assert bad.status_code == 400 and "Sales" in alerts(bad.text)["inbound"]
    assert tenant.get(f"{BASE}/default").json()["b2bCollaborationInbound"] == default["b2bCollaborationInbound"]


def test_a_partner_customizes_some_settings_and_inherits_the_rest(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    wrong = _post(web, tenant, "/settings/cross-tenant/partners", {"tenant_id": "contoso"})
    assert wrong.status_code == 400 and "tenant_id" in alerts(wrong.text)
    added = _post(web, tenant, "/settings/cross-tenant/partners", {"tenant_id": PARTNER})
    assert added.status_code == 303 and added.headers["location"].endswith(f"/partners/{PARTNER}")
    again = _post(web, tenant, "/settings/cross-tenant/partners", {"tenant_id": PARTNER})
    assert again.status_code == 400  # already a partner
    form = {
        **_directions("allowed", "inherit"),
        "inbound_users": "listed",
        "inbound_group_ids": GROUP,
        "trust_mode": "custom",
        "isMfaAccepted": "on",
        "auto_inbound": "on",
        "sync_inbound": "on",
    }
    assert _post(web, tenant, f"/settings/cross-tenant/partners/{PARTNER}", form).status_code == 303
    partner = tenant.get(f"{BASE}/partners/{PARTNER}").json()
    assert partner["b2bCollaborationInbound"]["usersAndGroups"] == {
        "accessType": "allowed",
        "targets": [{"target": GROUP, "targetType": "group"}],
    }
    assert partner["b2bCollaborationOutbound"] is None  # inherits the default
    assert partner["inboundTrust"]["isMfaAccepted"] is True
    assert partner["automaticUserConsentSettings"] == {"inboundAllowed": True, "outboundAllowed": False}
    sync = tenant.get(f"{BASE}/partners/{PARTNER}/identitySynchronization").json()
    assert sync["userSyncInbound"]["isSyncAllowed"] is True
    page = web.get(f"/{tenant.domain}/admin/settings/cross-tenant/partners/{PARTNER}").text
    assert 'id="outbound-inherit" name="outbound_mode" value="inherit" checked' in page
    assert GROUP in page and 'name="sync_inbound" checked' in page
    # Sync turned off again stays a stored "not allowed", as Graph would show it.
    form.pop("sync_inbound")
    assert _post(web, tenant, f"/settings/cross-tenant/partners/{PARTNER}", form).status_code == 303
    sync = tenant.get(f"{BASE}/partners/{PARTNER}/identitySynchronization").json()
    assert sync["userSyncInbound"]["isSyncAllowed"] is False
    listing = web.get(f"/{tenant.domain}/admin/settings/cross-tenant").text
    assert PARTNER in listing and "Customized" in listing
    confirm = web.get(f"/{tenant.domain}/admin/settings/cross-tenant/partners/{PARTNER}/delete")
    assert confirm.status_code == 200 and "Remove this organization?" in confirm.text
    assert _post(web, tenant, f"/settings/cross-tenant/partners/{PARTNER}/delete", {}).status_code == 303
    assert tenant.get(f"{BASE}/partners/{PARTNER}").status_code == 200  # not without confirming
    removed = _post(web, tenant, f"/settings/cross-tenant/partners/{PARTNER}/delete", {"confirm": "yes"})
    assert removed.status_code == 303 and tenant.get(f"{BASE}/partners/{PARTNER}").status_code == 404
    assert web.get(f"/{tenant.domain}/admin/settings/cross-tenant/partners/{PARTNER}").status_code == 404
