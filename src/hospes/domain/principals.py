"""Who is calling: an application (client credentials) or a user, always bound to one tenant."""

from __future__ import annotations

from dataclasses import dataclass, field

# Graph application permissions Hospes understands. "ReadWrite" implies "Read" of the same area.
APPLICATION_PERMISSIONS = (
    "User.Read.All",
    "User.ReadWrite.All",
    "User.Invite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Application.Read.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Policy.Read.All",
    "Policy.ReadWrite.Authorization",
    "Policy.ReadWrite.CrossTenantAccess",
    "Policy.ReadWrite.ConditionalAccess",
    "MultiTenantOrganization.Read.All",
    "MultiTenantOrganization.ReadWrite.All",
    "Synchronization.Read.All",
    "Synchronization.ReadWrite.All",
    "AuditLog.Read.All",
    "RoleManagement.ReadWrite.Directory",
    "DelegatedPermissionGrant.ReadWrite.All",
    "AccessReview.Read.All",
    "AccessReview.ReadWrite.All",
    "IdentityProvider.Read.All",
    "IdentityProvider.ReadWrite.All",
    "Domain.ReadWrite.All",
    "EntitlementManagement.Read.All",
    "EntitlementManagement.ReadWrite.All",
    "Agreement.Read.All",
    "Agreement.ReadWrite.All",
)

# Well-known directory role template ids (the values Entra uses).
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
GUEST_INVITER = "95e79109-95c0-4d8e-aee3-d01accf2d47b"
DIRECTORY_ROLES: dict[str, tuple[str, str]] = {
    GLOBAL_ADMINISTRATOR: (
        "Global Administrator",
        "Can manage all aspects of the directory.",
    ),
    USER_ADMINISTRATOR: (
        "User Administrator",
        "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    ),
    GUEST_INVITER: (
        "Guest Inviter",
        "Can invite guest users independent of the 'members can invite guests' setting.",
    ),
}

DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    kind: str  # "app" | "user" | "system"
    id: str
    display_name: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_any(self, *permissions: str) -> bool:
        return any(p in self.roles for p in permissions)


def system_principal(tenant_id: str) -> Principal:
    return Principal(tenant_id=tenant_id, kind="system", id="", display_name="Hospes", roles=frozenset())
