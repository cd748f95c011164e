"""The groups a user is in, directly or through nested groups: what app role assignments, token claims and
conditional access see of a user's memberships."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.storage.tables import GroupMember


def transitive_groups(session: Session, tenant_id: str, user_id: str) -> set[str]:
    """The ids of every group the user (or any object) is a member of, at any depth; a cycle ends the walk."""
    found: set[str] = set()
    frontier = {user_id}
    while frontier:
        parents = set(
            session.scalars(
                select(GroupMember.group_id).where(
                    GroupMember.tenant_id == tenant_id,
                    GroupMember.relation == "member",
                    GroupMember.member_id.in_(frontier),
                )
            )
        )
        frontier = parents - found
        found |= parents
    return found
