"""Delegated access: what a signed-in user may do themselves, as Graph decides it for a user's token.

A delegated token's scopes say what the app may do on the user's behalf; the user's own standing (directory roles,
member or guest, the tenant's guest-access level, the groups they own) says what the user may do. The effective right
is the intersection: a scope the user cannot exercise grants nothing beyond the user's own object. This module is the
user half, without I/O; ``hospes.graph.permissions`` holds the scope half and the one check that combines them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hospes.domain.principals import GLOBAL_ADMINISTRATOR, GUEST_INVITER, USER_ADMINISTRATOR

# The Microsoft Graph delegated permissions Hospes acts on (``hospes.graph.permissions`` maps each to the calls it
# allows); a delegated token's other scopes grant nothing on the Graph surface.
GRAPH_SCOPES = (
    "User.Read",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "User.Invite.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "Directory.Read.All",
    "Application.Read.All",
    "EntitlementManagement.ReadWrite.All",
    "AccessReview.Read.All",
    "AccessReview.ReadWrite.All",
)

# authorizationPolicy.guestUserRoleId: how much of the directory guests see.
GUESTS_AS_MEMBERS = "a0b1b346-4d3e-4e8b-98f8-753987be4970"  # "User": guests see what members see
GUESTS_LIMITED = "10dae51f-b6af-4016-8d66-8c2a99b929b3"  # "Guest User", the default
GUESTS_RESTRICTED = "2af84b1e-32c8-42b7-82bc-daa82404023b"  # "Restricted Guest User": their own object only
ADMIN_ROLES = frozenset({GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR})


class Need(Enum):
    """What the signed-in user must be able to do themselves for a delegated scope to count."""

    ANYONE = "anyone"  # every signed-in user of the tenant (its organization profile)
    SELF = "self"  # their own user object, nothing else
    READ_USERS = "readUsers"  # other users' profiles
    READ_GROUPS = "readGroups"  # groups and their members
    READ_APPS = "readApps"  # applications and service principals
    READ_DIRECTORY = "readDirectory"  # any directory object, directory roles
    MANAGE_USERS = "manageUsers"  # create, update and delete users
    INVITE = "invite"  # decided per invitation by the tenant's invitation policy (allowInvitesFrom)


@dataclass(frozen=True)
class Reach:
    """Which objects a right extends to: all of them, or only those named in ``ids`` (none when empty)."""

    everything: bool = False
    ids: frozenset[str] = frozenset()

    def covers(self, object_id: str) -> bool:
        return self.everything or object_id.lower() in self.ids

    def __or__(self, other: Reach) -> Reach:
        if self.everything or other.everything:
            return ALL
        return Reach(False, self.ids | other.ids)


ALL = Reach(True)
NOTHING = Reach()


@dataclass(frozen=True)
class Standing:
    """The signed-in user as the directory sees them. ``owned_groups``: the groups they own; ``member_groups``: the
    groups they belong to (read only for guests with limited access, the one case that needs them)."""

    user_id: str
    upn_key: str
    user_type: str
    guest_access: str
    roles: frozenset[str]
    read_other_users: bool = True
    owned_groups: frozenset[str] = frozenset()
    member_groups: frozenset[str] = frozenset()

    @property
    def manages_users(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)

    @property
    def sees_like_a_member(self) -> bool:
        """Members, and guests when the tenant gives guests the members' view."""
        return self.user_type != "Guest" or self.guest_access == GUESTS_AS_MEMBERS

    @property
    def itself(self) -> Reach:
        return Reach(False, frozenset({self.user_id.lower(), self.upn_key}))

    def reach(self, need: Need) -> Reach:
        """The objects ``need`` extends to for this user. Reading users always reaches the user's own object, so a
        guest whose token carries ``User.Read.All`` still reads their own profile, and nobody else's."""
        if need in (Need.ANYONE, Need.INVITE):
            return ALL
        if need is Need.SELF:
            return self.itself
        if need is Need.MANAGE_USERS:
            return ALL if self.manages_users else NOTHING
        if need is Need.READ_USERS:
            if self.manages_users or GUEST_INVITER in self.roles:
                return ALL
            if self.sees_like_a_member and self.read_other_users:
                return ALL
            return self.itself
        if need is Need.READ_GROUPS:
            if self.manages_users or self.sees_like_a_member:
                return ALL
            if self.guest_access == GUESTS_RESTRICTED:
                return Reach(False, self.owned_groups)
            return Reach(False, self.owned_groups | self.member_groups)
        # READ_APPS, READ_DIRECTORY
        return ALL if self.manages_users or self.sees_like_a_member else NOTHING
