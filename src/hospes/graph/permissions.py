"""Which Graph permissions each kind of call needs, for app-only and for delegated (user) tokens, and the one check.

An app-only token needs one of the right's application permissions. A delegated token needs one of its delegated
scopes, and the signed-in user must be able to do it themselves (``hospes.domain.delegation``): the effective right
is the scope intersected with the user's standing, as Graph decides it. A scope missing from a right's table grants
nothing with a delegated token, however broad its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hospes.domain.delegation import ALL, NOTHING, Need, Reach, Standing
from hospes.domain.principals import Principal


@dataclass(frozen=True)
class Right:
    """``application``: any one suffices for an app-only token. ``delegated``: scope -> what the user must be able
    to do. ``target``: the path parameter naming the object when the user's reach is partial (their own user
    object, the groups they own); without one, a partial reach is refused."""

    application: frozenset[str]
    delegated: Mapping[str, Need] = field(default_factory=dict)
    target: str | None = None


def reach(right: Right, principal: Principal, standing: Standing | None) -> Reach:
    """The objects ``principal`` may act on under ``right``: the one permission check of the Graph surface."""
    if principal.kind == "app":
        return ALL if principal.roles & right.application else NOTHING
    if principal.kind != "user" or standing is None:
        return NOTHING
    out = NOTHING
    for scope in principal.roles:  # a delegated token's scp
        need = right.delegated.get(scope)
        if need is not None:
            out |= standing.reach(need)
    return out


_DIRECTORY_READ = {"Directory.Read.All": Need.READ_DIRECTORY}
_USERS_READ = {
    "User.Read": Need.SELF,
    "User.ReadBasic.All": Need.READ_USERS,
    "User.Read.All": Need.READ_USERS,
    "User.ReadWrite.All": Need.READ_USERS,
    "Directory.Read.All": Need.READ_USERS,
}
_GROUPS_READ = {scope: Need.READ_GROUPS for scope in ("Group.Read.All", "GroupMember.Read.All", "Directory.Read.All")}
_APPS_READ = {scope: Need.READ_APPS for scope in ("Application.Read.All", "Directory.Read.All")}
# Every signed-in user reads the organization's profile (Graph: User.Read suffices).
_ORG_READ = {scope: Need.ANYONE for scope in ("User.Read", "User.ReadBasic.All", "User.Read.All", "Directory.Read.All")}

DIR_READ = Right(frozenset({"Directory.Read.All", "Directory.ReadWrite.All"}), _DIRECTORY_READ)
DIR_WRITE = Right(frozenset({"Directory.ReadWrite.All"}))
USERS_READ = Right(DIR_READ.application | {"User.Read.All", "User.ReadWrite.All"}, _USERS_READ, target="key")
USERS_WRITE = Right(DIR_WRITE.application | {"User.ReadWrite.All"}, {"User.ReadWrite.All": Need.MANAGE_USERS})
GROUPS_READ = Right(
    DIR_READ.application | {"Group.Read.All", "Group.ReadWrite.All", "GroupMember.ReadWrite.All"},
    _GROUPS_READ,
    target="group_id",
)
GROUPS_WRITE = Right(DIR_WRITE.application | {"Group.ReadWrite.All"})
MEMBERS_WRITE = Right(GROUPS_WRITE.application | {"GroupMember.ReadWrite.All"})
APPS_READ = Right(DIR_READ.application | {"Application.Read.All", "Application.ReadWrite.All"}, _APPS_READ)
APPS_WRITE = Right(DIR_WRITE.application | {"Application.ReadWrite.All"})
ASSIGNMENTS_WRITE = Right(APPS_WRITE.application | {"AppRoleAssignment.ReadWrite.All"})
ORG_READ = Right(
    DIR_READ.application | USERS_READ.application | {"Organization.Read.All", "Organization.ReadWrite.All"},
    _ORG_READ,
)
ORG_WRITE = Right(DIR_WRITE.application | {"Organization.ReadWrite.All"})
AUDIT_READ = Right(frozenset({"AuditLog.Read.All"}))
TERMS_WRITE = Right(frozenset({"Agreement.ReadWrite.All"}))
TERMS_READ = Right(frozenset({"Agreement.Read.All", "Agreement.ReadWrite.All"}))
ROLES_READ = Right(DIR_READ.application | {"RoleManagement.ReadWrite.Directory"}, _DIRECTORY_READ)
ROLES_WRITE = Right(frozenset({"RoleManagement.ReadWrite.Directory"}))
DIRECTORY_OBJECTS_READ = Right(DIR_READ.application | USERS_READ.application, _DIRECTORY_READ)
# Deleted items stay with apps: a user's token reads and restores none.
DELETED_READ = Right(USERS_READ.application | GROUPS_READ.application)
DELETED_WRITE = Right(USERS_WRITE.application | GROUPS_WRITE.application)
# Synchronization API: least privileged Synchronization.*; Application.ReadWrite.OwnedBy is not
# offered because Hospes has no application owners to restrict it to.
SYNC_WRITE = Right(DIR_WRITE.application | {"Synchronization.ReadWrite.All", "Application.ReadWrite.All"})
SYNC_READ = Right(SYNC_WRITE.application | {"Synchronization.Read.All"})
# A user's token invites when the invitation policy lets the user invite (checked per invitation, with the
# user's roles and type); the scope only lets the app ask.
INVITE = Right(
    USERS_WRITE.application | {"User.Invite.All"},
    {"User.Invite.All": Need.INVITE, "User.ReadWrite.All": Need.INVITE},
)
POLICY_READ = Right(frozenset({"Policy.Read.All", "Policy.ReadWrite.Authorization", "Directory.Read.All"}))
POLICY_WRITE = Right(frozenset({"Policy.ReadWrite.Authorization"}))
# Cross-tenant access settings: written with their own permission only; read with any policy read permission.
CROSS_TENANT_WRITE = Right(frozenset({"Policy.ReadWrite.CrossTenantAccess"}))
CROSS_TENANT_READ = Right(POLICY_READ.application | CROSS_TENANT_WRITE.application)
# The multitenant organization: its own permissions (Graph's), read also with the cross-tenant settings' ones.
MTO_WRITE = Right(frozenset({"MultiTenantOrganization.ReadWrite.All"}))
MTO_READ = Right(CROSS_TENANT_READ.application | MTO_WRITE.application | {"MultiTenantOrganization.Read.All"})
# The email one-time passcode method: Graph asks for Policy.ReadWrite.AuthenticationMethod to write; Hospes also
# accepts Policy.ReadWrite.Authorization, the policy permission its apps are granted.
AUTH_METHOD_READ = Right(
    frozenset({"Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod", "Policy.ReadWrite.Authorization"})
)
AUTH_METHOD_WRITE = Right(frozenset({"Policy.ReadWrite.AuthenticationMethod", "Policy.ReadWrite.Authorization"}))
# Delegated consent (oAuth2PermissionGrant): read with any directory read permission, written only with its own.
GRANTS_WRITE = Right(frozenset({"DelegatedPermissionGrant.ReadWrite.All"}))
GRANTS_READ = Right(DIR_READ.application | GRANTS_WRITE.application, _DIRECTORY_READ)
# Conditional access: read with any policy read permission, written only with its own (Graph's least privilege).
CA_WRITE = Right(frozenset({"Policy.ReadWrite.ConditionalAccess"}))
CA_READ = Right(POLICY_READ.application | CA_WRITE.application)
# Access reviews: an app needs AccessReview.*; a user's token reaches what the user may do there, which the service
# decides (administrators everything, reviewers their own items).
_REVIEWER = {"AccessReview.Read.All": Need.ANYONE, "AccessReview.ReadWrite.All": Need.ANYONE}
ACCESS_REVIEWS_READ = Right(frozenset({"AccessReview.Read.All", "AccessReview.ReadWrite.All"}), _REVIEWER)
ACCESS_REVIEWS_WRITE = Right(frozenset({"AccessReview.ReadWrite.All"}), {"AccessReview.ReadWrite.All": Need.ANYONE})
# Guests' identity providers (SAML federations, OpenID providers): Graph's IdentityProvider permissions, and
# Domain.ReadWrite.All for the domains of a federation.
FEDERATION_WRITE = Right(frozenset({"IdentityProvider.ReadWrite.All", "Domain.ReadWrite.All"}))
FEDERATION_READ = Right(POLICY_READ.application | FEDERATION_WRITE.application | {"IdentityProvider.Read.All"})
# Entitlement management: administered with the app permission, or by a user administrator's token; the
# requestor's and approver's own calls (their requests, assignments, approvals) with any signed-in user's token, each
# checked by the service against the object (their own request, a stage they approve).
EM_READ = Right(
    frozenset({"EntitlementManagement.Read.All", "EntitlementManagement.ReadWrite.All"}),
    {"EntitlementManagement.ReadWrite.All": Need.MANAGE_USERS},
)
EM_WRITE = Right(
    frozenset({"EntitlementManagement.ReadWrite.All"}), {"EntitlementManagement.ReadWrite.All": Need.MANAGE_USERS}
)
EM_SELF = Right(EM_READ.application, {"EntitlementManagement.ReadWrite.All": Need.ANYONE})
