"""Conditional access at the token endpoint. A refresh and a resource-owner password grant are sign-ins too: a
policy added after the user signed in, a sign-in frequency that ran out, or a control the session never satisfied
stops the token there, as it would stop a new sign-in. Report-only policies are logged, never enforced.

What the client is told (``error`` and AADSTS number, what an app branches on):

* blocked: ``invalid_grant``, 53003;
* the sign-in frequency ran out (authentication older than the strictest applying frequency): ``invalid_grant``,
  70043, so the app signs the user in again;
* a second factor the session lacks: ``interaction_required``, 50076;
* terms of use not accepted: ``interaction_required``, 50158 (an interrupt the user completes in the browser).

The client app type is ``mobileAppsAndDesktopClients`` for the password grant and for refresh tokens a public
client obtained, ``browser`` for a web app's refresh tokens (its user signed in through the browser).

Reads stay cheap on this hot path: one raw read of the tenant's rules version; nothing more when the tenant has no
policy; the user's groups only when a policy names groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain import ca_evaluation as ca
from hospes.services.access_decision import (
    Person,
    blocked_message,
    external_user_type,
    home_tenant_of,
    log_details,
)
from hospes.services.access_rules import kept_rules, rules_of
from hospes.services.memberships import transitive_groups
from hospes.services.terms_of_use import accepted_agreements
from hospes.storage.engine import RawReads
from hospes.storage.tables_access import AccessRulesVersion

_VERSION = select(AccessRulesVersion.version).where(AccessRulesVersion.tenant_id == bindparam("tenant_id"))


def token_rules(reads: RawReads, sessions: sessionmaker[Session], tenant_id: str) -> ca.Rules:
    """The tenant's compiled rules: one raw read when this process holds them at the current version."""
    row = reads.one(_VERSION, {"tenant_id": tenant_id})
    rules = kept_rules(reads.engine, tenant_id, int(row[0]) if row else 0)
    if rules is None:
        with sessions() as session:
            rules = rules_of(session, tenant_id)
    return rules


def token_decision(
    rules: ca.Rules,
    sessions: sessionmaker[Session],
    *,
    tenant_id: str,
    user_id: str,
    person: Person,
    roles: Iterable[str],
    app_id: str,
    client_app_type: str,
    amr: Sequence[str],
    authenticated_at: datetime,
    now: datetime,
    address: str | None,
    accepted_terms: frozenset[str] = frozenset(),
) -> ca.Decision | None:
    """The decision for a token request; None when the tenant has no policy (nothing to evaluate or log)."""
    if rules.empty:
        return None
    groups: set[str] = set()
    if rules.needs_groups or rules.terms:
        with sessions() as session:
            if rules.needs_groups:
                groups = transitive_groups(session, tenant_id, user_id)
            if rules.terms:
                accepted_terms |= accepted_agreements(session, tenant_id, user_id, rules.terms, now)
    facts = ca.SignInFacts(
        user_id=user_id,
        now=now,
        groups=frozenset(groups),
        roles=frozenset(roles),
        external_user_type=external_user_type(person),
        home_tenant_id=home_tenant_of(person),
        app_id=app_id,
        client_app_type=client_app_type,
        ip_address=address,
        methods=tuple(ca.Method(m, authenticated_at) for m in dict.fromkeys(amr)),
        accepted_terms=accepted_terms,
    )
    return ca.evaluate(facts, rules)


def refusal(decision: ca.Decision | None) -> tuple[str, int, str] | None:
    """``(error, AADSTS number, description)`` when the decision stops the token, else None."""
    if decision is None or decision.satisfied:
        return None
    if decision.blocked:
        return "invalid_grant", ca.BLOCKED, blocked_message(decision)
    if decision.reauthenticate:
        return (
            "invalid_grant",
            ca.REAUTH_REQUIRED,
            "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. "
            "Sign in again.",
        )
    if "mfa" in decision.required:
        return (
            "interaction_required",
            ca.MFA_REQUIRED,
            "Due to a configuration change made by your administrator, or because you moved to a new location, "
            "you must use multi-factor authentication to access this application.",
        )
    return (
        "interaction_required",
        ca.TERMS_REQUIRED,
        "Conditional access requires accepting the terms of use; sign in interactively.",
    )


def token_log(decision: ca.Decision | None) -> tuple[str, dict[str, Any]]:
    """The sign-in row's ``conditionalAccessStatus`` and the details it keeps of the decision."""
    if decision is None:
        return "notApplied", {}
    return decision.status, log_details(decision)
