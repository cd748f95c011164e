"""End to end against ``hospes serve``: msgraph-sdk builds a catalog with a group and an app, an access package
granting both, a connected organization and a two-stage policy for it, and the lifecycle settings; an external
person opens the package's link in headless Chromium, proves their address with a one-time passcode and asks; two
approvers decide through the SDK with their own tokens (the second attempt on a decided stage is a 409); the guest
then exists, redeemed, in the group and the app. The timers, run with a clock moved past the end, take the roles
away, block the guest, and delete it after the configured days. The change log and the audit log are checked at
each step."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from msgraph.generated.models.access_package import AccessPackage
from msgraph.generated.models.access_package_approval_stage import AccessPackageApprovalStage
from msgraph.generated.models.access_package_assignment_approval_settings import (
    AccessPackageAssignmentApprovalSettings,
)
from msgraph.generated.models.access_package_assignment_policy import AccessPackageAssignmentPolicy
from msgraph.generated.models.access_package_assignment_requestor_settings import (
    AccessPackageAssignmentRequestorSettings,
)
from msgraph.generated.models.access_package_catalog import AccessPackageCatalog
from msgraph.generated.models.access_package_external_user_lifecycle_action import (
    AccessPackageExternalUserLifecycleAction,
)
from msgraph.generated.models.access_package_request_type import AccessPackageRequestType
from msgraph.generated.models.access_package_resource import AccessPackageResource
from msgraph.generated.models.access_package_resource_request import AccessPackageResourceRequest
from msgraph.generated.models.access_package_resource_role import AccessPackageResourceRole
from msgraph.generated.models.access_package_resource_role_scope import AccessPackageResourceRoleScope
from msgraph.generated.models.access_package_resource_scope import AccessPackageResourceScope
from msgraph.generated.models.allowed_target_scope import AllowedTargetScope
from msgraph.generated.models.app_role import AppRole
from msgraph.generated.models.application import Application
from msgraph.generated.models.approval_stage import ApprovalStage
from msgraph.generated.models.connected_organization import ConnectedOrganization
from msgraph.generated.models.connected_organization_members import ConnectedOrganizationMembers
from msgraph.generated.models.domain_identity_source import DomainIdentitySource
from msgraph.generated.models.entitlement_management_settings import EntitlementManagementSettings
from msgraph.generated.models.expiration_pattern import ExpirationPattern
from msgraph.generated.models.expiration_pattern_type import ExpirationPatternType
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.single_user import SingleUser
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import create_tenant
from hospes.storage.tables import AuditLog
from tests.helpers.entitlement import changes, run_timers
from tests.helpers.live import LiveServer, graph_client, sdk_user, user_graph_client
from tests.helpers.redemption import latest_code
from tests.helpers.tenants import PASSWORD

pytestmark = pytest.mark.live
T = TypeVar("T")
ROLE = uuid.UUID("5e1c0a7e-2f3d-4d6a-9b1e-0c9a4b7d8e21")
GUEST = "pat@fabrikam-partner.example"


class _Loop:
    """The SDK's event loop in a thread, out of the way of Playwright's loop in the test thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def audit(sessions: sessionmaker[Session], tenant_id: str) -> list[str]:
    with sessions() as s:
        return list(
            s.scalars(
                select(AuditLog.activity)
                .where(AuditLog.tenant_id == tenant_id, AuditLog.result == "success")
                .order_by(AuditLog.at)
            )
        )


async def build(sdk: Any, boot: Any) -> dict[str, Any]:
    em = sdk.identity_governance.entitlement_management
    group = await sdk.groups.post(
        Group(display_name="Partner team", mail_enabled=False, mail_nickname="partners", security_enabled=True)
    )
    role = AppRole(
        id=ROLE,
        allowed_member_types=["User"],
        display_name="Reader",
        value="Reader",
        description="Reads",
        is_enabled=True,
    )
    app = await sdk.applications.post(Application(display_name="Partner portal", app_roles=[role]))
    sp = await sdk.service_principals.post(ServicePrincipal(app_id=app.app_id))
    bob = await sdk.users.post(sdk_user(boot, "bob"))
    carol = await sdk.users.post(sdk_user(boot, "carol"))
    catalog = await em.catalogs.post(AccessPackageCatalog(display_name="Partners", is_externally_visible=True))
    for origin, system in ((group.id, "AadGroup"), (sp.id, "AadApplication")):
        added = await em.resource_requests.post(
            AccessPackageResourceRequest(
                request_type=AccessPackageRequestType.AdminAdd,
                resource=AccessPackageResource(origin_id=origin, origin_system=system),
                catalog=AccessPackageCatalog(id=catalog.id),
            )
        )
        assert added.state.value == "delivered"
    package = await em.access_packages.post(
        AccessPackage(display_name="Partner access", catalog=AccessPackageCatalog(id=catalog.id), is_hidden=True)
    )
    roles = (await em.catalogs.by_access_package_catalog_id(catalog.id).resource_roles.get()).value
    wanted = {f"Member_{group.id}", str(ROLE)}
    for role_ in roles:
        if role_.origin_id not in wanted:
            continue
        resource = next(
            r
            for r in (await em.catalogs.by_access_package_catalog_id(catalog.id).resources.get()).value
            if role_.origin_system == r.origin_system
        )
        scope = await em.access_packages.by_access_package_id(package.id).resource_role_scopes.post(
            AccessPackageResourceRoleScope(
                role=AccessPackageResourceRole(
                    id=role_.id,
                    origin_id=role_.origin_id,
                    origin_system=role_.origin_system,
                    resource=AccessPackageResource(id=resource.id),
                ),
                scope=AccessPackageResourceScope(origin_id=resource.origin_id, origin_system=resource.origin_system),
            )
        )
        assert scope.id and "_" in scope.id
    org = await em.connected_organizations.post(
        ConnectedOrganization(
            display_name="Fabrikam",
            identity_sources=[DomainIdentitySource(domain_name="fabrikam-partner.example", display_name="Fabrikam")],
        )
    )
    policy = await em.assignment_policies.post(
        AccessPackageAssignmentPolicy(
            display_name="Fabrikam partners",
            allowed_target_scope=AllowedTargetScope.SpecificConnectedOrganizationUsers,
            specific_allowed_targets=[ConnectedOrganizationMembers(connected_organization_id=org.id)],
            expiration=ExpirationPattern(type=ExpirationPatternType.AfterDuration, duration=timedelta(days=7)),
            requestor_settings=AccessPackageAssignmentRequestorSettings(enable_targets_to_self_add_access=True),
            request_approval_settings=AccessPackageAssignmentApprovalSettings(
                is_approval_required_for_add=True,
                stages=[
                    AccessPackageApprovalStage(
                        duration_before_automatic_denial=timedelta(days=7),
                        primary_approvers=[SingleUser(user_id=who.id)],
                    )
                    for who in (bob, carol)
                ],
            ),
            access_package=AccessPackage(id=package.id),
        )
    )
    assert policy.allowed_target_scope == AllowedTargetScope.SpecificConnectedOrganizationUsers
    assert policy.expiration.duration == timedelta(days=7)
    await em.settings.patch(
        EntitlementManagementSettings(
            external_user_lifecycle_action=AccessPackageExternalUserLifecycleAction.BlockSignInAndDelete,
            duration_until_external_user_deleted_after_blocked=timedelta(days=3),
        )
    )
    settings = await em.settings.get()
    assert settings.duration_until_external_user_deleted_after_blocked == timedelta(days=3)
    return {"group": group, "sp": sp, "bob": bob, "carol": carol, "package": package}


def ask_in_browser(page: Any, server: LiveServer, tenant_id: str, package_id: str, sessions: Any, shots: Path) -> None:
    page.goto(f"{server.base_url}/{tenant_id}/myaccess/access-packages/{package_id}")
    page.fill("#email", GUEST)
    page.fill("#name", "Pat Partner")
    page.screenshot(path=str(shots / "1-link.png"))
    page.click("#signin-form button[type=submit]")
    page.click("text=Send code")
    page.fill("#code", latest_code(sessions, GUEST))
    page.screenshot(path=str(shots / "2-code.png"))
    page.click("button.primary")
    page.wait_for_selector("#request-form")
    page.fill("#justification", "Joint project Apollo")
    page.click("#request-form button[type=submit]")
    page.wait_for_selector("#notice")
    assert "pendingApproval" in page.inner_text("#requests")
    page.screenshot(path=str(shots / "3-asked.png"))


def test_external_request_two_stages_expiry_and_lifecycle(
    web_server: LiveServer, sessions: sessionmaker[Session], page: Any, artifacts: Path
) -> None:
    boot = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")
    loop = _Loop()
    try:
        sdk = graph_client(web_server, boot.domain, boot.client_id, boot.client_secret)
        em = sdk.identity_governance.entitlement_management
        made = loop.run(build(sdk, boot))
        group, sp, package = made["group"], made["sp"], made["package"]
        assert "Create access package assignment policy" in audit(sessions, boot.tenant_id)

        ask_in_browser(page, web_server, boot.tenant_id, package.id, sessions, artifacts)
        requests = loop.run(em.assignment_requests.get()).value
        assert [(r.request_type.value, r.state.value) for r in requests] == [("userAdd", "pendingApproval")]
        assert requests[0].requestor.object_id is None and requests[0].requestor.email == GUEST

        def approver(user: Any) -> Any:
            return user_graph_client(web_server, boot.domain, boot.client_id, user.user_principal_name, PASSWORD)

        async def decide(client: Any, approve: bool = True) -> None:
            approvals = client.identity_governance.entitlement_management.access_package_assignment_approvals
            mine = (await approvals.filter_by_current_user_with_on("approver").get()).value
            assert [a.id for a in mine] == [requests[0].id]
            stage = next(s for s in mine[0].stages if s.assigned_to_me and s.status == "InProgress")
            body = ApprovalStage(review_result="Approve" if approve else "Deny", justification="known partner")
            await approvals.by_approval_id(mine[0].id).stages.by_approval_stage_id(stage.id).patch(body)
            with pytest.raises(ODataError) as again:
                await approvals.by_approval_id(mine[0].id).stages.by_approval_stage_id(stage.id).patch(body)
            assert again.value.response_status_code == 409

        loop.run(decide(approver(made["bob"])))
        assert (
            loop.run(em.assignment_requests.by_access_package_assignment_request_id(requests[0].id).get()).state.value
            == "pendingApproval"
        )
        loop.run(decide(approver(made["carol"])))

        done = loop.run(em.assignment_requests.by_access_package_assignment_request_id(requests[0].id).get())
        assert done.state.value == "delivered"
        guest_id = done.requestor.object_id
        assert done.requestor.subject_lifecycle.value == "governed"
        guest = loop.run(sdk.users.by_user_id(guest_id).get())
        assert guest.mail == GUEST
        members = loop.run(sdk.groups.by_group_id(group.id).members.get()).value
        assert [m.id for m in members] == [guest_id]
        roles = loop.run(sdk.users.by_user_id(guest_id).app_role_assignments.get()).value
        assert [(str(r.resource_id), str(r.app_role_id)) for r in roles] == [(sp.id, str(ROLE))]
        assert ("member_added", guest_id) in changes(sessions, boot.tenant_id, group.id)
        assert changes(sessions, boot.tenant_id, guest_id)[0] == ("created", None)
        assignment = loop.run(em.assignments.get()).value[0]
        assert assignment.state.value == "delivered"
        assert "Approve access package assignment request" in audit(sessions, boot.tenant_id)

        # Past the end: the roles go (change log), the guest is blocked, then deleted after three days.
        assert run_timers(sessions, timedelta(days=7, minutes=5), boot.tenant_id) >= 1
        ended = loop.run(em.assignments.by_access_package_assignment_id(assignment.id).get())
        assert (ended.state.value, ended.status) == ("expired", "ExpiredNotificationTriggered")
        assert loop.run(sdk.groups.by_group_id(group.id).members.get()).value == []
        assert loop.run(sdk.users.by_user_id(guest_id).app_role_assignments.get()).value == []
        assert ("member_removed", guest_id) in changes(sessions, boot.tenant_id, group.id)
        blocked = [c for c in changes(sessions, boot.tenant_id, guest_id) if c[0] == "updated"]
        assert blocked and ("deleted", None) not in changes(sessions, boot.tenant_id, guest_id)
        log = audit(sessions, boot.tenant_id)
        assert "Access package assignment expired" in log and "Disable account" in log
        removals = loop.run(em.assignment_requests.get()).value
        assert {r.request_type.value for r in removals} == {"userAdd", "systemRemove"}

        assert run_timers(sessions, timedelta(days=10, minutes=10), boot.tenant_id) == 1
        with pytest.raises(ODataError) as gone:
            loop.run(sdk.users.by_user_id(guest_id).get())
        assert gone.value.response_status_code == 404
        assert changes(sessions, boot.tenant_id, guest_id)[-1] == ("deleted", None)
        assert audit(sessions, boot.tenant_id)[-1] == "Delete user"
    finally:
        loop.close()
