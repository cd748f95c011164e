"""The signed-in user's standing, read for every request made with a delegated token: a removed role, a disabled
account or a tighter guest-access setting takes effect at once, not when the token expires.

Two indexed reads on a pooled connection (``storage.engine.read_one``/``read_all``, statements compiled once): the
user with the tenant's authorization policy, then the user's directory roles and owned groups (and, for a guest
with limited access, the groups they belong to). Through a session the same reads cost several times more, on
every request a user makes.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, bindparam, literal, select, union_all

from hospes.domain.delegation import GUESTS_LIMITED, Standing
from hospes.domain.errors import AuthenticationError
from hospes.storage.engine import read_all, read_one
from hospes.storage.tables import B2BPolicy, DirectoryRoleMember, Group, GroupMember, User

_USER = (
    select(User.upn_key, User.user_type, User.account_enabled, B2BPolicy.authorization_extra)
    .outerjoin(B2BPolicy, B2BPolicy.tenant_id == User.tenant_id)
    .where(User.tenant_id == bindparam("tenant"), User.id == bindparam("user"), User.deleted_at.is_(None))
)


def _links(*, memberships: bool) -> Any:
    groups = (
        select(GroupMember.relation, GroupMember.group_id)
        .join(Group, Group.id == GroupMember.group_id)
        .where(
            GroupMember.tenant_id == bindparam("tenant"),
            GroupMember.member_id == bindparam("user"),
            Group.deleted_at.is_(None),
        )
    )
    if not memberships:  # group links are memberships and ownerships
        groups = groups.where(GroupMember.relation == "owner")
    return union_all(
        select(literal("role"), DirectoryRoleMember.role_template_id).where(
            DirectoryRoleMember.tenant_id == bindparam("tenant"), DirectoryRoleMember.principal_id == bindparam("user")
        ),
        groups,
    )


_ROLES_AND_OWNED = _links(memberships=False)
_ROLES_OWNED_AND_GROUPS = _links(memberships=True)


def load_standing(engine: Engine, tenant_id: str, user_id: str) -> Standing:
    """AuthenticationError when the user is no longer an enabled user of ``tenant_id``."""
    params = {"tenant": tenant_id, "user": user_id}
    user = read_one(engine, _USER, params)
    if user is None or not user[2]:
        raise AuthenticationError("The user behind this token is disabled or was removed.")
    upn_key, user_type, _, extra_raw = user
    extra: dict[str, Any] = (json.loads(extra_raw) if isinstance(extra_raw, str) else extra_raw) or {}
    guest_access = str(extra.get("guestUserRoleId") or GUESTS_LIMITED)
    defaults = extra.get("defaultUserRolePermissions") or {}
    limited_guest = user_type == "Guest" and guest_access == GUESTS_LIMITED
    links = read_all(engine, _ROLES_OWNED_AND_GROUPS if limited_guest else _ROLES_AND_OWNED, params)
    return Standing(
        user_id=user_id,
        upn_key=upn_key,
        user_type=user_type,
        guest_access=guest_access,
        roles=frozenset(value for kind, value in links if kind == "role"),
        read_other_users=defaults.get("allowedToReadOtherUsers", True) is not False,
        owned_groups=frozenset(value for kind, value in links if kind == "owner"),
        member_groups=frozenset(value for kind, value in links if kind == "member"),
    )
