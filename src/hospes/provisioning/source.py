"""The source side: Hospes directory objects as the attribute bags mappings read, and the job's scope.

Attribute names are Entra's (``userPrincipalName``, ``surname``, ``jobTitle``, ``mobile``, ``telephoneNumber``,
``physicalDeliveryOfficeName``...), so mappings and expressions written for Entra's provisioning service work
unchanged. ``IsSoftDeleted`` is computed per job, as Entra does: true when the user is unassigned, fails the scoping
filter, is soft-deleted or is disabled, and it drives ``active``.

Scope "assigned" means an app role assignment to the job's service principal, directly or through a group
(members of an assigned group, not nested), with any role but the default-access role: users whose only
assignment is "Default Access" are not provisioned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.principals import DEFAULT_ACCESS_ROLE_ID
from hospes.provisioning.planner import SourceObject
from hospes.storage.tables import Application, AppRoleAssignment, Group, GroupMember, ServicePrincipal, User

_CHUNK = 500


def user_attributes(user: User, roles: list[str]) -> dict[str, Any]:
    phones = list(user.business_phones or [])
    return {
        "objectId": user.id,
        "netId": user.id,  # the immutable source id cross-tenant synchronization matches on
        "userPrincipalName": user.user_principal_name,
        "mail": user.mail,
        "mailNickname": user.mail_nickname,
        "otherMails": list(user.other_mails or []),
        "givenName": user.given_name,
        "surname": user.surname,
        "displayName": user.display_name,
        "jobTitle": user.job_title,
        "department": user.department,
        "companyName": user.company_name,
        "physicalDeliveryOfficeName": user.office_location,
        "officeLocation": user.office_location,
        "telephoneNumber": phones[0] if phones else None,
        "businessPhones": phones,
        "mobile": user.mobile_phone,
        "preferredLanguage": user.preferred_language,
        "employeeId": user.employee_id,
        "usageLocation": user.usage_location,
        "accountEnabled": bool(user.account_enabled),
        "userType": user.user_type,
        "externalUserState": user.external_user_state,
        "creationType": user.creation_type,
        "manager": user.manager_id,
        "appRoleAssignments": roles,
    }


def group_attributes(group: Group) -> dict[str, Any]:
    return {
        "objectId": group.id,
        "displayName": group.display_name,
        "description": group.description,
        "mailNickname": group.mail_nickname,
        "mail": group.mail,
        "mailEnabled": bool(group.mail_enabled),
        "securityEnabled": bool(group.security_enabled),
    }


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


@dataclass
class Assignments:
    """Who is assigned to the service principal (default-access role excluded), and with which role values."""

    users: dict[str, list[str]]
    groups: dict[str, list[str]]
    default_only: set[str]  # principals whose only assignment is the default-access role

    @classmethod
    def load(cls, session: Session, tenant_id: str, sp_id: str) -> Assignments:
        sp = session.get(ServicePrincipal, sp_id)
        role_values: dict[str, str] = {}
        if sp is not None:
            roles = list(sp.app_roles or [])
            if sp.application_id:
                app = session.get(Application, sp.application_id)
                roles += list(app.app_roles or []) if app is not None else []
            role_values = {str(r.get("id")): str(r.get("value") or r.get("displayName") or "") for r in roles}
        users: dict[str, list[str]] = {}
        groups: dict[str, list[str]] = {}
        default_only: set[str] = set()
        rows = session.execute(
            select(
                AppRoleAssignment.principal_id, AppRoleAssignment.principal_type, AppRoleAssignment.app_role_id
            ).where(AppRoleAssignment.tenant_id == tenant_id, AppRoleAssignment.resource_id == sp_id)
        )
        for principal_id, principal_type, role_id in rows:
            if role_id == DEFAULT_ACCESS_ROLE_ID:
                default_only.add(principal_id)
                continue
            target = users if principal_type == "User" else groups if principal_type == "Group" else None
            if target is not None:
                target.setdefault(principal_id, []).append(role_values.get(role_id, role_id))
        default_only -= set(users) | set(groups)
        return cls(users, groups, default_only)


class Directory:
    """Reads source objects of one tenant. All reads filter on the tenant."""

    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session, self.tenant_id = session, tenant_id

    def users(self, ids: list[str] | None, roles: dict[str, list[str]]) -> dict[str, SourceObject]:
        out: dict[str, SourceObject] = {}
        batches: Iterable[list[str] | None] = [None] if ids is None else _chunks(sorted(set(ids)))
        for batch in batches:
            stmt = select(User).where(User.tenant_id == self.tenant_id)
            if batch is not None:
                stmt = stmt.where(User.id.in_(batch))
            for user in self.session.scalars(stmt.execution_options(yield_per=2000)):
                out[user.id] = SourceObject(
                    kind="user",
                    id=user.id,
                    display_name=user.display_name or user.user_principal_name,
                    attributes=user_attributes(user, roles.get(user.id, [])),
                    soft_deleted=user.deleted_at is not None,
                    enabled=bool(user.account_enabled),
                )
        return out

    def groups(self, ids: list[str] | None) -> dict[str, SourceObject]:
        out: dict[str, SourceObject] = {}
        batches: Iterable[list[str] | None] = [None] if ids is None else _chunks(sorted(set(ids)))
        for batch in batches:
            stmt = select(Group).where(Group.tenant_id == self.tenant_id)
            if batch is not None:
                stmt = stmt.where(Group.id.in_(batch))
            for group in self.session.scalars(stmt):
                out[group.id] = SourceObject(
                    kind="group",
                    id=group.id,
                    display_name=group.display_name,
                    attributes=group_attributes(group),
                    soft_deleted=group.deleted_at is not None,
                )
        if out:
            for batch_ids in _chunks(list(out)):
                links = self.session.execute(
                    select(GroupMember.group_id, GroupMember.member_id).where(
                        GroupMember.tenant_id == self.tenant_id,
                        GroupMember.group_id.in_(batch_ids),
                        GroupMember.relation == "member",
                        GroupMember.member_type == "user",
                    )
                )
                for group_id, member_id in links:
                    out[group_id].members.append(member_id)
        return out

    def member_users(self, group_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(group_ids))
        found: set[str] = set()
        for batch in _chunks(ids):
            found.update(
                self.session.scalars(
                    select(GroupMember.member_id).where(
                        GroupMember.tenant_id == self.tenant_id,
                        GroupMember.group_id.in_(batch),
                        GroupMember.relation == "member",
                        GroupMember.member_type == "user",
                    )
                )
            )
        return found

    def groups_of(self, user_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(user_ids))
        found: set[str] = set()
        for batch in _chunks(ids):
            found.update(
                self.session.scalars(
                    select(GroupMember.group_id).where(
                        GroupMember.tenant_id == self.tenant_id,
                        GroupMember.member_id.in_(batch),
                        GroupMember.relation == "member",
                    )
                )
            )
        return found

    def live_groups(self, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for batch in _chunks(sorted(set(ids))):
            found.update(
                self.session.scalars(
                    select(Group.id).where(
                        Group.tenant_id == self.tenant_id, Group.id.in_(batch), Group.deleted_at.is_(None)
                    )
                )
            )
        return found
