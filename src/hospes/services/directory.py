"""Directory objects by id, deleted items (restore, permanent delete, purge), directory roles and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from hospes.domain.clock import utcnow
from hospes.domain.errors import ConflictError, NotFoundError
from hospes.domain.principals import DIRECTORY_ROLES, system_principal
from hospes.domain.schema import DIRECTORY_AUDIT
from hospes.services.base import Services
from hospes.services.groups import GroupService
from hospes.services.listing import ListQuery, Page, list_page
from hospes.services.users import UserService
from hospes.storage.tables import AuditLog as AuditLog  # the rows AuditService returns, for callers' annotations
from hospes.storage.tables import ChangeLog, DirectoryRoleMember, Group, ServicePrincipal, User


class DirectoryObjectService(Services):
    def get(self, object_id: str) -> tuple[str, Any]:
        """A user, group or service principal of this tenant by id: (Graph type name, row)."""
        with self.read() as session:
            return GroupService(self.sessions, self.actor).resolve(session, object_id)


class DeletedItemsService(Services):
    def find(self, session: Session, object_id: str) -> tuple[str, Any]:
        for kind, table in (("user", User), ("group", Group)):
            col: Any = table.id
            row = session.scalar(
                select(table).where(col == object_id, table.tenant_id == self.tenant_id, table.deleted_at.is_not(None))
            )
            if row is not None:
                return kind, row
        raise NotFoundError(object_id)

    def get(self, object_id: str) -> tuple[str, Any]:
        with self.read() as session:
            return self.find(session, object_id)

    def page(self, kind: str, query: ListQuery) -> Page:
        """The deleted users (``kind`` "user") or groups."""
        if kind == "user":
            return UserService(self.sessions, self.actor).page(query, deleted=True)
        return GroupService(self.sessions, self.actor).page(query, deleted=True)

    def restore(self, object_id: str) -> tuple[str, Any]:
        with self.write("DirectoryManagement", "Restore deleted item") as op:
            kind, row = self.find(op.session, object_id)
            if kind == "user":
                UserService(self.sessions, self.actor).restore(op, row)
            else:
                GroupService(self.sessions, self.actor).restore(op, row)
            return kind, row

    def purge(self, object_id: str) -> None:
        with self.write("DirectoryManagement", "Hard delete item") as op:
            kind, row = self.find(op.session, object_id)
            if kind == "user":
                UserService(self.sessions, self.actor).hard_delete(op, row)
            else:
                GroupService(self.sessions, self.actor).hard_delete(op, row)

    def restore_users(self, ids: list[str]) -> int:
        """Restore several deleted users in one transaction, all or none (the portal's deleted users view)."""
        users_svc = UserService(self.sessions, self.actor)
        with self.write("DirectoryManagement", "Restore deleted item") as op:
            users = users_svc.many(op.session, ids, deleted=True)
            for user in users:
                users_svc.restore(op, user)
            self.audit_each(op, "UserManagement", "Restore user", users)
            return len(users)

    def purge_users(self, ids: list[str]) -> int:
        """Delete several deleted users permanently in one transaction, all or none."""
        users_svc = UserService(self.sessions, self.actor)
        with self.write("DirectoryManagement", "Hard delete item") as op:
            users = users_svc.many(op.session, ids, deleted=True)
            for user in users:
                users_svc.hard_delete(op, user)
            self.audit_each(op, "UserManagement", "Hard delete user", users)
            return len(users)


def purge_expired(sessions: sessionmaker[Session], retention_days: int) -> int:
    """Hard-delete what stayed in deleted items past its retention; one transaction per object."""
    cutoff = utcnow() - timedelta(days=retention_days)
    with sessions() as session:
        expired = [
            (r.tenant_id, r.id)
            for t in (User, Group)
            for r in session.execute(select(t.tenant_id, t.id).where(t.deleted_at < cutoff).limit(1000))
        ]
    for tenant_id, object_id in expired:
        try:
            DeletedItemsService(sessions, system_principal(tenant_id)).purge(object_id)
        except NotFoundError:
            continue  # restored or purged meanwhile
    return len(expired)


def prune_change_log(sessions: sessionmaker[Session], retention_days: int, batch: int = 5000) -> int:
    """Delete old change-log rows in small batches so writers are never blocked for long."""
    cutoff = utcnow() - timedelta(days=retention_days)
    total = 0
    while True:
        with sessions.begin() as session:
            # The newest row of each tenant and type stays, however old: delta tokens are checked against it.
            later = aliased(ChangeLog)
            newest = (
                select(func.max(later.seq))
                .where(later.tenant_id == ChangeLog.tenant_id, later.object_type == ChangeLog.object_type)
                .scalar_subquery()
            )
            old = select(ChangeLog.seq).where(ChangeLog.at < cutoff, ChangeLog.seq < newest)
            seqs = list(session.scalars(old.limit(batch)))
            if seqs:
                session.execute(delete(ChangeLog).where(ChangeLog.seq.in_(seqs)))
        total += len(seqs)
        if len(seqs) < batch:
            return total


class DirectoryRoleService(Services):
    def roles(self) -> list[tuple[str, str, str]]:
        return [(rid, name, desc) for rid, (name, desc) in DIRECTORY_ROLES.items()]

    def role(self, role_id: str) -> tuple[str, str, str]:
        if role_id not in DIRECTORY_ROLES:
            raise NotFoundError(role_id)
        name, desc = DIRECTORY_ROLES[role_id]
        return role_id, name, desc

    def members(self, role_id: str) -> list[tuple[str, Any]]:
        self.role(role_id)
        with self.read() as session:
            links = session.scalars(
                select(DirectoryRoleMember).where(
                    DirectoryRoleMember.tenant_id == self.tenant_id,
                    DirectoryRoleMember.role_template_id == role_id,
                )
            )
            out = []
            for link in links:
                table: Any = User if link.principal_type == "user" else ServicePrincipal
                row = session.get(table, link.principal_id)
                if row is not None and getattr(row, "deleted_at", None) is None:
                    out.append((link.principal_type, row))
            return out

    def add_member(self, role_id: str, object_id: str) -> None:
        _, name, _ = self.role(role_id)
        with self.write("RoleManagement", "Add member to role") as op:
            kind, row = GroupService(self.sessions, self.actor).resolve(op.session, object_id)
            if kind == "group":
                raise ConflictError("Groups cannot be assigned a directory role here.")
            op.target("Role", role_id, name)
            if op.session.get(DirectoryRoleMember, (self.tenant_id, role_id, row.id)) is not None:
                raise ConflictError(
                    "One or more added object references already exist for the following modified "
                    "properties: 'members'."
                )
            op.session.add(
                DirectoryRoleMember(
                    tenant_id=self.tenant_id,
                    role_template_id=role_id,
                    principal_id=row.id,
                    principal_type=kind,
                )
            )
            op.details["memberId"] = row.id

    def remove_member(self, role_id: str, object_id: str) -> None:
        _, name, _ = self.role(role_id)
        with self.write("RoleManagement", "Remove member from role") as op:
            op.target("Role", role_id, name)
            link = op.session.get(DirectoryRoleMember, (self.tenant_id, role_id, object_id))
            if link is None:
                raise NotFoundError(object_id)
            op.session.delete(link)


class AuditService(Services):
    def page(self, query: ListQuery) -> Page:
        if not query.orderby:
            query.orderby = [("activityDateTime", True)]
        with self.read() as session:
            # Graph allows $orderby with $filter on audit logs without advanced-query headers.
            return list_page(
                session,
                DIRECTORY_AUDIT,
                AuditLog,
                [AuditLog.tenant_id == self.tenant_id],
                query,
                allow_advanced=True,
            )
