"""Who an access review instance reviews and who reviews them, read from the directory at the moment it starts.

Set-based reads: a review over ten thousand guests reads each relation once for all of them (members, sponsors,
managers, sign-in times), never once per guest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.access_reviews import Reviewer, Scope
from hospes.services import group_rules
from hospes.services.memberships import member_users
from hospes.storage.tables import AppRoleAssignment, Group, GroupMember, ServicePrincipal, User, UserSponsor
from hospes.storage.tables_reviews import ServicePrincipalOwner

_CHUNK = 900  # ids per IN list (SQLite's default limit on bound parameters is far above; PostgreSQL has none)


@dataclass(frozen=True)
class Resource:
    id: str
    type: str  # Group | ServicePrincipal
    name: str


@dataclass(frozen=True)
class Principal:
    id: str
    name: str | None
    upn: str | None
    seen: datetime | None  # the last successful sign-in, else the creation time
    created: datetime | None
    manager_id: str | None


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def resources(session: Session, tenant_id: str, scope: Scope) -> list[Resource]:
    """The resources a definition reviews: one group, every eligible group (one instance each), or one app."""
    if scope.kind == "app":
        sp = session.get(ServicePrincipal, scope.object_id)
        if sp is None or sp.tenant_id != tenant_id:
            return []
        return [Resource(sp.id, "ServicePrincipal", sp.display_name)]
    stmt = select(Group).where(Group.tenant_id == tenant_id, Group.deleted_at.is_(None))
    if scope.kind == "group":
        stmt = stmt.where(Group.id == scope.object_id)
    groups = list(session.scalars(stmt.order_by(Group.display_name, Group.id)))
    if scope.kind == "allGroups":
        # Entra skips dynamic groups here: their members are the rule's, not a reviewer's, to remove.
        groups = [g for g in groups if not group_rules.is_dynamic(g)]
        if scope.unified_only:
            groups = [g for g in groups if "Unified" in (g.group_types or [])]
    return [Resource(g.id, "Group", g.display_name) for g in groups]


def principals(session: Session, tenant_id: str, scope: Scope, resource: Resource, now: datetime) -> list[Principal]:
    """The users the instance over ``resource`` reviews, in display-name order."""
    if resource.type == "Group":
        ids = member_users(session, tenant_id, resource.id, scope.transitive)
    else:
        ids = set(
            session.scalars(
                select(AppRoleAssignment.principal_id).where(
                    AppRoleAssignment.tenant_id == tenant_id,
                    AppRoleAssignment.resource_id == resource.id,
                    AppRoleAssignment.principal_type == "User",
                )
            )
        )
    out: list[Principal] = []
    wanted = sorted(ids)
    for chunk in _chunks(wanted):
        stmt = select(
            User.id,
            User.display_name,
            User.user_principal_name,
            User.last_successful_sign_in_at,
            User.last_sign_in_at,
            User.created_at,
            User.manager_id,
            User.user_type,
        ).where(User.tenant_id == tenant_id, User.id.in_(chunk), User.deleted_at.is_(None))
        for uid, name, upn, successful, interactive, created, manager, user_type in session.execute(stmt):
            if scope.guests_only and user_type != "Guest":
                continue
            seen = successful or interactive or created
            if scope.inactive is not None and seen is not None and seen >= now - scope.inactive:
                continue
            out.append(Principal(uid, name, upn, successful or interactive, created, manager))
    out.sort(key=lambda p: ((p.name or "").lower(), p.id))
    return out


class ReviewerResolver:
    """Reviewer queries resolved to user ids, per principal, at one moment; caches what every item shares."""

    def __init__(self, session: Session, tenant_id: str, resource: Resource, people: Sequence[Principal]) -> None:
        self.session, self.tenant_id, self.resource = session, tenant_id, resource
        self.people = {p.id: p for p in people}
        self._sponsors: dict[str, set[str]] | None = None
        self._live: dict[str, bool] = {}

    def for_items(self, specs: Sequence[Reviewer], ids: Sequence[str]) -> dict[str, set[str]]:
        """Reviewer ids per principal id. No specs means a self-review."""
        out: dict[str, set[str]] = {pid: set() for pid in ids}
        if not specs:
            for pid in ids:
                out[pid].add(pid)
            return out
        for spec in specs:
            if spec.kind == "manager":
                for pid in ids:
                    person = self.people.get(pid)
                    if person is not None and person.manager_id:
                        out[pid].add(person.manager_id)
            elif spec.kind == "sponsors":
                sponsors = self.sponsors()
                for pid in ids:
                    out[pid] |= sponsors.get(pid, set())
            else:
                shared = self.shared(spec)
                for pid in ids:
                    out[pid] |= shared
        return {pid: self.live(found) for pid, found in out.items()}

    def shared(self, spec: Reviewer) -> set[str]:
        """Reviewers that are the same for every item: a user, a group's members or owners, an app's owners."""
        if spec.kind == "user" and spec.object_id:
            return {spec.object_id}
        if spec.kind == "groupMembers" and spec.object_id:
            return member_users(self.session, self.tenant_id, spec.object_id, True)
        if spec.kind == "groupOwners" and spec.object_id:
            return self._group_owners(spec.object_id)
        if spec.kind == "appOwners" and spec.object_id:
            return self._app_owners(spec.object_id)
        if spec.kind == "reviewedGroupOwners":
            if self.resource.type == "Group":
                return self._group_owners(self.resource.id)
            return self._app_owners(self.resource.id)
        return set()

    def _group_owners(self, group_id: str) -> set[str]:
        return set(
            self.session.scalars(
                select(GroupMember.member_id).where(
                    GroupMember.tenant_id == self.tenant_id,
                    GroupMember.group_id == group_id,
                    GroupMember.relation == "owner",
                    GroupMember.member_type == "user",
                )
            )
        )

    def _app_owners(self, sp_id: str) -> set[str]:
        return set(
            self.session.scalars(
                select(ServicePrincipalOwner.owner_id).where(
                    ServicePrincipalOwner.tenant_id == self.tenant_id,
                    ServicePrincipalOwner.service_principal_id == sp_id,
                )
            )
        )

    def sponsors(self) -> dict[str, set[str]]:
        """Each principal's sponsors as users: a sponsoring group stands for its members."""
        if self._sponsors is None:
            found: dict[str, set[str]] = {}
            groups: dict[str, set[str]] = {}
            for chunk in _chunks(sorted(self.people)):
                rows = self.session.execute(
                    select(UserSponsor.user_id, UserSponsor.sponsor_id, UserSponsor.sponsor_type).where(
                        UserSponsor.tenant_id == self.tenant_id, UserSponsor.user_id.in_(chunk)
                    )
                )
                for uid, sponsor_id, kind in rows:
                    if kind == "group":
                        if sponsor_id not in groups:
                            groups[sponsor_id] = member_users(self.session, self.tenant_id, sponsor_id, True)
                        found.setdefault(uid, set()).update(groups[sponsor_id])
                    else:
                        found.setdefault(uid, set()).add(sponsor_id)
            self._sponsors = found
        return self._sponsors

    def live(self, ids: set[str]) -> set[str]:
        """Only enabled, undeleted users of the tenant review."""
        unknown = sorted(i for i in ids if i not in self._live)
        for chunk in _chunks(unknown):
            alive = set(
                self.session.scalars(
                    select(User.id).where(
                        User.tenant_id == self.tenant_id,
                        User.id.in_(chunk),
                        User.deleted_at.is_(None),
                        User.account_enabled.is_(True),
                    )
                )
            )
            for uid in chunk:
                self._live[uid] = uid in alive
        return {i for i in ids if self._live.get(i)}
