"""Conditional access at sign-in: read the tenant's policies and what is known about the user, ask the one
evaluation function (``hospes.domain.ca_evaluation``), and say it the way the sign-in log records it.

Every interactive sign-in path calls ``decide`` with an ``AccessRequest``: the member sign-in pages, My Apps,
OpenID Connect ``/authorize``, SAML, the guest sign-in and redemption. The what-if API builds the same facts.

The tenant setting "require multifactor authentication for guests" is a policy like the others
(``services.guest_mfa_policy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from hospes.domain import ca_evaluation as ca
from hospes.domain.ca_model import TERMS
from hospes.domain.conditional_access import ENABLED
from hospes.domain.federation import tenant_of_issuer
from hospes.services.access_rules import rules_of
from hospes.services.b2b_policy import directory_roles
from hospes.services.collaboration_access import REFUSALS, collaboration_refusal, home_identity
from hospes.services.memberships import transitive_groups
from hospes.services.oidc.authorize import RedirectError
from hospes.services.terms_of_use import accepted_agreements
from hospes.storage.tables import User
from hospes.storage.tables_cross_tenant import CrossTenantPartner, CrossTenantPolicy


class Person(Protocol):
    """A user as conditional access reads it (an ORM ``User``, or the token endpoint's raw row)."""

    @property
    def user_type(self) -> str: ...
    @property
    def creation_type(self) -> str | None: ...
    @property
    def identities(self) -> list[dict[str, Any]]: ...


def external_user_type(user: Person) -> str | None:
    """Graph's guestOrExternalUserTypes value of a user; None for the tenant's own members."""
    external = user.creation_type == "Invitation" or any(
        i.get("signInType") == "federated" or i.get("issuer") == "mail" for i in user.identities or []
    )
    if user.user_type == "Guest":
        return "b2bCollaborationGuest" if external else "internalGuest"
    return "b2bCollaborationMember" if external else None


def home_tenant_of(user: Person) -> str | None:
    """A guest's home tenant: a tenant of this deployment (recorded when the guest redeemed), or the Hospes tenant
    whose OpenID provider the guest redeemed with (its issuer names it)."""
    home = home_identity(user.identities)
    if home is not None:
        return home[0]
    for identity in user.identities or []:
        if identity.get("signInType") == "federated" and (tenant := tenant_of_issuer(str(identity.get("issuer")))):
            return tenant
    return None


@dataclass(frozen=True)
class AccessRequest:
    """One sign-in to decide. ``methods``: the session's authentication methods (``pwd``, ``email``, ``otp``,
    ``rc``, ``mfa``), done at ``authenticated_at``. ``app_id`` None and ``admin_portal`` False: Hospes's own
    pages for the user (My Apps, the account page)."""

    tenant_id: str
    user: User
    now: datetime
    methods: Sequence[str]
    authenticated_at: datetime
    app_id: str | None = None
    admin_portal: bool = False
    client_app_type: str = "browser"
    ip_address: str | None = None
    accepted_terms: frozenset[str] = frozenset()
    # The guest's home tenant and object id there when the sign-in itself says it (redemption with the home
    # account, before the identity is recorded on the user); otherwise read from the user's identities.
    home: tuple[str, str] | None = None


def facts_of(session: Session, request: AccessRequest, rules: ca.Rules | None = None) -> ca.SignInFacts:
    """The facts of a sign-in; groups and roles are read only when ``rules`` (None: any rules) depend on them."""
    user, tenant_id = request.user, request.tenant_id
    groups = transitive_groups(session, tenant_id, user.id) if rules is None or rules.needs_groups else ()
    roles = directory_roles(session, tenant_id, user.id) if rules is None or rules.needs_roles else ()
    accepted = request.accepted_terms
    if rules is not None and rules.terms:
        accepted |= accepted_agreements(session, tenant_id, user.id, rules.terms, request.now)
    return ca.SignInFacts(
        user_id=user.id,
        now=request.now,
        groups=frozenset(groups),
        roles=frozenset(roles),
        external_user_type=external_user_type(user),
        home_tenant_id=request.home[0] if request.home else home_tenant_of(user),
        app_id=request.app_id,
        admin_portal=request.admin_portal,
        client_app_type=request.client_app_type,
        ip_address=request.ip_address,
        methods=tuple(ca.Method(m, request.authenticated_at) for m in dict.fromkeys(request.methods)),
        accepted_terms=frozenset(a.lower() for a in accepted),
    )


def decide(session: Session, request: AccessRequest) -> ca.Decision:
    """The decision for one sign-in (read-only; the caller records it), on the tenant's compiled rules."""
    home = request.home or home_identity(request.user.identities)
    refused = collaboration_refusal(session, request.tenant_id, home, request.app_id)
    if refused is not None:
        return ca.Decision(True, (), False, None, None, (), "notApplied", refused)
    rules = rules_of(session, request.tenant_id)
    if rules.empty:
        return ca.evaluate(ca.SignInFacts(user_id=request.user.id, now=request.now), rules)
    return ca.evaluate(facts_of(session, request, rules), rules)


def applied_policies(decision: ca.Decision) -> list[dict[str, Any]]:
    """Graph's ``appliedConditionalAccessPolicies`` of a sign-in log row."""
    return [
        {
            "id": r.policy_id,
            "displayName": r.display_name,
            "enforcedGrantControls": list(r.enforced_grant_controls),
            "enforcedSessionControls": list(r.enforced_session_controls),
            "result": r.result,
        }
        for r in decision.results
    ]


def log_details(decision: ca.Decision) -> dict[str, Any]:
    """What a sign-in log row keeps of the decision (its ``details``)."""
    return {"appliedConditionalAccessPolicies": applied_policies(decision)}


def blocked_message(decision: ca.Decision) -> str:
    if decision.error_code in REFUSALS:
        return REFUSALS[decision.error_code]
    names = [r.display_name for r in decision.results if r.applies and r.state == ENABLED and r.result == "failure"]
    listed = ", ".join(f"'{n}'" for n in names) or "a conditional access policy"
    return f"Access has been blocked by conditional access policies ({listed})."


def decide_now(sessions: sessionmaker[Session], request: AccessRequest) -> ca.Decision:
    """``decide`` in a read of its own, for callers that hold no session."""
    with sessions() as session:
        return decide(session, request)


class AccessRefusedError(RedirectError):
    """Step 12 of an authorization request refused it; ``access`` is the decision, for the sign-in log."""

    def __init__(self, error: str, code: int, message: str, access: ca.Decision) -> None:
        super().__init__(error, code, message)
        self.access = access


def authorize_access(session: Session, request: AccessRequest, *, silent: bool) -> ca.Decision:
    """Conditional access for an app's authorization request (OpenID Connect or SAML): the decision when the
    sign-in may go on (``decision.required`` holding ``mfa`` when a second factor must be asked for first), or
    ``AccessRefusedError``: blocked (AADSTS53003), or an interaction a silent request (``prompt=none``) can't have.
    Terms of use not yet accepted are in ``decision.required`` too (``terms_required``)."""
    decision = decide(session, request)
    if decision.blocked:
        raise AccessRefusedError("access_denied", decision.error_code, blocked_message(decision), decision)
    if silent and (decision.required or decision.reauthenticate):
        message = "Conditional access requires an interactive sign-in (multifactor authentication or terms of use)."
        raise AccessRefusedError("interaction_required", decision.error_code, message, decision)
    return decision


def terms_required(decision: ca.Decision) -> list[str]:
    """The agreements the decision asks the user to accept (after any second factor)."""
    return [c.removeprefix(TERMS) for c in decision.required if c.startswith(TERMS)]


def home_mfa_trusted(session: Session, tenant_id: str, home_tenant_id: str | None, *, setting: bool) -> bool:
    """Whether MFA a guest did at their home tenant counts here: the tenant's "trust the home tenant's MFA"
    setting (``setting``), or the cross-tenant access settings' inbound trust (``isMfaAccepted``) of the guest's
    home tenant as a partner, else of the default configuration."""
    if setting:
        return True
    if home_tenant_id is None:
        return False
    partner = session.get(CrossTenantPartner, (tenant_id, home_tenant_id))
    trust = (partner.settings or {}).get("inboundTrust") if partner is not None else None
    if trust is None:
        policy = session.get(CrossTenantPolicy, tenant_id)
        trust = ((policy.default_config if policy is not None else None) or {}).get("inboundTrust")
    return bool((trust or {}).get("isMfaAccepted"))
