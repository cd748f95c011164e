"""Dependencies of the portal's pages: the ``AdminPage`` of a signed-in user who passes the page's role check, one
alias per section and rule (``UsersDep``, ``AppsDep``, ...). A refusal (signed out, no role) stops the request
with its page. The ``AdminPage``'s properties build the services a page uses, acting as that administrator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends

from hospes.services.admin_access import Access
from hospes.web.context import Page
from hospes.web.deps import PageDep
from hospes.web.portal.access import AdminPage, admin_of


def admin_page(section: str, may: Callable[[Access], bool]) -> Callable[[Page], AdminPage]:
    """A dependency giving the portal page of ``section`` to a signed-in user whose ``Access`` passes ``may``
    (a property such as ``Access.manages_users``, or any function of ``Access``)."""
    rule: Callable[[Access], bool] = getattr(may, "fget", may)  # a property is not callable itself; its getter is

    def dependency(page: PageDep) -> AdminPage:
        return admin_of(page, section, rule)

    return dependency


def group_manager(page: PageDep, group_id: str) -> AdminPage:
    """A group's page: administrators, and the group's owners."""
    gid = group_id.lower()[:64]
    return admin_of(page, "groups", lambda access: access.manages_group(gid))


def app_manager(page: PageDep, sp_id: str) -> AdminPage:
    """An app's page: Global Administrators, and the app's owners."""
    sid = sp_id.lower()[:64]
    return admin_of(page, "apps", lambda access: access.manages_app(sid))


PortalHomeDep = Annotated[AdminPage, Depends(admin_page("home", Access.may_open_portal))]
UsersDep = Annotated[AdminPage, Depends(admin_page("users", Access.may_see_users))]
UserAdminDep = Annotated[AdminPage, Depends(admin_page("users", Access.manages_users))]
RolesDep = Annotated[AdminPage, Depends(admin_page("users", Access.is_global_admin))]
InviteDep = Annotated[AdminPage, Depends(admin_page("invite", Access.may_invite))]
BulkInviteDep = Annotated[AdminPage, Depends(admin_page("bulk", Access.may_bulk_invite))]
PickerDep = Annotated[AdminPage, Depends(admin_page("users", Access.may_see_groups))]
GroupsDep = Annotated[AdminPage, Depends(admin_page("groups", Access.may_see_groups))]
GroupAdminDep = Annotated[AdminPage, Depends(admin_page("groups", Access.manages_users))]
GroupManagerDep = Annotated[AdminPage, Depends(group_manager)]
AppsDep = Annotated[AdminPage, Depends(admin_page("apps", Access.is_global_admin))]
AppManagerDep = Annotated[AdminPage, Depends(app_manager)]
RegistrationsDep = Annotated[AdminPage, Depends(admin_page("registrations", Access.is_global_admin))]
CollaborationDep = Annotated[AdminPage, Depends(admin_page("collaboration", Access.is_global_admin))]
OrganizationDep = Annotated[AdminPage, Depends(admin_page("organization", Access.is_global_admin))]
ProvisioningLogsDep = Annotated[AdminPage, Depends(admin_page("provlogs", Access.is_global_admin))]
AuditDep = Annotated[AdminPage, Depends(admin_page("audit", Access.is_global_admin))]
ConditionalAccessDep = Annotated[AdminPage, Depends(admin_page("ca", Access.is_global_admin))]
IdentityProvidersDep = Annotated[AdminPage, Depends(admin_page("idps", Access.is_global_admin))]
CrossTenantDep = Annotated[AdminPage, Depends(admin_page("crosstenant", Access.is_global_admin))]
TopologyDep = Annotated[AdminPage, Depends(admin_page("topology", Access.is_global_admin))]
SignInsDep = Annotated[AdminPage, Depends(admin_page("signins", Access.is_global_admin))]
TermsDep = Annotated[AdminPage, Depends(admin_page("terms", Access.is_global_admin))]
OutboxDep = Annotated[AdminPage, Depends(admin_page("outbox", Access.is_global_admin))]
