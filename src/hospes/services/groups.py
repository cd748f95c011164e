"""Groups and their members and owners (users, nested groups, service principals)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.schema import GROUP
from hospes.domain.validation import require
from hospes.services import group_rules
from hospes.services.base import Services, Write
from hospes.services.listing import ListQuery, Page, list_page
from hospes.storage.tables import AppRoleAssignment, DirectoryRoleMember, Group, GroupMember, ServicePrincipal, User

ALREADY_MEMBER = "One or more added object references already exist for the following modified properties: '{}'."
NOT_MEMBER = "One or more removed object references do not exist for the following modified properties: '{}'."
_RELATION_PROPERTY = {"member": "members", "owner": "owners"}
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def reference_id(odata_id: Any) -> str:
    """The object id at the end of an ``@odata.id`` URL; any host is accepted, as Graph clients vary."""
    if not isinstance(odata_id, str) or not odata_id:
        raise InvalidInputError("Invalid object reference: '@odata.id' must be a URL of a directory object.")
    last = odata_id.rstrip("/").rsplit("/", 1)[-1]
    match = _GUID.search(last)
    if not match:
        raise InvalidInputError(f"Invalid object identifier '{last}'.")
    return match.group(0).lower()


class GroupService(Services):
    def find(self, session: Session, group_id: str, *, include_deleted: bool = False) -> Group:
        stmt = select(Group).where(Group.tenant_id == self.tenant_id, Group.id == group_id)
        if not include_deleted:
            stmt = stmt.where(Group.deleted_at.is_(None))
        group = session.scalar(stmt)
        if group is None:
            raise NotFoundError(group_id)
        return group

    def get(self, group_id: str) -> Group:
        with self.read() as session:
            return self.find(session, group_id)

    def page(self, query: ListQuery, *, deleted: bool = False) -> Page:
        with self.read() as session:
            state = Group.deleted_at.is_not(None) if deleted else Group.deleted_at.is_(None)
            return list_page(session, GROUP, Group, [Group.tenant_id == self.tenant_id, state], query)

    def create(self, values: dict[str, Any], members: list[str], owners: list[str]) -> Group:
        require(GROUP, values, "displayName", "mailNickname", "mailEnabled", "securityEnabled")
        with self.write("GroupManagement", "Add group") as op:
            needs_pass = group_rules.prepare(op.session, self.tenant_id, None, values)
            group = Group(id=new_id(), tenant_id=self.tenant_id, created_at=op.now, **values)
            op.session.add(group)
            op.session.flush()
            op.target("Group", group.id, group.display_name)
            op.change(ObjectType.GROUP, group.id, ChangeType.CREATED, [p.name for p in GROUP.props])
            if members:
                group_rules.refuse_manual_members(group)
            if needs_pass:
                group_rules.request_pass(op.session, self.tenant_id, group.id)
            for member_id in members:
                self.insert_reference(op, group, "member", member_id)
            for owner_id in owners:
                self.insert_reference(op, group, "owner", owner_id)
            return group

    def update(self, group_id: str, values: dict[str, Any], bind_members: list[str]) -> Group:
        with self.write("GroupManagement", "Update group") as op:
            group = self.find(op.session, group_id)
            op.target("Group", group.id, group.display_name)
            for attr in ("display_name", "mail_nickname", "mail_enabled", "security_enabled"):
                if attr in values and values[attr] in (None, ""):
                    raise InvalidInputError(f"Invalid value specified for property '{attr}'.")
            needs_pass = group_rules.prepare(op.session, self.tenant_id, group, values)
            changed = op.record_changes(group, values, {p.attr: p.name for p in GROUP.props if p.attr})
            op.details["modifiedProperties"] = changed
            for attr, value in values.items():
                setattr(group, attr, value)
            if changed:
                op.change(ObjectType.GROUP, group.id, ChangeType.UPDATED, changed)
            if needs_pass:
                group_rules.request_pass(op.session, self.tenant_id, group.id)
            if len(bind_members) > 20:
                raise InvalidInputError("No more than 20 members may be added in one request.")
            if bind_members:
                group_rules.refuse_manual_members(group)
            for member_id in bind_members:
                self.insert_reference(op, group, "member", member_id)
            return group

    def soft_delete(self, group_id: str) -> None:
        with self.write("GroupManagement", "Delete group") as op:
            group = self.find(op.session, group_id)
            op.target("Group", group.id, group.display_name)
            group.deleted_at = op.now
            op.change(ObjectType.GROUP, group.id, ChangeType.DELETED)

    def restore(self, op: Write, group: Group) -> None:
        op.name("Restore group", "GroupManagement")
        group.deleted_at = None
        op.target("Group", group.id, group.display_name)
        op.change(ObjectType.GROUP, group.id, ChangeType.RESTORED, [p.name for p in GROUP.props])
        if group_rules.is_dynamic(group) and group.membership_rule_processing_state == "On":
            group_rules.request_pass(op.session, self.tenant_id, group.id)

    def apply_rule_members(
        self, op: Write, group: Group, adds: Sequence[str], removes: Sequence[tuple[str, str]]
    ) -> None:
        """Users a dynamic group's rule now selects (``adds``) and members it no longer does (``removes``: id and
        Graph type): the rows and change-log entries of any membership change, so delta, app assignments through
        the group and provisioning follow. Callers pass only real differences."""
        if adds:
            rows = [
                {
                    "group_id": group.id,
                    "relation": "member",
                    "member_id": user_id,
                    "member_type": "user",
                    "tenant_id": self.tenant_id,
                    "created_at": op.now,
                }
                for user_id in adds
            ]
            op.session.execute(insert(GroupMember), rows)
        for user_id in adds:
            op.change(
                ObjectType.GROUP,
                group.id,
                ChangeType.MEMBER_ADDED,
                ["members"],
                related_id=user_id,
                related_type="user",
            )
        if removes:
            op.session.execute(
                delete(GroupMember).where(
                    GroupMember.group_id == group.id,
                    GroupMember.relation == "member",
                    GroupMember.member_id.in_([member_id for member_id, _ in removes]),
                )
            )
        for member_id, kind in removes:
            op.change(
                ObjectType.GROUP,
                group.id,
                ChangeType.MEMBER_REMOVED,
                ["members"],
                related_id=member_id,
                related_type=kind,
            )

    def hard_delete(self, op: Write, group: Group) -> None:
        op.name("Hard delete group", "GroupManagement")
        op.target("Group", group.id, group.display_name)
        self.detach(op, group.id, "group")
        op.session.delete(group)
        op.change(ObjectType.GROUP, group.id, ChangeType.HARD_DELETED)

    def detach(self, op: Write, object_id: str, kind: str) -> None:
        """Remove an object being purged from every group, app role and directory role, recording each
        membership removal in the change log of the group that loses the member."""
        parents = op.session.scalars(
            select(GroupMember.group_id).where(
                GroupMember.tenant_id == self.tenant_id,
                GroupMember.member_id == object_id,
                GroupMember.relation == "member",
            )
        )
        for parent_id in list(parents):
            op.change(
                ObjectType.GROUP,
                parent_id,
                ChangeType.MEMBER_REMOVED,
                ["members"],
                related_id=object_id,
                related_type=kind,
            )
        links: tuple[tuple[Any, Any], ...] = (
            (GroupMember, GroupMember.member_id),
            (AppRoleAssignment, AppRoleAssignment.principal_id),
            (DirectoryRoleMember, DirectoryRoleMember.principal_id),
        )
        for table, column in links:
            op.session.execute(delete(table).where(table.tenant_id == self.tenant_id, column == object_id))

    def add_reference(self, group_id: str, relation: str, object_id: str) -> None:
        activity = "Add member to group" if relation == "member" else "Add owner to group"
        with self.write("GroupManagement", activity) as op:
            group = self.find(op.session, group_id)
            op.target("Group", group.id, group.display_name)
            if relation == "member":
                group_rules.refuse_manual_members(group)
            self.insert_reference(op, group, relation, object_id)

    def remove_reference(self, group_id: str, relation: str, object_id: str) -> None:
        activity = "Remove member from group" if relation == "member" else "Remove owner from group"
        with self.write("GroupManagement", activity) as op:
            group = self.find(op.session, group_id)
            op.target("Group", group.id, group.display_name)
            if relation == "member":
                group_rules.refuse_manual_members(group)
            if not self.delete_reference(op, group, relation, object_id):
                raise InvalidInputError(NOT_MEMBER.format(_RELATION_PROPERTY[relation]))

    def delete_reference(self, op: Write, group: Group, relation: str, object_id: str) -> bool:
        """Remove a member or owner within a write (``remove_reference`` is the whole use case); False when it was
        not there."""
        row = op.session.get(GroupMember, (group.id, relation, object_id))
        if row is None:
            return False
        op.session.delete(row)
        op.details["memberId"] = object_id
        if relation == "member":
            op.change(
                ObjectType.GROUP,
                group.id,
                ChangeType.MEMBER_REMOVED,
                ["members"],
                related_id=object_id,
                related_type=row.member_type,
            )
        return True

    def references(self, group_id: str, relation: str, query: ListQuery) -> tuple[list[tuple[str, Any]], bool]:
        """Members or owners as (graph type, row), in a stable order, up to ``query.top`` after a cursor."""
        with self.read() as session:
            self.find(session, group_id)
            stmt = select(GroupMember).where(
                GroupMember.group_id == group_id,
                GroupMember.relation == relation,
                GroupMember.tenant_id == self.tenant_id,
            )
            if query.after:
                stmt = stmt.where(GroupMember.member_id > str(query.after[0]))
            links = list(session.scalars(stmt.order_by(GroupMember.member_id).limit(query.top + 1)))
            more = len(links) > query.top
            return [
                (link.member_type, obj)
                for link in links[: query.top]
                if (obj := self._load(session, link.member_type, link.member_id)) is not None
            ], more

    def member_of(self, session: Session, object_id: str, relation: str = "member") -> list[Group]:
        """Groups that directly contain the object (its ``memberOf``), or that it owns (``relation="owner"``)."""
        links = session.scalars(
            select(GroupMember.group_id)
            .where(
                GroupMember.tenant_id == self.tenant_id,
                GroupMember.member_id == object_id,
                GroupMember.relation == relation,
            )
            .order_by(GroupMember.group_id)
        )
        return [g for gid in links if (g := self._load(session, "group", gid)) is not None]

    def transitive_member_of(self, session: Session, object_id: str) -> list[Group]:
        """Groups that contain the object directly or through nested groups, each once, in id order. A deleted group
        breaks the chain through it, as it does for the members it held."""
        found: dict[str, Group] = {}
        frontier = [object_id]
        while frontier:
            parents = session.scalars(
                select(GroupMember.group_id).where(
                    GroupMember.tenant_id == self.tenant_id,
                    GroupMember.member_id.in_(frontier),
                    GroupMember.relation == "member",
                )
            )
            frontier = []
            for gid in set(parents) - found.keys():
                group = self._load(session, "group", gid)
                if group is not None:
                    found[gid] = group
                    frontier.append(gid)
        return [found[gid] for gid in sorted(found)]

    def _load(self, session: Session, kind: str, object_id: str) -> Any:
        table: Any = {"user": User, "group": Group, "servicePrincipal": ServicePrincipal}[kind]
        row = session.get(table, object_id)
        if row is None or row.tenant_id != self.tenant_id or getattr(row, "deleted_at", None) is not None:
            return None
        return row

    def resolve(self, session: Session, object_id: str) -> tuple[str, Any]:
        """A directory object of this tenant by id: (graph type, row)."""
        for kind in ("user", "group", "servicePrincipal"):
            row = self._load(session, kind, object_id)
            if row is not None:
                return kind, row
        raise NotFoundError(object_id)

    def insert_reference(self, op: Write, group: Group, relation: str, object_id: str) -> None:
        """Add a member or owner within a write (``add_reference`` is the whole use case)."""
        kind, obj = self.resolve(op.session, object_id)
        if relation == "member" and kind == "group" and self._contains(op.session, obj.id, group.id):
            raise InvalidInputError("A group cannot be a member of itself, directly or through nested groups.")
        if relation == "owner" and kind == "group":
            raise InvalidInputError("Only users and service principals can own a group.")
        if op.session.get(GroupMember, (group.id, relation, obj.id)) is not None:
            raise ConflictError(ALREADY_MEMBER.format(_RELATION_PROPERTY[relation]))
        op.session.add(
            GroupMember(
                group_id=group.id,
                relation=relation,
                member_id=obj.id,
                member_type=kind,
                tenant_id=self.tenant_id,
                created_at=op.now,
            )
        )
        op.session.flush()
        op.details.setdefault("addedIds", []).append(obj.id)
        if relation == "member":
            op.change(
                ObjectType.GROUP, group.id, ChangeType.MEMBER_ADDED, ["members"], related_id=obj.id, related_type=kind
            )

    def _contains(self, session: Session, container_id: str, wanted_id: str) -> bool:
        """True if ``wanted_id`` is ``container_id`` or nested anywhere below it (cycle check)."""
        seen: set[str] = set()
        frontier = [container_id]
        while frontier:
            current = frontier.pop()
            if current == wanted_id:
                return True
            if current in seen:
                continue
            seen.add(current)
            frontier.extend(
                session.scalars(
                    select(GroupMember.member_id).where(
                        GroupMember.group_id == current,
                        GroupMember.relation == "member",
                        GroupMember.member_type == "group",
                    )
                )
            )
        return False
