"""Who may do what in the admin portal: the signed-in user's directory roles and the groups they own, and the rules
the portal's pages apply to them. Global Administrators manage everything; User Administrators users and groups;
Guest Inviters invite; a group's owners manage their own group's guests, an app's owners its assignments and guests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.delegation import GUESTS_AS_MEMBERS, GUESTS_LIMITED
from hospes.domain.principals import GLOBAL_ADMINISTRATOR, GUEST_INVITER, USER_ADMINISTRATOR
from hospes.services.b2b_policy import directory_roles, guest_access_of, load_policy
from hospes.storage.tables import Group, GroupMember, User
from hospes.storage.tables_reviews import ServicePrincipalOwner


@dataclass(frozen=True)
class Access:
    """The signed-in user's standing in the portal: directory roles, and the groups they own (owners manage their
    own groups' guests)."""

    roles: frozenset[str]
    owned_groups: frozenset[str]
    is_guest: bool = False
    guest_access: str = GUESTS_LIMITED  # the tenant's guestUserRoleId, read for guests only
    owned_apps: frozenset[str] = frozenset()  # service principals the user owns

    @property
    def people_lookup(self) -> str:
        """How this user may find other people in the pickers: ``search`` (any part of a name), ``exact`` (a whole
        sign-in name, email or id: guests with limited access, who cannot enumerate the directory) or ``none``
        (guests restricted to their own objects). A directory role lifts a guest's limits, as in Entra."""
        if self.roles or not self.is_guest or self.guest_access == GUESTS_AS_MEMBERS:
            return "search"
        return "exact" if self.guest_access == GUESTS_LIMITED else "none"

    @property
    def is_global_admin(self) -> bool:
        return GLOBAL_ADMINISTRATOR in self.roles

    @property
    def manages_users(self) -> bool:
        return bool(self.roles & {GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR})

    @property
    def may_invite(self) -> bool:
        return self.manages_users or GUEST_INVITER in self.roles or bool(self.owned_groups or self.owned_apps)

    @property
    def may_see_users(self) -> bool:
        """The user list and user pages: User and Global Administrators (a Guest Inviter only invites)."""
        return self.manages_users

    @property
    def may_see_groups(self) -> bool:
        """The group list: administrators see every group, owners their own."""
        return self.manages_users or bool(self.owned_groups)

    @property
    def may_bulk_invite(self) -> bool:
        """Administrators and Guest Inviters: they invite anyone. Group owners without a role invite only into
        their own groups, one at a time."""
        return self.manages_users or GUEST_INVITER in self.roles

    @property
    def may_open_portal(self) -> bool:
        return self.may_invite or self.may_see_users or self.may_bulk_invite

    def manages_group(self, group_id: str) -> bool:
        return self.manages_users or group_id in self.owned_groups

    def manages_app(self, sp_id: str) -> bool:
        """An app's page (its users and groups, assigning them): Global Administrators, and the app's owners."""
        return self.is_global_admin or sp_id in self.owned_apps


def access_of(session: Session, tenant_id: str, user_id: str) -> Access:
    owned = session.scalars(
        select(GroupMember.group_id)
        .join(Group, Group.id == GroupMember.group_id)
        .where(
            GroupMember.tenant_id == tenant_id,
            GroupMember.relation == "owner",
            GroupMember.member_id == user_id,
            Group.deleted_at.is_(None),
        )
    )
    roles = frozenset(directory_roles(session, tenant_id, user_id))
    is_guest = session.scalar(select(User.user_type).where(User.tenant_id == tenant_id, User.id == user_id)) == "Guest"
    level = guest_access_of(load_policy(session, tenant_id)) if is_guest else GUESTS_LIMITED
    apps = session.scalars(
        select(ServicePrincipalOwner.service_principal_id).where(
            ServicePrincipalOwner.tenant_id == tenant_id, ServicePrincipalOwner.owner_id == user_id
        )
    )
    return Access(roles, frozenset(owned), is_guest, level, frozenset(apps))


def load_access(sessions: sessionmaker[Session], tenant_id: str, user_id: str) -> Access:
    """Read on every portal request, so a removed role takes effect at once."""
    with sessions() as session:
        return access_of(session, tenant_id, user_id)
