"""The guests' access to the directory (``authorizationPolicy.guestUserRoleId``: same as members, limited,
restricted) and whether guests may leave the organization: set from the external collaboration settings page or
through Graph, and obeyed where a guest looks people up in the portal."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.delegation import GUESTS_AS_MEMBERS, GUESTS_LIMITED, GUESTS_RESTRICTED
from hospes.domain.principals import system_principal
from hospes.services.guest_policy import GuestPolicyService
from tests.helpers.portal import alerts, csrf_of, sign_in, sign_in_as_admin
from tests.helpers.tenants import TenantHandle

POLICY = "/policies/authorizationPolicy"


def _post(web: TestClient, tenant: TenantHandle, path: str, data: dict[str, str]) -> Any:
    token = csrf_of(web.get(f"/{tenant.domain}/admin").text)
    return web.post(f"/{tenant.domain}{path}", data={"csrf": token, **data})


def test_settings_page_sets_guest_access_and_leaving(
    web: TestClient, tenant: TenantHandle, sessions: sessionmaker[Session]
) -> None:
    sign_in_as_admin(web, tenant)
    page = web.get(f"/{tenant.domain}/admin/settings/collaboration").text
    assert f'value="{GUESTS_LIMITED}" checked' in page and 'name="allow_guests_to_leave" checked' in page
    assert "Guest users have limited access to properties and memberships of directory objects" in page
    form = {"allow_invites_from": "everyone", "guest_access": GUESTS_RESTRICTED, "email_otp_enabled": "on"}
    assert _post(web, tenant, "/admin/settings/collaboration", form).status_code == 303
    assert tenant.get(POLICY).json()["guestUserRoleId"] == GUESTS_RESTRICTED
    assert GuestPolicyService(sessions, system_principal(tenant.id)).get().allow_guests_to_leave is False
    page = web.get(f"/{tenant.domain}/admin/settings/collaboration").text
    assert f'value="{GUESTS_RESTRICTED}" checked' in page and 'name="allow_guests_to_leave" checked' not in page
    # Graph and the page are one setting.
    assert tenant.patch(POLICY, json={"guestUserRoleId": GUESTS_AS_MEMBERS}).status_code == 204
    assert f'value="{GUESTS_AS_MEMBERS}" checked' in web.get(f"/{tenant.domain}/admin/settings/collaboration").text
    form.update({"guest_access": "not-a-role", "allow_guests_to_leave": "on"})
    refused = _post(web, tenant, "/admin/settings/collaboration", form)
    assert refused.status_code == 400 and alerts(refused.text) == {"guest_access": "Choose the guests&#39; access."}
    assert tenant.get(POLICY).json()["guestUserRoleId"] == GUESTS_AS_MEMBERS  # nothing saved
    assert GuestPolicyService(sessions, system_principal(tenant.id)).get().allow_guests_to_leave is False


def test_graph_accepts_only_the_three_guest_roles(tenant: TenantHandle) -> None:
    bad = tenant.patch(POLICY, json={"guestUserRoleId": "00000000-0000-0000-0000-000000000000"})
    assert bad.status_code == 400 and "guestUserRoleId" in bad.json()["error"]["message"]
    for role in (GUESTS_RESTRICTED, GUESTS_AS_MEMBERS, GUESTS_LIMITED):
        assert tenant.patch(POLICY, json={"guestUserRoleId": role}).status_code == 204
        assert tenant.get(POLICY).json()["guestUserRoleId"] == role


@pytest.mark.parametrize(
    ("level", "by_part", "by_address"),
    [(GUESTS_AS_MEMBERS, True, True), (GUESTS_LIMITED, False, True), (GUESTS_RESTRICTED, False, False)],
)
def test_a_guest_owner_looks_people_up_as_the_guest_access_allows(
    web: TestClient, tenant: TenantHandle, level: str, by_part: bool, by_address: bool
) -> None:
    owner = tenant.new_user("guestowner", userType="Guest")
    group = tenant.new_group(
        "Partners", **{"owners@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{owner['id']}"]}
    )
    invite = {"invitedUserEmailAddress": "wanda@partner.example", "inviteRedirectUrl": "https://a.example"}
    wanda = tenant.post("/invitations", json=invite).json()["invitedUser"]
    assert tenant.patch(POLICY, json={"guestUserRoleId": level}).status_code == 204
    assert sign_in(web, tenant.domain, owner["userPrincipalName"]).status_code == 303
    part = web.get(f"/{tenant.domain}/admin/pick", params={"q": "wanda"}).json()["results"]
    assert bool(part) is by_part
    whole = web.get(f"/{tenant.domain}/admin/pick", params={"q": "wanda@partner.example"}).json()["results"]
    assert [r["id"] for r in whole] == ([wanda["id"]] if by_address else [])
    add = f"/admin/groups/{group['id']}/members/add"
    by_name = _post(web, tenant, add, {"member": "wanda"})
    if by_part:
        assert by_name.status_code == 303
    else:
        assert by_name.status_code == 400
        expected = (
            "Type the whole sign-in name or email: guests of this organization can&#39;t search the directory."
            if by_address
            else "Guests of this organization can&#39;t look up other users. Ask an administrator."
        )
        assert alerts(by_name.text) == {"member": expected}
        exact = _post(web, tenant, add, {"member": "wanda@partner.example"})
        assert exact.status_code == (303 if by_address else 400)
    members = [m["id"] for m in tenant.get(f"/groups/{group['id']}/members").json()["value"]]
    assert members == ([wanda["id"]] if by_address else [])
