"""Read models of the admin portal's lists and detail pages (users, groups, enterprise apps, audit log, outbox),
always within the acting principal's tenant. Lists are paged (``Listing``); a detail gathers what its page shows
in one read (a user's groups, owned groups, app roles, invitations, sponsors, directory roles)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from hospes.domain.errors import NotFoundError
from hospes.domain.principals import DEFAULT_ACCESS_ROLE_ID, DIRECTORY_ROLES
from hospes.services.apps import GRAPH_APP_ID, AppService
from hospes.services.b2b_policy import directory_roles
from hospes.services.base import Services
from hospes.services.groups import GroupService
from hospes.storage.tables import (
    AppRoleAssignment,
    AuditLog,
    Group,
    GroupMember,
    Invitation,
    OutboxAttempt,
    OutboxMessage,
    ServicePrincipal,
    TotpAuthenticator,
    User,
    UserSponsor,
)

PAGE_SIZE = 25


# --- read models -------------------------------------------------------------------------------------------------


@dataclass
class Listing:
    rows: list[Any]
    total: int
    page: int
    pages: int


def _paged(session: Session, stmt: Select[Any], count_stmt: Select[Any], page: int, size: int = PAGE_SIZE) -> Listing:
    total = int(session.scalar(count_stmt) or 0)
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    rows = list(session.scalars(stmt.limit(size).offset((page - 1) * size)))
    return Listing(rows, total, page, pages)


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


USER_FILTERS = ("all", "members", "guests", "pending", "disabled", "deleted")


@dataclass
class UserDetail:
    user: User
    mfa_enrolled: bool
    groups: list[Group]
    owned: list[Group]
    assignments: list[tuple[AppRoleAssignment, str, str]]  # (assignment, app name, role name)
    invitations: list[Invitation]
    sponsors: list[tuple[str, str]]  # (type, name)
    roles: list[str]  # directory role names
    role_ids: frozenset[str]  # directory role template ids


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


def role_name(roles: list[dict[str, Any]], role_id: str) -> str:
    if role_id == DEFAULT_ACCESS_ROLE_ID:
        return "Default Access"
    return next((str(r.get("displayName") or r.get("value")) for r in roles if r.get("id") == role_id), role_id)


class PortalQueries(Services):
    """Read-only views for the portal pages, always within the actor's tenant."""

    def counts(self) -> dict[str, int]:
        with self.read() as session:
            live = [User.tenant_id == self.tenant_id, User.deleted_at.is_(None)]

            def count(*extra: ColumnElement[bool]) -> int:
                return int(session.scalar(select(func.count()).select_from(User).where(*live, *extra)) or 0)

            return {
                "members": count(User.user_type == "Member"),
                "guests": count(User.user_type == "Guest"),
                "pending": count(User.external_user_state == "PendingAcceptance"),
            }

    def users(self, *, search: str = "", kind: str = "all", page: int = 1, size: int = PAGE_SIZE) -> Listing:
        conditions: list[ColumnElement[bool]] = [User.tenant_id == self.tenant_id]
        conditions.append(User.deleted_at.is_not(None) if kind == "deleted" else User.deleted_at.is_(None))
        if kind == "members":
            conditions.append(User.user_type == "Member")
        elif kind == "guests":
            conditions.append(User.user_type == "Guest")
        elif kind == "pending":
            conditions.append(User.external_user_state == "PendingAcceptance")
        elif kind == "disabled":
            conditions.append(User.account_enabled.is_(False))
        search = search.strip()[:256]
        if search:
            pattern = _like(search)
            conditions.append(
                or_(
                    func.lower(User.display_name).like(pattern, escape="\\"),
                    User.upn_key.like(pattern, escape="\\"),
                    User.mail_key.like(pattern, escape="\\"),
                )
            )
        with self.read() as session:
            # (display_name, id) is the order of ix_users_tenant_display: a page reads its rows from the index.
            stmt = select(User).where(*conditions).order_by(User.display_name, User.id)
            count = select(func.count()).select_from(User).where(*conditions)
            return _paged(session, stmt, count, page, size)

    def user(self, user_id: str, *, include_deleted: bool = False) -> UserDetail:
        with self.read() as session:
            stmt = select(User).where(User.tenant_id == self.tenant_id, User.id == user_id)
            if not include_deleted:
                stmt = stmt.where(User.deleted_at.is_(None))
            user = session.scalar(stmt)
            if user is None:
                raise NotFoundError(user_id)
            groups_svc = GroupService(self.sessions, self.actor)
            groups = sorted(groups_svc.member_of(session, user.id), key=lambda g: g.display_name.lower())
            owned = list(
                session.scalars(
                    select(Group)
                    .join(GroupMember, GroupMember.group_id == Group.id)
                    .where(
                        GroupMember.tenant_id == self.tenant_id,
                        GroupMember.relation == "owner",
                        GroupMember.member_id == user.id,
                        Group.deleted_at.is_(None),
                    )
                    .order_by(Group.display_name)
                )
            )
            assignments = []
            for row in session.scalars(
                select(AppRoleAssignment).where(
                    AppRoleAssignment.tenant_id == self.tenant_id, AppRoleAssignment.principal_id == user.id
                )
            ):
                sp = session.get(ServicePrincipal, row.resource_id)
                if sp is None:
                    continue
                roles = AppService(self.sessions, self.actor).sp_roles(session, sp)
                assignments.append((row, sp.display_name, role_name(roles, row.app_role_id)))
            invitations = list(
                session.scalars(
                    select(Invitation)
                    .where(Invitation.tenant_id == self.tenant_id, Invitation.invited_user_id == user.id)
                    .order_by(Invitation.created_at.desc())
                    .limit(50)
                )
            )
            sponsors: list[tuple[str, str]] = []
            for link in session.scalars(
                select(UserSponsor).where(UserSponsor.tenant_id == self.tenant_id, UserSponsor.user_id == user.id)
            ):
                table: Any = User if link.sponsor_type == "user" else Group
                obj = session.get(table, link.sponsor_id)
                if obj is not None and obj.deleted_at is None:
                    sponsors.append((link.sponsor_type, obj.display_name or ""))
            role_ids = frozenset(directory_roles(session, self.tenant_id, user.id))
            role_names = sorted(DIRECTORY_ROLES[r][0] for r in role_ids)
            enrolled = session.get(TotpAuthenticator, user.id) is not None
            return UserDetail(user, enrolled, groups, owned, assignments, invitations, sponsors, role_names, role_ids)

    def last_invitation(self, user_id: str) -> Invitation | None:
        with self.read() as session:
            return session.scalar(
                select(Invitation)
                .where(Invitation.tenant_id == self.tenant_id, Invitation.invited_user_id == user_id)
                .order_by(Invitation.created_at.desc())
                .limit(1)
            )

    def find_user(self, key: str) -> User | None:
        """A live user by UPN, email or id (the "add member" boxes accept any of them)."""
        key = key.strip().lower()
        if not key:
            return None
        with self.read() as session:
            return session.scalar(
                select(User)
                .where(
                    User.tenant_id == self.tenant_id,
                    User.deleted_at.is_(None),
                    or_(User.upn_key == key, User.mail_key == key, User.id == key),
                )
                .limit(1)
            )

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
            conditions.append(func.lower(Group.display_name).like(_like(search), escape="\\"))
        with self.read() as session:
            stmt = select(Group).where(*conditions).order_by(func.lower(Group.display_name), Group.id)
            return _paged(session, stmt, select(func.count()).select_from(Group).where(*conditions), page)

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
            conditions.append(func.lower(ServicePrincipal.display_name).like(_like(search), escape="\\"))
        with self.read() as session:
            stmt = select(ServicePrincipal).where(*conditions).order_by(func.lower(ServicePrincipal.display_name))
            count = select(func.count()).select_from(ServicePrincipal).where(*conditions)
            return _paged(session, stmt, count, page)

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

    def audit(self, *, category: str = "", search: str = "", result: str = "", page: int = 1) -> Listing:
        conditions: list[ColumnElement[bool]] = [AuditLog.tenant_id == self.tenant_id]
        if category:
            conditions.append(AuditLog.category == category[:64])
        if result in ("success", "failure"):
            conditions.append(AuditLog.result == result)
        search = search.strip()[:256]
        if search:
            pattern = _like(search)
            conditions.append(
                or_(
                    func.lower(AuditLog.activity).like(pattern, escape="\\"),
                    func.lower(AuditLog.target_name).like(pattern, escape="\\"),
                    func.lower(AuditLog.actor_name).like(pattern, escape="\\"),
                )
            )
        with self.read() as session:
            stmt = select(AuditLog).where(*conditions).order_by(AuditLog.at.desc(), AuditLog.id)
            return _paged(session, stmt, select(func.count()).select_from(AuditLog).where(*conditions), page, 50)

    def audit_categories(self) -> list[str]:
        with self.read() as session:
            return list(
                session.scalars(
                    select(AuditLog.category)
                    .where(AuditLog.tenant_id == self.tenant_id)
                    .distinct()
                    .order_by(AuditLog.category)
                )
            )

    def outbox(self, *, status: str = "", page: int = 1) -> tuple[Listing, dict[str, list[OutboxAttempt]]]:
        conditions: list[ColumnElement[bool]] = [OutboxMessage.tenant_id == self.tenant_id]
        if status in ("pending", "sending", "sent", "failed"):
            conditions.append(OutboxMessage.status == status)
        with self.read() as session:
            stmt = select(OutboxMessage).where(*conditions).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id)
            listing = _paged(session, stmt, select(func.count()).select_from(OutboxMessage).where(*conditions), page)
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
