"""The admin portal's invite of a guest straight into groups and app roles. The invitation use case runs
unchanged; its ``also`` hook adds the memberships and assignments in the invitation's own transaction, so if any
group or role is refused there is no half-invited guest (and no email). The portal's bulk-invite worker runs the same
hook in each row's invitation transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from hospes.domain.invitation import InvitationRequest
from hospes.services.apps import AppService
from hospes.services.base import Write
from hospes.services.groups import GroupService
from hospes.services.invitations.service import AlsoHook, InvitationResult, InvitationService
from hospes.storage.tables import AppRoleAssignment, GroupMember


@dataclass(frozen=True)
class AppGrant:
    resource_id: str  # service principal id
    app_role_id: str

    @property
    def key(self) -> str:
        """How a form and a stored job write it: ``{service principal id}:{app role id}``."""
        return f"{self.resource_id}:{self.app_role_id}"

    @classmethod
    def parse(cls, key: str) -> AppGrant:
        resource_id, _, app_role_id = key.partition(":")
        return cls(resource_id, app_role_id)


def access_hook(invitations: InvitationService, group_ids: list[str], grants: list[AppGrant]) -> AlsoHook | None:
    """The ``also`` hook that adds the invited guest to ``group_ids`` and ``grants`` (None when there is nothing to
    add). Memberships and assignments the guest already has are kept, so a guest invited again is not refused."""
    groups, roles = list(dict.fromkeys(group_ids)), list(dict.fromkeys(grants))
    if not groups and not roles:
        return None

    def grant_access(op: Write, result: InvitationResult) -> None:
        user = result.user
        group_service = GroupService(invitations.sessions, invitations.actor)
        for group_id in groups:
            group = group_service.find(op.session, group_id)
            if op.session.get(GroupMember, (group.id, "member", user.id)) is None:
                group_service.insert_reference(op, group, "member", user.id)
        apps = AppService(invitations.sessions, invitations.actor)
        for grant in roles:
            exists = op.session.scalar(
                select(AppRoleAssignment.id).where(
                    AppRoleAssignment.resource_id == grant.resource_id,
                    AppRoleAssignment.principal_id == user.id,
                    AppRoleAssignment.app_role_id == grant.app_role_id,
                )
            )
            if not exists:
                apps.insert_assignment(op, user.id, grant.resource_id, grant.app_role_id)
        # insert_assignment retargets the audit row at the app; the invitation's audit row names the guest.
        op.target("User", user.id, user.user_principal_name)
        op.details["groups"] = groups
        op.details["appRoles"] = [f"{g.resource_id}:{g.app_role_id}" for g in roles]

    return grant_access


def invite_with_access(
    invitations: InvitationService, req: InvitationRequest, group_ids: list[str], grants: list[AppGrant]
) -> InvitationResult:
    return invitations.invite(req, also=access_hook(invitations, group_ids, grants))
