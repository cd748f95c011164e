"""Cross-tenant access settings (Graph ``/policies/crossTenantAccessPolicy``): the tenant's default configuration
and its partner organizations, each with automatic redemption (``automaticUserConsentSettings``) and the identity
synchronization policy that lets a partner push its users in.

Cross-tenant synchronization asks two questions of these settings, both answered here: may ``source`` sync users
into ``target`` (``sync_refusal``), and does each side redeem automatically. Answers are plain dicts shaped like
the Graph resources.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hospes.domain import cross_tenant as ct
from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.services.base import Services, settings_row_for_update
from hospes.storage.tables_cross_tenant import (
    CrossTenantPartner,
    CrossTenantPolicy,
    MultiTenantOrganizationMember,
)

POLICY_NAME = "CrossTenantAccessPolicy"
# The code and sentence a source's Test Connection and a cycle give when the pair does not allow synchronization.
POLICY_CHECK_FAILURE = "AzureDirectoryB2BManagementPolicyCheckFailure"
NO_AUTO_REDEEM = "Policy permitting auto-redemption of invitations not configured."
NO_INBOUND_SYNC = "Policy permitting user synchronization into the target tenant not configured."


def _new_policy(tenant_id: str) -> CrossTenantPolicy:
    return CrossTenantPolicy(tenant_id=tenant_id, display_name=POLICY_NAME, allowed_cloud_endpoints=[])


def partner_wire(row: CrossTenantPartner, in_mto: bool = False) -> dict[str, Any]:
    settings = row.settings or {}
    return {
        "tenantId": row.partner_tenant_id,
        "isServiceProvider": settings.get("isServiceProvider"),
        "isInMultiTenantOrganization": in_mto,
        "inboundTrust": settings.get("inboundTrust"),
        "b2bCollaborationOutbound": settings.get("b2bCollaborationOutbound"),
        "b2bCollaborationInbound": settings.get("b2bCollaborationInbound"),
        "b2bDirectConnectOutbound": settings.get("b2bDirectConnectOutbound"),
        "b2bDirectConnectInbound": settings.get("b2bDirectConnectInbound"),
        "tenantRestrictions": settings.get("tenantRestrictions"),
        "automaticUserConsentSettings": {
            "inboundAllowed": row.inbound_auto_redeem,
            "outboundAllowed": row.outbound_auto_redeem,
        },
    }


def sync_wire(row: CrossTenantPartner) -> dict[str, Any]:
    return {
        "tenantId": row.partner_tenant_id,
        "displayName": row.sync_display_name,
        "userSyncInbound": {"isSyncAllowed": bool(row.sync_inbound_allowed)},
    }


def mto_peers(session: Session, tenant_id: str) -> set[str]:
    """The other active tenants of the multitenant organization ``tenant_id`` is an active member of."""
    me = session.get(MultiTenantOrganizationMember, tenant_id)
    if me is None or me.state != "active":
        return set()
    rows = session.scalars(
        select(MultiTenantOrganizationMember.tenant_id).where(
            MultiTenantOrganizationMember.organization_id == me.organization_id,
            MultiTenantOrganizationMember.state == "active",
        )
    )
    return {row for row in rows if row != tenant_id}


def sync_refusal(session: Session, source_tenant_id: str, target_tenant_id: str) -> str | None:
    """Why ``source`` may not synchronize users into ``target`` right now (None: it may). The target must have
    the source as a partner that allows inbound sync and redeems automatically; the source must redeem
    automatically outbound toward the target. Defaults never allow it (their automatic consent is always off)."""
    return inbound_refusal(session, source_tenant_id, target_tenant_id) or outbound_refusal(
        session, source_tenant_id, target_tenant_id
    )


def inbound_refusal(session: Session, source_tenant_id: str, target_tenant_id: str) -> str | None:
    """The target's half of ``sync_refusal`` (a target in another deployment answers it alone)."""
    inbound = session.get(CrossTenantPartner, (target_tenant_id, source_tenant_id.lower()))
    if inbound is None or not inbound.sync_policy or not inbound.sync_inbound_allowed:
        return NO_INBOUND_SYNC
    if not inbound.inbound_auto_redeem:
        return NO_AUTO_REDEEM
    return None


def outbound_refusal(session: Session, source_tenant_id: str, target_tenant_id: str) -> str | None:
    """The source's half of ``sync_refusal``: it must redeem automatically toward the target."""
    outbound = session.get(CrossTenantPartner, (source_tenant_id, target_tenant_id.lower()))
    if outbound is None or not outbound.outbound_auto_redeem:
        return NO_AUTO_REDEEM
    return None


class CrossTenantPolicyService(Services):
    # -- the policy and its default configuration -------------------------------------------------------------

    def policy(self) -> dict[str, Any]:
        with self.read() as session:
            row = session.get(CrossTenantPolicy, self.tenant_id) or _new_policy(self.tenant_id)
            return {
                "id": "crossTenantAccessPolicy",
                "displayName": row.display_name,
                "description": row.description,
                "allowedCloudEndpoints": list(row.allowed_cloud_endpoints or []),
                "deletedDateTime": None,
            }

    def update_policy(self, body: Any) -> None:
        body = _body(body)
        with self.write("Policy", "Update cross-tenant access policy") as op:
            row = self._policy_row(op.session)
            for key, value in body.items():
                if key in ("@odata.type", "id"):
                    continue
                if key == "displayName":
                    if not isinstance(value, str) or not value or len(value) > 256:
                        raise InvalidInputError("'displayName' must be 1 to 256 characters.", target=key)
                    row.display_name = value
                elif key == "description":
                    if value is not None and (not isinstance(value, str) or len(value) > 1024):
                        raise InvalidInputError("'description' must be at most 1024 characters.", target=key)
                    row.description = value
                elif key == "allowedCloudEndpoints":
                    row.allowed_cloud_endpoints = ct.cloud_endpoints(value)
                else:
                    raise InvalidInputError(
                        f"Property '{key}' does not exist on type 'microsoft.graph.crossTenantAccessPolicy'.",
                        target=key,
                    )
                op.details.setdefault("modifiedProperties", []).append(key)
            row.updated_at = op.now
            op.target("Policy", "crossTenantAccessPolicy", row.display_name)

    def default_configuration(self) -> dict[str, Any]:
        with self.read() as session:
            row = session.get(CrossTenantPolicy, self.tenant_id)
            config = row.default_config if row is not None and row.default_config is not None else None
            return {
                "isServiceDefault": config is None,
                **(config or ct.service_default()),
                "automaticUserConsentSettings": {"inboundAllowed": False, "outboundAllowed": False},
            }

    def update_default(self, body: Any) -> None:
        body = _body(body)
        with self.write("Policy", "Update cross-tenant access default settings") as op:
            row = self._policy_row(op.session)
            row.default_config = ct.default_settings(body, row.default_config or ct.service_default())
            row.updated_at = op.now
            op.details["modifiedProperties"] = sorted(k for k in body if k != "@odata.type")
            op.target("Policy", "crossTenantAccessPolicy/default", POLICY_NAME)

    def reset_default(self) -> None:
        with self.write("Policy", "Reset cross-tenant access default settings") as op:
            row = self._policy_row(op.session)
            row.default_config, row.updated_at = None, op.now
            op.target("Policy", "crossTenantAccessPolicy/default", POLICY_NAME)

    def _policy_row(self, session: Session) -> CrossTenantPolicy:
        return settings_row_for_update(
            session, CrossTenantPolicy, self.tenant_id, lambda: _new_policy(self.tenant_id), "cross-tenant policy"
        )

    # -- partners ---------------------------------------------------------------------------------------------

    def partners(self) -> list[dict[str, Any]]:
        with self.read() as session:
            rows = session.scalars(
                select(CrossTenantPartner)
                .where(CrossTenantPartner.tenant_id == self.tenant_id)
                .order_by(CrossTenantPartner.partner_tenant_id)
            )
            peers = mto_peers(session, self.tenant_id)
            return [partner_wire(row, row.partner_tenant_id in peers) for row in rows]

    def partner(self, partner_id: str) -> dict[str, Any]:
        with self.read() as session:
            row = self._partner(session, partner_id)
            return partner_wire(row, row.partner_tenant_id in mto_peers(session, self.tenant_id))

    def ensure_mto_partner(self, partner_id: str, partner_name: str | None) -> None:
        """What joining a multitenant organization sets up toward another of its tenants: the partner, automatic
        redemption both ways and inbound user synchronization allowed. Values an admin set explicitly (false)
        stay; only missing ones are filled, so joining again changes nothing."""
        with self.write("Policy", "Add a partner to cross-tenant access setting") as op:
            row = op.session.get(CrossTenantPartner, (self.tenant_id, partner_id), with_for_update=True)
            if row is None:
                row = CrossTenantPartner(
                    tenant_id=self.tenant_id, partner_tenant_id=partner_id, settings={}, created_at=op.now
                )
                op.session.add(row)
            else:
                op.name("Update a partner cross-tenant access setting")
            if row.inbound_auto_redeem is None:
                row.inbound_auto_redeem = True
            if row.outbound_auto_redeem is None:
                row.outbound_auto_redeem = True
            if not row.sync_policy:
                row.sync_policy, row.sync_inbound_allowed = True, True
                row.sync_display_name = partner_name
            row.updated_at = op.now
            op.details["reason"] = "multitenant organization"
            op.target("Policy", partner_id, "Partner " + partner_id)

    def create_partner(self, body: Any) -> dict[str, Any]:
        body = _body(body)
        partner_id = ct.tenant_id_of(body.get("tenantId"))
        if partner_id == self.tenant_id.lower():
            raise InvalidInputError("A tenant cannot be its own partner organization.", target="tenantId")
        settings = ct.partner_settings(body)
        inbound, outbound, _ = ct.consent_settings(body.get("automaticUserConsentSettings"))
        with self.write("Policy", "Add a partner to cross-tenant access setting") as op:
            row = CrossTenantPartner(
                tenant_id=self.tenant_id,
                partner_tenant_id=partner_id,
                settings=settings,
                inbound_auto_redeem=inbound,
                outbound_auto_redeem=outbound,
                sync_policy=False,
                created_at=op.now,
                updated_at=op.now,
            )
            try:
                with op.session.begin_nested():
                    op.session.add(row)
                    op.session.flush()
            except IntegrityError:
                raise ConflictError(
                    "Another object with the same value for property tenantId already exists.",
                    code="Request_MultipleObjectsWithSameKeyValue",
                    target="tenantId",
                ) from None
            op.target("Policy", partner_id, "Partner " + partner_id)
            return partner_wire(row)

    def update_partner(self, partner_id: str, body: Any) -> None:
        body = _body(body)
        if "tenantId" in body and str(body["tenantId"]).lower() != partner_id.lower():
            raise InvalidInputError("'tenantId' of a partner cannot change.", target="tenantId")
        settings = ct.partner_settings(body)
        inbound, outbound, named = None, None, set[str]()
        if "automaticUserConsentSettings" in body:
            inbound, outbound, named = ct.consent_settings(body["automaticUserConsentSettings"])
        with self.write("Policy", "Update a partner cross-tenant access setting") as op:
            row = self._partner(op.session, partner_id, for_update=True)
            row.settings = {**(row.settings or {}), **settings}
            if "inboundAllowed" in named:
                row.inbound_auto_redeem = inbound
            if "outboundAllowed" in named:
                row.outbound_auto_redeem = outbound
            row.updated_at = op.now
            op.details["modifiedProperties"] = sorted(k for k in body if k != "@odata.type")
            op.target("Policy", row.partner_tenant_id, "Partner " + row.partner_tenant_id)

    def delete_partner(self, partner_id: str) -> None:
        """Removes the partner and its synchronization policy; users it synchronized stay."""
        with self.write("Policy", "Delete partner specific cross-tenant access setting") as op:
            row = self._partner(op.session, partner_id, for_update=True)
            op.target("Policy", row.partner_tenant_id, "Partner " + row.partner_tenant_id)
            op.session.delete(row)

    # -- identity synchronization -----------------------------------------------------------------------------

    def sync_policy(self, partner_id: str) -> dict[str, Any]:
        with self.read() as session:
            row = self._partner(session, partner_id)
            if not row.sync_policy:
                raise NotFoundError(f"{partner_id}/identitySynchronization")
            return sync_wire(row)

    def put_sync_policy(self, partner_id: str, body: Any) -> None:
        self._write_sync(partner_id, body, replace=True)

    def update_sync_policy(self, partner_id: str, body: Any) -> None:
        self._write_sync(partner_id, body, replace=False)

    def delete_sync_policy(self, partner_id: str) -> None:
        with self.write("Policy", "Delete partner cross-tenant identity sync setting") as op:
            row = self._partner(op.session, partner_id, for_update=True)
            if not row.sync_policy:
                raise NotFoundError(f"{partner_id}/identitySynchronization")
            row.sync_policy, row.sync_display_name, row.sync_inbound_allowed = False, None, None
            row.updated_at = op.now
            op.target("Policy", row.partner_tenant_id, "Partner " + row.partner_tenant_id)

    def _write_sync(self, partner_id: str, body: Any, *, replace: bool) -> None:
        name, allowed, named = ct.sync_policy(body, replace=replace)
        activity = "Create or replace" if replace else "Update"
        with self.write("Policy", f"{activity} partner cross-tenant identity sync setting") as op:
            row = self._partner(op.session, partner_id, for_update=True)
            if not replace and not row.sync_policy:
                raise NotFoundError(f"{partner_id}/identitySynchronization")
            row.sync_policy = True
            if "displayName" in named:
                row.sync_display_name = name
            if "userSyncInbound" in named:
                row.sync_inbound_allowed = allowed
            row.updated_at = op.now
            op.details["modifiedProperties"] = sorted(named)
            op.target("Policy", row.partner_tenant_id, "Partner " + row.partner_tenant_id)

    def _partner(self, session: Session, partner_id: str, *, for_update: bool = False) -> CrossTenantPartner:
        row = session.get(CrossTenantPartner, (self.tenant_id, partner_id.lower()), with_for_update=for_update)
        if row is None:
            raise NotFoundError(partner_id)
        return row


def _body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    return body
