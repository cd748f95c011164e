"""The memberships and app roles an access package gives, through the group and app-role services (so the change
log, delta, provisioning and cross-tenant synchronization see them as any other), counted across packages: a role
that two delivered assignments of the same person give stays until the last of them ends.

A grant the person already held is left as it is when a package delivers it; when the package's last assignment
that gives it ends, it is removed all the same, as Entra does (a role held through a package is the package's)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.entitlements import GROUP, LIVE_ASSIGNMENT_STATES
from hospes.services.apps import AppService
from hospes.services.base import Write
from hospes.services.groups import GroupService
from hospes.storage.tables import AppRoleAssignment, Group, GroupMember
from hospes.storage.tables_entitlement import EmAssignment, EmRoleScope


@dataclass
class _Target:
    """What an inner service call may set on the write's audit row, kept so the entitlement write stays its
    target."""

    kind: str | None
    object_id: str | None
    name: str | None


def _keep_target(op: Write) -> _Target:
    return _Target(op.target_type, op.target_id, op.target_name)


def _restore(op: Write, saved: _Target) -> None:
    op.target_type, op.target_id, op.target_name = saved.kind, saved.object_id, saved.name


def package_scopes(op: Write, package_id: str) -> list[EmRoleScope]:
    """The package's role scopes, read once per transaction (a batch of expiries of one package reads them once);
    a change of the scopes within the transaction clears the cache (``forget_scopes``)."""
    cache: dict[str, list[EmRoleScope]] = op.session.info.setdefault(_SCOPES, {})
    if package_id not in cache:
        cache[package_id] = list(op.session.scalars(select(EmRoleScope).where(EmRoleScope.package_id == package_id)))
    return cache[package_id]


def forget_scopes(op: Write) -> None:
    op.session.info.pop(_SCOPES, None)


_SCOPES = "hospes.entitlement.scopes"
_HOLDERS = "hospes.entitlement.holders"  # (user, origin, role) -> the live assignments giving it
_INDEXED = "hospes.entitlement.indexed"  # the users ``_HOLDERS`` is complete for


def remember_scopes(session: Session, scopes: list[EmRoleScope], package_ids: set[str]) -> None:
    cache: dict[str, list[EmRoleScope]] = session.info.setdefault(_SCOPES, {})
    for package_id in package_ids:
        cache[package_id] = [s for s in scopes if s.package_id == package_id]


def grant(op: Write, scope: EmRoleScope, user_id: str) -> bool:
    """Give ``user_id`` the role of ``scope``; False when they already held it."""
    saved = _keep_target(op)
    try:
        if scope.origin_system == GROUP:
            relation = "owner" if scope.role_origin_id.startswith("Owner_") else "member"
            if op.session.get(GroupMember, (scope.origin_id, relation, user_id)) is not None:
                return False
            group = op.session.get(Group, scope.origin_id)
            if group is None or group.deleted_at is not None:
                return False
            GroupService(_sessions(op), op.actor).insert_reference(op, group, relation, user_id)
            return True
        held = op.session.scalar(
            select(AppRoleAssignment.id).where(
                AppRoleAssignment.resource_id == scope.origin_id,
                AppRoleAssignment.principal_id == user_id,
                AppRoleAssignment.app_role_id == scope.role_origin_id,
            )
        )
        if held:
            return False
        AppService(_sessions(op), op.actor).insert_assignment(op, user_id, scope.origin_id, scope.role_origin_id)
        return True
    finally:
        _restore(op, saved)


def preload(session: Session, tenant_id: str, user_ids: set[str]) -> None:
    """Read once, for a batch, which live assignments give each of these users which roles; ``held_elsewhere``
    answers from it (and ``grant_all``/``revoke_all`` keep it current) instead of a query per role."""
    holders: dict[tuple[str, str, str], set[str]] = session.info.setdefault(_HOLDERS, {})
    rows = session.execute(
        select(EmAssignment.id, EmAssignment.target_user_id, EmRoleScope.origin_id, EmRoleScope.role_origin_id)
        .join(EmRoleScope, EmRoleScope.package_id == EmAssignment.package_id)
        .where(
            EmAssignment.tenant_id == tenant_id,
            EmAssignment.target_user_id.in_(user_ids),
            EmAssignment.state.in_(LIVE_ASSIGNMENT_STATES),
        )
    )
    for assignment_id, user_id, origin_id, role_origin_id in rows:
        holders.setdefault((str(user_id), origin_id, role_origin_id), set()).add(assignment_id)
    session.info.setdefault(_INDEXED, set()).update(user_ids)


def _index(op: Write, user_id: str) -> dict[tuple[str, str, str], set[str]] | None:
    if user_id in op.session.info.get(_INDEXED, ()):
        holders: dict[tuple[str, str, str], set[str]] = op.session.info[_HOLDERS]
        return holders
    return None


def held_elsewhere(op: Write, scope: EmRoleScope, user_id: str, assignment_id: str) -> bool:
    """Whether another live assignment of the user gives the same role (through any package)."""
    index = _index(op, user_id)
    if index is not None:
        return bool(index.get((user_id, scope.origin_id, scope.role_origin_id), set()) - {assignment_id})
    found = op.session.scalar(
        select(EmAssignment.id)
        .join(EmRoleScope, EmRoleScope.package_id == EmAssignment.package_id)
        .where(
            EmAssignment.tenant_id == op.actor.tenant_id,
            EmAssignment.target_user_id == user_id,
            EmAssignment.id != assignment_id,
            EmAssignment.state.in_(LIVE_ASSIGNMENT_STATES),
            EmRoleScope.origin_id == scope.origin_id,
            EmRoleScope.role_origin_id == scope.role_origin_id,
        )
        .limit(1)
    )
    return found is not None


def revoke(op: Write, scope: EmRoleScope, user_id: str, assignment_id: str) -> bool:
    """Take the role of ``scope`` from the user unless another live assignment gives it; True if removed."""
    if held_elsewhere(op, scope, user_id, assignment_id):
        return False
    saved = _keep_target(op)
    try:
        if scope.origin_system == GROUP:
            relation = "owner" if scope.role_origin_id.startswith("Owner_") else "member"
            group = op.session.get(Group, scope.origin_id)
            if group is None:
                return False
            return GroupService(_sessions(op), op.actor).delete_reference(op, group, relation, user_id)
        row = op.session.scalar(
            select(AppRoleAssignment).where(
                AppRoleAssignment.resource_id == scope.origin_id,
                AppRoleAssignment.principal_id == user_id,
                AppRoleAssignment.app_role_id == scope.role_origin_id,
            )
        )
        if row is None:
            return False
        AppService(_sessions(op), op.actor).delete_assignment(op, row)
        return True
    finally:
        _restore(op, saved)


def grant_all(op: Write, assignment: EmAssignment) -> list[str]:
    """Every role of the assignment's package; the role scope ids newly granted."""
    user_id = assignment.target_user_id
    if user_id is None:
        return []
    scopes = package_scopes(op, assignment.package_id)
    index = _index(op, user_id)
    if index is not None:
        for scope in scopes:
            index.setdefault((user_id, scope.origin_id, scope.role_origin_id), set()).add(assignment.id)
    return [s.id for s in scopes if grant(op, s, user_id)]


def revoke_all(op: Write, assignment: EmAssignment) -> list[str]:
    user_id = assignment.target_user_id
    if user_id is None:
        return []
    scopes = package_scopes(op, assignment.package_id)
    revoked = [s.id for s in scopes if revoke(op, s, user_id, assignment.id)]
    index = _index(op, user_id)
    if index is not None:
        for scope in scopes:
            index.get((user_id, scope.origin_id, scope.role_origin_id), set()).discard(assignment.id)
    return revoked


def live_assignments(op: Write, package_id: str) -> list[EmAssignment]:
    return list(
        op.session.scalars(
            select(EmAssignment).where(
                EmAssignment.tenant_id == op.actor.tenant_id,
                EmAssignment.package_id == package_id,
                EmAssignment.state.in_(LIVE_ASSIGNMENT_STATES),
            )
        )
    )


def _sessions(op: Write) -> sessionmaker[Session]:
    """What the group and app services are built with; the calls made here work only on ``op``'s session."""
    made = op.session.info.get(_SESSIONS)
    if made is None:
        made = op.session.info[_SESSIONS] = sessionmaker(bind=op.session.get_bind())
    return made


_SESSIONS = "hospes.entitlement.sessions"
