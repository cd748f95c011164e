"""B2B collaboration between tenants of this deployment, as the cross-tenant access settings allow it: a guest
whose home is another tenant here may sign in only when this tenant's inbound setting for that partner (else its
default) lets them and that app through, and their home tenant's outbound setting toward this tenant does too.

Every interactive sign-in asks this before conditional access (``access_decision.decide``), so the portal, My Apps,
OpenID Connect, SAML and redemption refuse alike: AADSTS500213 for the resource's inbound setting, 500212 for the
home tenant's outbound one."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hospes.domain.cross_tenant import collaboration_allowed, names_groups, service_default
from hospes.services.memberships import transitive_groups
from hospes.storage.tables_cross_tenant import CrossTenantPartner, CrossTenantPolicy

INBOUND_REFUSED = 500213  # NotAllowedByInboundPolicyTenant
OUTBOUND_REFUSED = 500212  # NotAllowedByOutboundPolicyTenant
REFUSALS = {
    INBOUND_REFUSED: "The cross-tenant access settings of this organization don't allow users of your organization "
    "to sign in here.",
    OUTBOUND_REFUSED: "The cross-tenant access settings of your home organization don't allow you to sign in to "
    "this organization.",
}


def home_identity(identities: list[dict[str, Any]] | None) -> tuple[str, str] | None:
    """From a guest's ``identities``: their home tenant and object id there, when the home is a tenant of this
    deployment (recorded when the guest redeemed with their home account)."""
    for identity in identities or []:
        if identity.get("issuer") == "ExternalAzureAD":
            tenant, _, object_id = str(identity.get("issuerAssignedId") or "").partition("/")
            if tenant:
                return tenant.lower(), object_id.lower()
    return None


def _setting(session: Session, tenant_id: str, partner_id: str, name: str) -> dict[str, Any] | None:
    """``tenant_id``'s B2B collaboration setting ``name`` toward ``partner_id``: the partner's own, else the
    default configuration's."""
    partner = session.get(CrossTenantPartner, (tenant_id, partner_id))
    value = (partner.settings or {}).get(name) if partner is not None else None
    if value is None:
        policy = session.get(CrossTenantPolicy, tenant_id)
        value = ((policy.default_config if policy is not None else None) or service_default()).get(name)
    return value


def collaboration_refusal(
    session: Session, tenant_id: str, home: tuple[str, str] | None, app_id: str | None
) -> int | None:
    """The AADSTS code refusing a guest of ``tenant_id`` whose ``home`` (tenant, object id there) is another
    tenant of this deployment, for ``app_id`` (None: Hospes's own pages); None when both tenants' settings allow
    it. Members and guests homed elsewhere (``home`` None) pass."""
    if home is None or home[0] == tenant_id.lower():
        return None
    home_tenant, home_user = home
    inbound = _setting(session, tenant_id, home_tenant, "b2bCollaborationInbound")
    outbound = _setting(session, home_tenant, tenant_id.lower(), "b2bCollaborationOutbound")
    person = {home_user}
    if home_user and (names_groups(inbound) or names_groups(outbound)):
        person |= {g.lower() for g in transitive_groups(session, home_tenant, home_user)}
    if not collaboration_allowed(inbound, person, app_id):
        return INBOUND_REFUSED
    if not collaboration_allowed(outbound, person, app_id):
        return OUTBOUND_REFUSED
    return None
