"""Memberships through nested groups: the groups a user is in (what app role assignments, token claims and
conditional access see of a user's memberships), and the users a group holds (reviews, approvers, automatic
assignments)."""

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


def member_users(session: Session, tenant_id: str, group_id: str, transitive: bool = True) -> set[str]:
    """The ids of the users in a group, through nested groups when ``transitive`` (a cycle ends the walk)."""
    users: set[str] = set()
    seen = {group_id}
    frontier = [group_id]
    while frontier:
        rows = session.execute(
            select(GroupMember.member_id, GroupMember.member_type).where(
                GroupMember.tenant_id == tenant_id,
                GroupMember.relation == "member",
                GroupMember.group_id.in_(frontier),
            )
        ).all()
        frontier = []
        for member_id, kind in rows:
            if kind == "user":
                users.add(member_id)
            elif kind == "group" and transitive and member_id not in seen:
                seen.add(member_id)
                frontier.append(member_id)
    return users
