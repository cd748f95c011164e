"""Read models of the admin portal's lists and detail pages (users, groups, enterprise apps, audit log, outbox),
always within the acting principal's tenant. Lists are paged (``Listing``); a detail gathers what its page shows
in one read (a user's groups, owned groups, app roles, invitations, sponsors, directory roles)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from hospes.domain.errors import NotFoundError
from hospes.domain.principals import DEFAULT_ACCESS_ROLE_ID
from hospes.services.apps import AppService
from hospes.services.graph_permissions import GRAPH_APP_ID
from hospes.services.groups import GroupService
from hospes.services.user_views import Listing, UserQueries, like_pattern, paged, role_name
from hospes.storage.tables import (
    AppRoleAssignment,
    Group,
    GroupMember,
    OutboxAttempt,
    OutboxMessage,
    ServicePrincipal,
    User,
)


@dataclass
class GroupDetail:
    group: Group
    members: list[tuple[str, Any]]
    owners: list[tuple[str, Any]]


@dataclass
class AppDetail:
    sp: ServicePrincipal
    roles: list[dict[str, Any]]
    assignments: list[tuple[AppRoleAssignment, str, str]]  # (assignment, principal name, role name)


class PortalQueries(UserQueries):
    """Read-only views for the portal pages, always within the actor's tenant."""

    def find_group(self, name: str) -> Group | None:
        """A live group by id or exact display name (case-insensitive); None when absent or ambiguous."""
        key = name.strip()
        if not key:
            return None
        with self.read() as session:
            rows = list(
                session.scalars(
                    select(Group)
                    .where(
                        Group.tenant_id == self.tenant_id,
                        Group.deleted_at.is_(None),
                        or_(Group.id == key.lower(), func.lower(Group.display_name) == key.lower()),
                    )
                    .limit(2)
                )
            )
            return rows[0] if len(rows) == 1 else None

    def groups(self, *, search: str = "", only: frozenset[str] | None = None, page: int = 1) -> Listing:
        conditions: list[ColumnElement[bool]] = [Group.tenant_id == self.tenant_id, Group.deleted_at.is_(None)]
        if only is not None:
            conditions.append(Group.id.in_(sorted(only)) if only else Group.id.is_(None))
        search = search.strip()[:256]
        if search:
            conditions.append(func.lower(Group.display_name).like(like_pattern(search), escape="\\"))
        with self.read() as session:
            stmt = select(Group).where(*conditions).order_by(func.lower(Group.display_name), Group.id)
            return paged(session, stmt, select(func.count()).select_from(Group).where(*conditions), page)

    def group_choices(self, only: frozenset[str] | None = None) -> list[Group]:
        with self.read() as session:
            stmt = select(Group).where(Group.tenant_id == self.tenant_id, Group.deleted_at.is_(None))
            if only is not None:
                stmt = stmt.where(Group.id.in_(sorted(only)))
            return list(session.scalars(stmt.order_by(func.lower(Group.display_name)).limit(500)))

    def group(self, group_id: str) -> GroupDetail:
        with self.read() as session:
            service = GroupService(self.sessions, self.actor)
            group = service.find(session, group_id)
            out: dict[str, list[tuple[str, Any]]] = {"member": [], "owner": []}
            for link in session.scalars(
                select(GroupMember).where(GroupMember.tenant_id == self.tenant_id, GroupMember.group_id == group.id)
            ):
                obj = service._load(session, link.member_type, link.member_id)
                if obj is not None:
                    out[link.relation].append((link.member_type, obj))
            for items in out.values():
                items.sort(key=lambda item: (item[1].display_name or "").lower())
            return GroupDetail(group, out["member"], out["owner"])

    def apps(self, *, search: str = "", page: int = 1) -> Listing:
        conditions: list[ColumnElement[bool]] = [
            ServicePrincipal.tenant_id == self.tenant_id,
            ServicePrincipal.app_id != GRAPH_APP_ID,
        ]
        search = search.strip()[:256]
        if search:
            conditions.append(func.lower(ServicePrincipal.display_name).like(like_pattern(search), escape="\\"))
        with self.read() as session:
            stmt = select(ServicePrincipal).where(*conditions).order_by(func.lower(ServicePrincipal.display_name))
            count = select(func.count()).select_from(ServicePrincipal).where(*conditions)
            return paged(session, stmt, count, page)

    def app_choices(self) -> list[tuple[ServicePrincipal, list[dict[str, Any]]]]:
        with self.read() as session:
            rows = session.scalars(
                select(ServicePrincipal)
                .where(ServicePrincipal.tenant_id == self.tenant_id, ServicePrincipal.app_id != GRAPH_APP_ID)
                .order_by(func.lower(ServicePrincipal.display_name))
                .limit(500)
            )
            apps = AppService(self.sessions, self.actor)
            return [(sp, user_roles(apps.sp_roles(session, sp))) for sp in rows]

    def app(self, sp_id: str) -> AppDetail:
        with self.read() as session:
            apps = AppService(self.sessions, self.actor)
            sp = apps.find_sp(session, sp_id)
            if sp.app_id == GRAPH_APP_ID:
                raise NotFoundError(sp_id)
            roles = apps.sp_roles(session, sp)
            rows = session.scalars(
                select(AppRoleAssignment)
                .where(AppRoleAssignment.tenant_id == self.tenant_id, AppRoleAssignment.resource_id == sp.id)
                .order_by(AppRoleAssignment.created_at)
            )
            out = []
            for row in rows:
                table: Any = {"User": User, "Group": Group}.get(row.principal_type, ServicePrincipal)
                obj = session.get(table, row.principal_id)
                name = (obj.display_name or "") if obj is not None else row.principal_id
                out.append((row, name, role_name(roles, row.app_role_id)))
            return AppDetail(sp, roles, out)

    def outbox(self, *, status: str = "", page: int = 1) -> tuple[Listing, dict[str, list[OutboxAttempt]]]:
        conditions: list[ColumnElement[bool]] = [OutboxMessage.tenant_id == self.tenant_id]
        if status in ("pending", "sending", "sent", "failed"):
            conditions.append(OutboxMessage.status == status)
        with self.read() as session:
            stmt = select(OutboxMessage).where(*conditions).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id)
            listing = paged(session, stmt, select(func.count()).select_from(OutboxMessage).where(*conditions), page)
            ids = [m.id for m in listing.rows]
            attempts: dict[str, list[OutboxAttempt]] = {i: [] for i in ids}
            if ids:
                for attempt in session.scalars(
                    select(OutboxAttempt).where(OutboxAttempt.message_id.in_(ids)).order_by(OutboxAttempt.id)
                ):
                    attempts[attempt.message_id].append(attempt)
            return listing, attempts


def user_roles(roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """App roles a user or group can hold (plus Default Access when the app defines none)."""
    usable = [r for r in roles if "User" in r.get("allowedMemberTypes", []) and r.get("isEnabled", True)]
    return usable or [{"id": DEFAULT_ACCESS_ROLE_ID, "displayName": "Default Access", "value": None}]
