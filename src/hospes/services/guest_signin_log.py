"""The sign-in log rows of guests signing in through the redemption pages (a refused one, or a completed one): the
home tenant of the guest and, when MFA done at home counted here, that it was satisfied by a claim."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.ca_evaluation import BLOCKED, Decision
from hospes.services import sign_in_log
from hospes.services.access_decision import blocked_message, home_tenant_of, log_details
from hospes.services.guest_flows import FlowView
from hospes.storage.tables import User

CLAIM_DETAIL = "MFA requirement satisfied by claim in the token"


def flow_home_tenant(flow: FlowView, user: User) -> str | None:
    """The guest's home tenant: the one this flow signed in at (a tenant of this deployment, or a Hospes tenant
    reached by OpenID Connect), else the one recorded when the guest redeemed."""
    if flow.verified_method == "home":
        return str((flow.data.get("home") or {}).get("tenant") or "") or home_tenant_of(user)
    federated = flow.data.get("federated") or {}
    return federated.get("homeTenantId") or home_tenant_of(user)


def signed_home(flow: FlowView) -> tuple[str, str] | None:
    """The guest's home tenant and object id there as this flow's sign-in says it (before the identity is recorded
    on the user): the home-tenant round trip's assertion, or the ID token of a Hospes tenant (``tid``, ``oid``)."""
    if flow.verified_method == "home":
        came_from = flow.data.get("home") or {}
        tenant, user = came_from.get("tenant"), came_from.get("user")
    elif flow.verified_method == "oidc":
        federated = flow.data.get("federated") or {}
        tenant, user = federated.get("homeTenantId"), federated.get("homeObjectId")
    else:
        return None
    return (str(tenant).lower(), str(user or "").lower()) if tenant else None


def mfa_by_claim(flow: FlowView, decision: Decision) -> bool:
    """Whether the home organization's MFA, trusted here, met an MFA requirement of this sign-in."""
    needed = any("mfa" in r.enforced_grant_controls for r in decision.results if r.applies)
    return needed and "mfa" in flow.amr and not flow.data.get("mfa")


def record(
    sessions: sessionmaker[Session],
    flow: FlowView,
    user: User,
    decision: Decision,
    *,
    at: datetime,
    address: str | None,
    user_agent: str | None,
) -> None:
    assert flow.tenant_id is not None
    details: dict[str, Any] = {"amr": flow.amr, **log_details(decision)}
    if decision.blocked:
        error, reason = decision.error_code or BLOCKED, blocked_message(decision)
    else:
        error, reason = 0, None
        if mfa_by_claim(flow, decision):
            details["additionalDetails"] = CLAIM_DETAIL
    federated = flow.data.get("federated") or {}
    if federated:
        details["identityIssuer"] = federated.get("issuer")
    event = sign_in_log.SignInEvent(
        tenant_id=flow.tenant_id,
        at=at,
        protocol="web",
        app_display_name="Hospes",
        resource_display_name="Hospes",
        user=user,
        home_tenant_id=flow_home_tenant(flow, user),
        ip_address=address,
        user_agent=user_agent,
        error_code=error,
        failure_reason=reason,
        conditional_access_status=decision.status,
        details=details,
    )
    sign_in_log.record(sessions, event)


def record_refusal(
    sessions: sessionmaker[Session],
    flow: FlowView,
    code: int,
    reason: str,
    *,
    at: datetime,
    address: str | None,
    user_agent: str | None,
) -> None:
    """The sign-in log row of a guest whose own identity provider's answer was refused (so the administrator can
    see why a partner's people can't get in)."""
    if flow.tenant_id is None:
        return
    with sessions() as session:
        user = session.get(User, flow.user_id) if flow.user_id else None
        if user is not None and user.tenant_id != flow.tenant_id:
            user = None
        if user is not None:
            session.expunge(user)
    started = flow.data.get("federation") or {}
    event = sign_in_log.SignInEvent(
        tenant_id=flow.tenant_id,
        at=at,
        protocol="web",
        app_display_name="Hospes",
        resource_display_name="Hospes",
        user=user,
        login_name=flow.email or None,
        ip_address=address,
        user_agent=user_agent,
        error_code=code,
        failure_reason=reason[:1000],
        details={"federationProtocol": started.get("kind"), "federationProvider": started.get("provider")},
    )
    sign_in_log.record(sessions, event)
