"""Which Graph application permissions each kind of call needs (any one of the set suffices)."""

DIR_READ = frozenset({"Directory.Read.All", "Directory.ReadWrite.All"})
DIR_WRITE = frozenset({"Directory.ReadWrite.All"})
USERS_READ = DIR_READ | {"User.Read.All", "User.ReadWrite.All"}
USERS_WRITE = DIR_WRITE | {"User.ReadWrite.All"}
GROUPS_READ = DIR_READ | {"Group.Read.All", "Group.ReadWrite.All", "GroupMember.ReadWrite.All"}
GROUPS_WRITE = DIR_WRITE | {"Group.ReadWrite.All"}
MEMBERS_WRITE = GROUPS_WRITE | {"GroupMember.ReadWrite.All"}
APPS_READ = DIR_READ | {"Application.Read.All", "Application.ReadWrite.All"}
APPS_WRITE = DIR_WRITE | {"Application.ReadWrite.All"}
ASSIGNMENTS_WRITE = APPS_WRITE | {"AppRoleAssignment.ReadWrite.All"}
ORG_READ = DIR_READ | USERS_READ | {"Organization.Read.All", "Organization.ReadWrite.All"}
ORG_WRITE = DIR_WRITE | {"Organization.ReadWrite.All"}
AUDIT_READ = frozenset({"AuditLog.Read.All"})
ROLES_READ = DIR_READ | {"RoleManagement.ReadWrite.Directory"}
ROLES_WRITE = frozenset({"RoleManagement.ReadWrite.Directory"})
DELETED_READ = USERS_READ | GROUPS_READ
DELETED_WRITE = USERS_WRITE | GROUPS_WRITE
# Synchronization API: least privileged Synchronization.*; Application.ReadWrite.OwnedBy is not
# offered because Hospes has no application owners to restrict it to.
SYNC_WRITE = DIR_WRITE | {"Synchronization.ReadWrite.All", "Application.ReadWrite.All"}
SYNC_READ = SYNC_WRITE | {"Synchronization.Read.All"}
INVITE = USERS_WRITE | {"User.Invite.All"}
POLICY_READ = frozenset({"Policy.Read.All", "Policy.ReadWrite.Authorization", "Directory.Read.All"})
POLICY_WRITE = frozenset({"Policy.ReadWrite.Authorization"})
# The email one-time passcode method: Graph asks for Policy.ReadWrite.AuthenticationMethod to write; Hospes also
# accepts Policy.ReadWrite.Authorization, the policy permission its apps are granted.
AUTH_METHOD_READ = frozenset(
    {"Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod", "Policy.ReadWrite.Authorization"}
)
AUTH_METHOD_WRITE = frozenset({"Policy.ReadWrite.AuthenticationMethod", "Policy.ReadWrite.Authorization"})
