"""The signed-in user's standing, read for every request made with a delegated token: a removed role, a disabled
account or a tighter guest-access setting takes effect at once, not when the token expires."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.delegation import GUESTS_LIMITED, Standing
from hospes.domain.errors import AuthenticationError
from hospes.services.b2b_policy import directory_roles, load_policy
from hospes.storage.tables import Group, GroupMember, User


def _groups(session: Session, tenant_id: str, user_id: str, relation: str) -> frozenset[str]:
    return frozenset(
        session.scalars(
            select(GroupMember.group_id)
            .join(Group, Group.id == GroupMember.group_id)
            .where(
                GroupMember.tenant_id == tenant_id,
                GroupMember.member_id == user_id,
                GroupMember.relation == relation,
                Group.deleted_at.is_(None),
            )
        )
    )


def load_standing(sessions: sessionmaker[Session], tenant_id: str, user_id: str) -> Standing:
    """AuthenticationError when the user is no longer an enabled user of ``tenant_id``."""
    with sessions() as session:
        user = session.execute(
            select(User.upn_key, User.user_type, User.account_enabled).where(
                User.tenant_id == tenant_id, User.id == user_id, User.deleted_at.is_(None)
            )
        ).first()
        if user is None or not user.account_enabled:
            raise AuthenticationError("The user behind this token is disabled or was removed.")
        extra = load_policy(session, tenant_id).authorization_extra or {}
        guest_access = str(extra.get("guestUserRoleId") or GUESTS_LIMITED)
        defaults = extra.get("defaultUserRolePermissions") or {}
        limited_guest = user.user_type == "Guest" and guest_access == GUESTS_LIMITED
        return Standing(
            user_id=user_id,
            upn_key=user.upn_key,
            user_type=user.user_type,
            guest_access=guest_access,
            roles=frozenset(directory_roles(session, tenant_id, user_id)),
            read_other_users=defaults.get("allowedToReadOtherUsers", True) is not False,
            owned_groups=_groups(session, tenant_id, user_id, "owner"),
            member_groups=_groups(session, tenant_id, user_id, "member") if limited_guest else frozenset(),
        )
