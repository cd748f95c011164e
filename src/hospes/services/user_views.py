"""Read models of the portal's Users screen: the list (search, filter, sort, the multi-select), one user's page
(groups, owned groups, app roles, invitations with what became of each email, sponsors, directory roles) and the
pickers' search, always within the acting principal's tenant. Lists are paged (``Listing``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from hospes.domain.errors import NotFoundError
from hospes.domain.principals import DEFAULT_ACCESS_ROLE_ID, DIRECTORY_ROLES, GLOBAL_ADMINISTRATOR
from hospes.services.apps import AppService
from hospes.services.b2b_policy import directory_roles
from hospes.services.base import Services
from hospes.services.groups import GroupService
from hospes.storage.tables import (
    AppRoleAssignment,
    Group,
    GroupMember,
    Invitation,
    OutboxMessage,
    ServicePrincipal,
    User,
    UserSponsor,
)
from hospes.storage.tables_signin import TotpAuthenticator

PAGE_SIZE = 25
MAX_SELECTION = 100  # users acted on at once from the list


# --- read models -------------------------------------------------------------------------------------------------


@dataclass
class Listing:
    rows: list[Any]
    total: int
    page: int
    pages: int


def paged(session: Session, stmt: Select[Any], count_stmt: Select[Any], page: int, size: int = PAGE_SIZE) -> Listing:
    total = int(session.scalar(count_stmt) or 0)
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    rows = list(session.scalars(stmt.limit(size).offset((page - 1) * size)))
    return Listing(rows, total, page, pages)


def like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


USER_FILTERS = ("all", "members", "guests", "pending", "disabled", "deleted")
# The Users screen's sortable columns. Each ends on the id so that equal keys keep one order from page to page.
USER_SORTS: dict[str, tuple[Any, ...]] = {
    "name": (User.display_name,),
    "upn": (User.upn_key,),
    "type": (User.user_type, User.display_name),
    "created": (User.created_at,),
    "signin": (User.last_sign_in_at,),
}


@dataclass(frozen=True)
class Delivery:
    """What became of an invitation's email: ``state`` is notRequested, blocked (the recipient refused this
    tenant's invitations), queued, retrying (an attempt failed and another one is due), sending, sent or failed."""

    state: str
    at: datetime | None = None
    error: str | None = None
    attempts: int = 0


def delivery_of(invitation: Invitation, message: OutboxMessage | None) -> Delivery:
    if invitation.message_status == "NotRequested":
        return Delivery("notRequested")
    if invitation.message_status == "BlockedByRecipient":
        return Delivery("blocked")
    if message is None:
        return Delivery("queued")
    if message.status == "sent":
        return Delivery("sent", message.sent_at, None, message.attempts)
    if message.status == "failed":
        return Delivery("failed", None, message.last_error, message.attempts)
    if message.status == "pending" and message.attempts:
        return Delivery("retrying", message.next_attempt_at, message.last_error, message.attempts)
    return Delivery("sending" if message.status == "sending" else "queued", None, None, message.attempts)


@dataclass
class UserDetail:
    user: User
    mfa_enrolled: bool
    groups: list[Group]
    owned: list[Group]
    assignments: list[tuple[AppRoleAssignment, str, str]]  # (assignment, app name, role name)
    invitations: list[Invitation]
    sponsors: list[tuple[str, str, str]]  # (type, id, name)
    roles: list[str]  # directory role names
    role_ids: frozenset[str]  # directory role template ids
    deliveries: dict[str, Delivery]  # invitation id -> what became of its email


@dataclass(frozen=True)
class Choice:
    """One entry of a picker: a user (``detail`` its sign-in name) or a group (its description)."""

    kind: str
    id: str
    name: str
    detail: str
    exact: bool  # the text typed was this entry's sign-in name, email, id or (for a group) whole name


def role_name(roles: list[dict[str, Any]], role_id: str) -> str:
    if role_id == DEFAULT_ACCESS_ROLE_ID:
        return "Default Access"
    return next((str(r.get("displayName") or r.get("value")) for r in roles if r.get("id") == role_id), role_id)


class UserQueries(Services):
    """The Users screen's reads."""

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

    def users(
        self,
        *,
        search: str = "",
        kind: str = "all",
        page: int = 1,
        size: int = PAGE_SIZE,
        sort: str = "name",
        descending: bool = False,
    ) -> Listing:
        conditions = self.user_conditions(search, kind)
        keys = [*USER_SORTS.get(sort, USER_SORTS["name"]), User.id]
        with self.read() as session:
            # (display_name, id) is the order of ix_users_tenant_display: a page reads its rows from the index.
            order = [k.desc() if descending else k.asc() for k in keys]
            if sort == "signin":  # never signed in: last either way, on both backends (they place NULL apart)
                order[0] = order[0].nulls_last()
            stmt = select(User).where(*conditions).order_by(*order)
            count = select(func.count()).select_from(User).where(*conditions)
            return paged(session, stmt, count, page, size)

    def user_conditions(self, search: str, kind: str) -> list[ColumnElement[bool]]:
        """The Users screen's search and filter, shared by the list and its CSV export."""
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
            pattern = like_pattern(search)
            conditions.append(
                or_(
                    func.lower(User.display_name).like(pattern, escape="\\"),
                    User.upn_key.like(pattern, escape="\\"),
                    User.mail_key.like(pattern, escape="\\"),
                )
            )
        return conditions

    def selection(self, ids: list[str], *, deleted: bool) -> list[tuple[User, bool]]:
        """The chosen users of a multi-select (live, or deleted ones), each with whether it is a Global
        Administrator (whom only another one may act on), in name order; ids of other tenants are not found."""
        state = User.deleted_at.is_not(None) if deleted else User.deleted_at.is_(None)
        with self.read() as session:
            rows = session.scalars(
                select(User)
                .where(User.tenant_id == self.tenant_id, User.id.in_(ids[:MAX_SELECTION]), state)
                .order_by(User.display_name, User.id)
            )
            return [(u, GLOBAL_ADMINISTRATOR in directory_roles(session, self.tenant_id, u.id)) for u in list(rows)]

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
            messages = {
                m.related_id: m
                for m in session.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.related_id.in_([i.id for i in invitations]),
                        OutboxMessage.tenant_id == self.tenant_id,
                        OutboxMessage.kind == "invitation",
                    )
                )
            }
            deliveries = {i.id: delivery_of(i, messages.get(i.id)) for i in invitations}
            sponsors: list[tuple[str, str, str]] = []
            for link in session.scalars(
                select(UserSponsor)
                .where(UserSponsor.tenant_id == self.tenant_id, UserSponsor.user_id == user.id)
                .order_by(UserSponsor.created_at, UserSponsor.sponsor_id)
            ):
                table: Any = User if link.sponsor_type == "user" else Group
                obj = session.get(table, link.sponsor_id)
                if obj is not None and obj.deleted_at is None:
                    sponsors.append((link.sponsor_type, obj.id, obj.display_name or ""))
            role_ids = frozenset(directory_roles(session, self.tenant_id, user.id))
            role_names = sorted(DIRECTORY_ROLES[r][0] for r in role_ids)
            enrolled = session.get(TotpAuthenticator, user.id) is not None
            return UserDetail(
                user, enrolled, groups, owned, assignments, invitations, sponsors, role_names, role_ids, deliveries
            )

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

    def search_people(
        self, text: str, *, users: bool = True, groups: bool = False, guests_only: bool = False, limit: int = 10
    ) -> list[Choice]:
        """What a picker offers for ``text``: live users (name, sign-in name or email containing it) and groups
        (name containing it), exact matches first, then by name; at most ``limit`` of each kind."""
        key = text.strip().lower()[:256]
        if not key:
            return []
        pattern = like_pattern(key)
        out: list[Choice] = []
        with self.read() as session:
            if users:
                conditions: list[ColumnElement[bool]] = [
                    User.tenant_id == self.tenant_id,
                    User.deleted_at.is_(None),
                    or_(
                        func.lower(User.display_name).like(pattern, escape="\\"),
                        User.upn_key.like(pattern, escape="\\"),
                        User.mail_key.like(pattern, escape="\\"),
                        User.id == key,
                    ),
                ]
                if guests_only:
                    conditions.append(User.user_type == "Guest")
                exact = or_(User.upn_key == key, User.mail_key == key, User.id == key)
                rows = session.scalars(
                    select(User).where(*conditions).order_by(exact.desc(), User.display_name, User.id).limit(limit)
                )
                for u in rows:
                    is_exact = key in (u.upn_key, u.mail_key, u.id)
                    out.append(
                        Choice("user", u.id, u.display_name or u.user_principal_name, u.user_principal_name, is_exact)
                    )
            if groups:
                name = func.lower(Group.display_name)
                rows_g = session.scalars(
                    select(Group)
                    .where(
                        Group.tenant_id == self.tenant_id,
                        Group.deleted_at.is_(None),
                        or_(name.like(pattern, escape="\\"), Group.id == key),
                    )
                    .order_by((name == key).desc(), name, Group.id)
                    .limit(limit)
                )
                for g in rows_g:
                    out.append(
                        Choice(
                            "group", g.id, g.display_name, g.description or "", key in (g.display_name.lower(), g.id)
                        )
                    )
        return out
