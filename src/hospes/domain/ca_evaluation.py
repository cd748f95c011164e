"""The conditional-access decision of one sign-in: facts in, decision out, no I/O.

Every interactive sign-in (the portal, My Apps, OpenID Connect and SAML sign-ins, redemption) and the what-if
API call ``evaluate`` with the same facts, so a what-if can't disagree with the live decision. The rules:

* A policy applies when every condition it sets matches (users, applications, client app types, locations,
  platforms); in each, an exclusion beats an inclusion. Risk conditions never match (there is no risk engine).
* Every applying enabled policy must be satisfied. ``block`` in any of them ends the sign-in (AADSTS53003).
* A policy's grant controls: AND needs every control, OR needs one. A control that can't be asked for here
  (device compliance without a trusted claim, app protection, password change, custom controls) makes the policy
  unsatisfiable, which blocks, as Entra does. MFA and terms of use are asked for, in Entra's prompt order.
* Report-only policies are evaluated and reported (reportOnlySuccess / Failure / Interrupted / NotApplied) and
  never change the decision.
* Session controls: the strictest sign-in frequency of the applying enabled policies; a persistent browser
  "never" wins over "always".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from hospes.domain.ca_model import (
    BLOCKED,
    EVERY_TIME,
    EVERY_TIME_GRACE,
    MFA_REQUIRED,
    PROMPT_ORDER,
    REAUTH_REQUIRED,
    SECOND_FACTORS,
    TERMS,
    Decision,
    Location,
    Method,
    Policy,
    PolicyResult,
    PolicySet,
    SignInFacts,
    compile_location,
    compile_policy,
    policy_set,
)
from hospes.domain.conditional_access import ALL, ALL_TRUSTED, DISABLED, ENABLED, REPORT_ONLY

__all__ = [
    "BLOCKED",
    "MFA_REQUIRED",
    "REAUTH_REQUIRED",
    "SECOND_FACTORS",
    "Decision",
    "Location",
    "Method",
    "Policy",
    "PolicyResult",
    "PolicySet",
    "SignInFacts",
    "compile_location",
    "compile_policy",
    "evaluate",
    "has_mfa",
    "policy_set",
]


def _guests_match(rule: Mapping[str, Any] | None, facts: SignInFacts) -> bool:
    if not rule or facts.external_user_type is None:
        return False
    if facts.external_user_type not in (rule.get("guestOrExternalUserTypes") or "").split(","):
        return False
    tenants = rule.get("externalTenants") or {}
    if tenants.get("membershipKind") == "enumerated":
        home = (facts.home_tenant_id or "").lower()
        return bool(home) and home in {m.lower() for m in tenants.get("members") or ()}
    return True


def _users_match(policy: Policy, facts: SignInFacts) -> bool:
    sets, users = policy.users, policy.conditions.get("users") or {}
    user, groups, roles = facts.user_id, facts.groups, facts.roles  # lower-cased by ``evaluate``
    is_external = facts.external_user_type is not None
    if (
        user in sets["excludeUsers"]
        or (is_external and "guestsorexternalusers" in sets["excludeUsers"])
        or groups & sets["excludeGroups"]
        or roles & sets["excludeRoles"]
        or _guests_match(users.get("excludeGuestsOrExternalUsers"), facts)
    ):
        return False
    include = sets["includeUsers"]
    return bool(
        "all" in include
        or user in include
        or (is_external and "guestsorexternalusers" in include)
        or groups & sets["includeGroups"]
        or roles & sets["includeRoles"]
        or _guests_match(users.get("includeGuestsOrExternalUsers"), facts)
    )


def _apps_match(policy: Policy, facts: SignInFacts) -> bool:
    sets = policy.apps
    if facts.user_action is not None:
        return facts.user_action.lower() in sets["includeUserActions"]
    app = (facts.app_id or "").lower()

    def named(values: frozenset[str]) -> bool:
        return bool(app and app in values) or (facts.admin_portal and "microsoftadminportals" in values)

    if named(sets["excludeApplications"]):
        return False
    include = sets["includeApplications"]
    return "all" in include or named(include)


def _client_app_match(policy: Policy, facts: SignInFacts) -> bool:
    types = policy.conditions.get("clientAppTypes") or ["all"]
    return "all" in types or facts.client_app_type in types


def _where(facts: SignInFacts, locations: Mapping[str, Location]) -> tuple[set[str], bool]:
    """The named locations the sign-in is in, and whether any of them is trusted."""
    address = None
    if facts.ip_address:
        try:
            address = ipaddress.ip_address(facts.ip_address)
        except ValueError:
            address = None
    inside: set[str] = set()
    for location in locations.values():
        if location.networks:
            if address is not None and any(address in net for net in location.networks):
                inside.add(location.id.lower())
        elif location.countries or location.include_unknown_countries:
            known = facts.country is not None
            if (known and facts.country in location.countries) or (not known and location.include_unknown_countries):
                inside.add(location.id.lower())
    trusted = any(locations[i].trusted for i in locations if i.lower() in inside)
    return inside, trusted


def _location_match(policy: Policy, where: tuple[set[str], bool]) -> bool:
    rule = policy.conditions.get("locations")
    if not rule:
        return True
    inside, trusted = where

    def named(values: Iterable[str]) -> bool:
        return any(v == ALL or (v == ALL_TRUSTED and trusted) or v.lower() in inside for v in values)

    if named(rule.get("excludeLocations") or ()):
        return False
    return named(rule.get("includeLocations") or ())


def _platform_match(policy: Policy, facts: SignInFacts) -> bool:
    rule = policy.conditions.get("platforms")
    if not rule:
        return True
    exclude, include = rule.get("excludePlatforms") or (), rule.get("includePlatforms") or ()
    if "all" in exclude or (facts.platform is not None and facts.platform in exclude):
        return False
    return "all" in include or (facts.platform is not None and facts.platform in include)


def _not_matched(policy: Policy, facts: SignInFacts, where: tuple[set[str], bool]) -> tuple[str, ...]:
    """The conditions that don't match, named as what-if's analysisReasons; empty when the policy applies."""
    out = []
    if not _users_match(policy, facts):
        out.append("users")
    if not _apps_match(policy, facts):
        out.append("userAction" if facts.user_action else "application")
    if not _client_app_match(policy, facts):
        out.append("clientApps")
    if not _location_match(policy, where):
        out.append("location")
    if not _platform_match(policy, facts):
        out.append("devicePlatform")
    conditions = policy.conditions
    for name, reason in (
        ("signInRiskLevels", "signInRisk"),
        ("userRiskLevels", "userRisk"),
        ("servicePrincipalRiskLevels", "servicePrincipalRisk"),
    ):
        if conditions.get(name):
            out.append(reason)
    return tuple(out)


def has_mfa(facts: SignInFacts, since: datetime | None = None) -> bool:
    return any(m.kind in SECOND_FACTORS and (since is None or m.at >= since) for m in facts.methods)


def _met(control: str, facts: SignInFacts, mfa_since: datetime | None) -> bool:
    if control == "mfa":
        return has_mfa(facts, mfa_since)
    if control == "compliantDevice":
        return facts.device_compliant
    if control == "domainJoinedDevice":
        return facts.device_domain_joined
    if control.startswith(TERMS):
        return control.removeprefix(TERMS) in facts.accepted_terms
    return False


def _askable(control: str) -> bool:
    return control == "mfa" or control.startswith(TERMS)


def _grant_outcome(policy: Policy, facts: SignInFacts, mfa_since: datetime | None) -> tuple[str, tuple[str, ...]]:
    """``("ok" | "ask" | "block", controls to ask for)`` for one applying policy."""
    controls = policy.controls
    if "block" in controls:
        return "block", ()
    if not controls:
        return "ok", ()  # session controls only
    unmet = [c for c in controls if not _met(c, facts, mfa_since)]
    if (policy.grant or {}).get("operator") == "AND":
        if not unmet:
            return "ok", ()
        if not all(_askable(c) for c in unmet):
            return "block", ()
        return "ask", tuple(unmet)
    if len(unmet) < len(controls):
        return "ok", ()
    askable = [c for c in controls if _askable(c)]
    return ("ask", (askable[0],)) if askable else ("block", ())


def _frequency(policy: Policy) -> timedelta | None:
    rule = (policy.session or {}).get("signInFrequency")
    if not rule or not rule.get("isEnabled", True):
        return None
    if rule.get("frequencyInterval") == "everyTime":
        return EVERY_TIME
    amount = int(rule.get("value") or 0)
    return timedelta(days=amount) if rule.get("type") == "days" else timedelta(hours=amount)


def _report(outcome: str) -> str:
    return {"ok": "reportOnlySuccess", "ask": "reportOnlyInterrupted", "block": "reportOnlyFailure"}[outcome]


def evaluate(
    facts: SignInFacts, policies: Iterable[Policy] | PolicySet, locations: Mapping[str, Location] | None = None
) -> Decision:
    """The decision for ``facts`` under ``policies`` (every state; disabled ones are reported as notEnabled). A
    ``PolicySet`` decides the same, faster, with shorter reasons for the policies that don't include the user."""
    locations = locations or {}
    facts = replace(
        facts,
        user_id=facts.user_id.lower(),
        groups=frozenset(g.lower() for g in facts.groups),
        roles=frozenset(r.lower() for r in facts.roles),
    )
    where = _where(facts, locations)
    indexed = policies if isinstance(policies, PolicySet) else None
    candidates = indexed.candidates(facts) if indexed is not None else None
    applying: list[Policy] = []
    reports: list[tuple[Policy, tuple[str, ...] | PolicyResult]] = []
    listed = policies.policies if isinstance(policies, PolicySet) else policies
    for index, policy in enumerate(listed):
        if indexed is not None and candidates is not None and (index not in candidates or policy.state == DISABLED):
            reports.append((policy, indexed.idle[index]))
            continue
        if policy.state == DISABLED:
            reports.append((policy, ()))
            continue
        missing = _not_matched(policy, facts, where)
        if not missing and policy.state == ENABLED:
            applying.append(policy)
        reports.append((policy, missing))

    frequencies = [f for f in (_frequency(p) for p in applying) if f is not None]
    frequency = min(frequencies) if frequencies else None
    primary = [m.at for m in facts.methods if m.kind not in SECOND_FACTORS]
    last_primary = max(primary) if primary else None
    allowed_age = max(frequency, EVERY_TIME_GRACE) if frequency is not None else None
    mfa_since = facts.now - allowed_age if allowed_age is not None else None
    reauthenticate = allowed_age is not None and (last_primary is None or facts.now - last_primary > allowed_age)
    browsers = [((p.session or {}).get("persistentBrowser") or {}).get("mode") for p in applying]
    browser = "never" if "never" in browsers else "always" if "always" in browsers else None

    outcomes = {p.id: _grant_outcome(p, facts, mfa_since) for p in applying}
    blocked = any(kind == "block" for kind, _ in outcomes.values())
    wanted = {c for kind, asked in outcomes.values() if kind == "ask" for c in asked}
    required = () if blocked else tuple(c for c in _order(wanted))

    results: list[PolicyResult] = []
    for policy, report in reports:
        if isinstance(report, PolicyResult):
            results.append(report)
            continue
        missing = report
        grant, session = policy.controls, policy.session_names
        if policy.state == DISABLED:
            results.append(PolicyResult(policy.id, policy.display_name, policy.state, "notEnabled", False))
            continue
        applies = not missing
        if policy.state == REPORT_ONLY:
            result = _report(_grant_outcome(policy, facts, mfa_since)[0]) if applies else "reportOnlyNotApplied"
        elif not applies:
            result = "notApplied"
        else:
            result = "success" if outcomes[policy.id][0] == "ok" and not reauthenticate else "failure"
        results.append(
            PolicyResult(
                policy.id,
                policy.display_name,
                policy.state,
                result,
                applies,
                grant if applies else (),
                session if applies else (),
                missing,
            )
        )
    pending = blocked or bool(required) or reauthenticate
    status = "notApplied" if not applying else "failure" if pending else "success"
    code = BLOCKED if blocked else MFA_REQUIRED if "mfa" in required else REAUTH_REQUIRED if reauthenticate else 0
    return Decision(blocked, required, reauthenticate, frequency, browser, tuple(results), status, code)


def _order(controls: set[str]) -> list[str]:
    first = [c for c in PROMPT_ORDER if c in controls]
    return first + sorted(c for c in controls if c not in PROMPT_ORDER)
