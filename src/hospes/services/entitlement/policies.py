"""Assignment policies (who may request a package, approval, expiry, questions), connected organizations with their
sponsors, and the tenant's entitlement-management settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from hospes.domain import entitlements as em
from hospes.domain.entitlement_policy import parse_policy, policy_wire
from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.services.base import Services, settings_row_for_update
from hospes.services.entitlement.automatic import reconcile
from hospes.services.entitlement.common import CATEGORY, find, org_wire
from hospes.services.entitlement.notify import EmConfig
from hospes.services.groups import GroupService
from hospes.storage.tables import Group, User
from hospes.storage.tables_entitlement import (
    EmAssignment,
    EmConnectedOrg,
    EmOrgSponsor,
    EmPackage,
    EmPolicy,
    EmRequest,
    EmSettings,
)

MAX_POLICIES_PER_PACKAGE = 10
MAX_CONNECTED_ORGS = 2500


def settings_wire(row: EmSettings | None) -> dict[str, Any]:
    return {
        "id": "singleton",
        "externalUserLifecycleAction": row.lifecycle_action if row else "blockSignInAndDelete",
        "durationUntilExternalUserDeletedAfterBlocked": row.delete_after if row else "P30D",
    }


class PolicyService(Services):
    config: EmConfig | None = None  # set by the surfaces that have settings: the mails of automatic assignments

    # -- assignment policies ---------------------------------------------------------------------------------------

    def list_policies(self, package_id: str | None = None) -> list[dict[str, Any]]:
        with self.read() as session:
            stmt = select(EmPolicy).where(EmPolicy.tenant_id == self.tenant_id)
            if package_id is not None:
                stmt = stmt.where(EmPolicy.package_id == package_id)
            return [self._wire(r) for r in session.scalars(stmt.order_by(EmPolicy.created_at, EmPolicy.id))]

    @staticmethod
    def _wire(row: EmPolicy) -> dict[str, Any]:
        return {**policy_wire(row), "accessPackage": {"id": row.package_id}}

    def get_policy(self, policy_id: str) -> dict[str, Any]:
        with self.read() as session:
            return self._wire(find(session, EmPolicy, self.tenant_id, policy_id))

    def create_policy(self, body: Any) -> dict[str, Any]:
        columns, package_id = parse_policy(body)
        if package_id is None:
            raise InvalidInputError("A policy names its package: 'accessPackage': {'id': ...}.", target="accessPackage")
        with self.write(CATEGORY, "Create access package assignment policy") as op:
            package = find(op.session, EmPackage, self.tenant_id, package_id, lock=True)
            count = op.session.scalar(select(func.count()).where(EmPolicy.package_id == package.id)) or 0
            if count >= MAX_POLICIES_PER_PACKAGE:
                raise InvalidInputError(f"An access package has at most {MAX_POLICIES_PER_PACKAGE} policies.")
            self._check_targets(op.session, columns["settings"])
            row = EmPolicy(
                id=new_id(),
                tenant_id=self.tenant_id,
                package_id=package.id,
                created_at=op.now,
                modified_at=op.now,
                **columns,
            )
            op.session.add(row)
            op.session.flush()
            op.target("AccessPackageAssignmentPolicy", row.id, row.display_name)
            reconcile(op, row, self.config)
            return self._wire(row)

    def replace_policy(self, policy_id: str, body: Any) -> dict[str, Any]:
        """``PUT``: the body replaces the policy; pending requests and existing assignments keep what they got."""
        columns, package_id = parse_policy(body)
        with self.write(CATEGORY, "Update access package assignment policy") as op:
            row = find(op.session, EmPolicy, self.tenant_id, policy_id, lock=True)
            if package_id is not None and package_id != row.package_id:
                raise InvalidInputError("A policy cannot move to another access package.", target="accessPackage")
            self._check_targets(op.session, columns["settings"])
            for key, value in columns.items():
                setattr(row, key, value)
            row.modified_at = op.now
            op.target("AccessPackageAssignmentPolicy", row.id, row.display_name)
            reconcile(op, row, self.config)
            return self._wire(row)

    def delete_policy(self, policy_id: str) -> None:
        with self.write(CATEGORY, "Delete access package assignment policy") as op:
            row = find(op.session, EmPolicy, self.tenant_id, policy_id, lock=True)
            op.target("AccessPackageAssignmentPolicy", row.id, row.display_name)
            live = op.session.scalar(
                select(EmAssignment.id)
                .where(EmAssignment.policy_id == row.id, EmAssignment.state.in_(em.LIVE_ASSIGNMENT_STATES))
                .limit(1)
            )
            if live:
                raise InvalidInputError("The policy has assignments; remove them before deleting it.")
            pending = op.session.scalar(
                select(EmRequest.id)
                .where(EmRequest.policy_id == row.id, EmRequest.state.in_(em.OPEN_REQUEST_STATES))
                .limit(1)
            )
            if pending:
                raise InvalidInputError("The policy has pending requests; let them finish or cancel them first.")
            op.session.delete(row)

    def _check_targets(self, session: Any, settings: dict[str, Any]) -> None:
        """Every user, group and connected organization a policy names exists in this tenant."""
        sets = list(settings["specificAllowedTargets"])
        for stage in settings["requestApprovalSettings"]["stages"]:
            for key in (
                "primaryApprovers",
                "fallbackPrimaryApprovers",
                "escalationApprovers",
                "fallbackEscalationApprovers",
            ):
                sets.extend(stage[key])
        for item in sets:
            if "userId" in item:
                find(session, User, self.tenant_id, item["userId"])
            elif "groupId" in item:
                find(session, Group, self.tenant_id, item["groupId"])
            elif "connectedOrganizationId" in item:
                find(session, EmConnectedOrg, self.tenant_id, item["connectedOrganizationId"])
            elif "membershipRule" in item:
                from hospes.services.group_rules import checked_rule

                checked_rule(item["membershipRule"])

    # -- connected organizations -----------------------------------------------------------------------------------

    def list_orgs(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.read() as session:
            stmt = select(EmConnectedOrg).where(EmConnectedOrg.tenant_id == self.tenant_id)
            if name is not None:
                stmt = stmt.where(EmConnectedOrg.display_name == name)
            return [org_wire(r) for r in session.scalars(stmt.order_by(EmConnectedOrg.created_at))]

    def get_org(self, org_id: str) -> dict[str, Any]:
        with self.read() as session:
            return org_wire(find(session, EmConnectedOrg, self.tenant_id, org_id))

    def create_org(self, body: Any) -> dict[str, Any]:
        values = em.parse_connected_org(body, partial=False)
        with self.write(CATEGORY, "Create connected organization") as op:
            count = op.session.scalar(select(func.count()).where(EmConnectedOrg.tenant_id == self.tenant_id)) or 0
            if count >= MAX_CONNECTED_ORGS:
                raise InvalidInputError(f"A tenant has at most {MAX_CONNECTED_ORGS} connected organizations.")
            row = EmConnectedOrg(id=new_id(), tenant_id=self.tenant_id, created_at=op.now, modified_at=op.now, **values)
            op.session.add(row)
            op.target("ConnectedOrganization", row.id, row.display_name)
            return org_wire(row)

    def update_org(self, org_id: str, body: Any) -> None:
        values = em.parse_connected_org(body, partial=True)
        with self.write(CATEGORY, "Update connected organization") as op:
            row = find(op.session, EmConnectedOrg, self.tenant_id, org_id, lock=True)
            op.target("ConnectedOrganization", row.id, row.display_name)
            for key, value in values.items():
                setattr(row, key, value)
            row.modified_at = op.now

    def delete_org(self, org_id: str) -> None:
        with self.write(CATEGORY, "Delete connected organization") as op:
            row = find(op.session, EmConnectedOrg, self.tenant_id, org_id, lock=True)
            op.target("ConnectedOrganization", row.id, row.display_name)
            op.session.delete(row)

    def sponsors(self, org_id: str, kind: str) -> list[tuple[str, Any]]:
        with self.read() as session:
            org = find(session, EmConnectedOrg, self.tenant_id, org_id)
            links = session.scalars(
                select(EmOrgSponsor).where(EmOrgSponsor.org_id == org.id, EmOrgSponsor.kind == kind)
            )
            out = []
            for link in links:
                table: Any = User if link.object_type == "user" else Group
                obj = session.get(table, link.object_id)
                if obj is not None and obj.deleted_at is None:
                    out.append((link.object_type, obj))
            return out

    def add_sponsor(self, org_id: str, kind: str, object_id: str) -> None:
        with self.write(CATEGORY, "Update connected organization") as op:
            org = find(op.session, EmConnectedOrg, self.tenant_id, org_id, lock=True)
            op.target("ConnectedOrganization", org.id, org.display_name)
            object_type, obj = GroupService(self.sessions, self.actor).resolve(op.session, object_id)
            if object_type not in ("user", "group"):
                raise InvalidInputError("A sponsor is a user or a group.", target=f"{kind}Sponsors")
            if kind == "external" and object_type == "user" and obj.user_type != "Guest":
                raise InvalidInputError("An external sponsor is a guest user.", target="externalSponsors")
            if kind == "internal" and object_type == "user" and obj.user_type == "Guest":
                raise InvalidInputError("An internal sponsor is a member user.", target="internalSponsors")
            if op.session.get(EmOrgSponsor, (org.id, kind, obj.id)) is not None:
                raise ConflictError("One or more added object references already exist.")
            op.session.add(
                EmOrgSponsor(
                    org_id=org.id, kind=kind, object_id=obj.id, object_type=object_type, tenant_id=self.tenant_id
                )
            )
            op.details.update(sponsorKind=kind, sponsorId=obj.id)

    def remove_sponsor(self, org_id: str, kind: str, object_id: str) -> None:
        with self.write(CATEGORY, "Update connected organization") as op:
            org = find(op.session, EmConnectedOrg, self.tenant_id, org_id, lock=True)
            op.target("ConnectedOrganization", org.id, org.display_name)
            link = op.session.get(EmOrgSponsor, (org.id, kind, object_id))
            if link is None:
                raise NotFoundError(object_id)
            op.session.delete(link)

    # -- settings --------------------------------------------------------------------------------------------------

    def get_settings(self) -> dict[str, Any]:
        with self.read() as session:
            return settings_wire(session.get(EmSettings, self.tenant_id))

    def update_settings(self, body: Any) -> None:
        values = em.parse_settings(body)
        with self.write(CATEGORY, "Update entitlement management settings") as op:
            row = settings_row_for_update(
                op.session,
                EmSettings,
                self.tenant_id,
                lambda: EmSettings(
                    tenant_id=self.tenant_id, lifecycle_action="blockSignInAndDelete", delete_after="P30D"
                ),
                "entitlement management settings",
            )
            op.record_changes(
                row,
                values,
                {
                    "lifecycle_action": "externalUserLifecycleAction",
                    "delete_after": "durationUntilExternalUserDeletedAfterBlocked",
                },
            )
            for key, value in values.items():
                setattr(row, key, value)
