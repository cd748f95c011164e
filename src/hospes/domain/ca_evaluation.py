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

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from hospes.domain.ca_model import (
    BLOCKED,
    EVERY_TIME_GRACE,
    MFA_REQUIRED,
    PROMPT_ORDER,
    REAUTH_REQUIRED,
    SECOND_FACTORS,
    TERMS,
    TERMS_REQUIRED,
    Decision,
    Location,
    Method,
    Policy,
    PolicyResult,
    SignInFacts,
    compile_location,
    compile_policy,
)
from hospes.domain.ca_rules import Grant, Rules, bits, compile_rules, user_keys
from hospes.domain.conditional_access import DISABLED

__all__ = [
    "BLOCKED",
    "MFA_REQUIRED",
    "REAUTH_REQUIRED",
    "SECOND_FACTORS",
    "TERMS_REQUIRED",
    "Decision",
    "Location",
    "Method",
    "Policy",
    "PolicyResult",
    "Rules",
    "SignInFacts",
    "compile_location",
    "compile_policy",
    "compile_rules",
    "evaluate",
    "has_mfa",
]


def has_mfa(facts: SignInFacts, since: datetime | None = None) -> bool:
    return any(m.kind in SECOND_FACTORS and (since is None or m.at >= since) for m in facts.methods)


def _met(control: str, facts: SignInFacts, mfa: bool) -> bool:
    if control == "mfa":
        return mfa
    if control == "compliantDevice":
        return facts.device_compliant
    if control == "domainJoinedDevice":
        return facts.device_domain_joined
    if control.startswith(TERMS):
        return control.removeprefix(TERMS).lower() in facts.accepted_terms
    return False


def _askable(control: str) -> bool:
    return control == "mfa" or control.startswith(TERMS)


def _grant_outcome(grant: Grant, facts: SignInFacts, mfa: bool) -> tuple[str, tuple[str, ...]]:
    """``("ok" | "ask" | "block", controls to ask for)`` for one applying policy; ``mfa``: a second factor recent
    enough for the sign-in frequency was done."""
    controls = grant.controls
    if "block" in controls:
        return "block", ()
    if not controls:
        return "ok", ()  # session controls only
    unmet = [c for c in controls if not _met(c, facts, mfa)]
    if grant.all_needed:
        if not unmet:
            return "ok", ()
        if not all(_askable(c) for c in unmet):
            return "block", ()
        return "ask", tuple(unmet)
    if len(unmet) < len(controls):
        return "ok", ()
    askable = [c for c in controls if _askable(c)]
    return ("ask", (askable[0],)) if askable else ("block", ())


_REPORTED = {"ok": "reportOnlySuccess", "ask": "reportOnlyInterrupted", "block": "reportOnlyFailure"}


def evaluate(
    facts: SignInFacts,
    policies: Iterable[Policy] | Rules,
    locations: Mapping[str, Location] | None = None,
    *,
    explain: bool | None = None,
) -> Decision:
    """The decision for ``facts`` under ``policies`` (every state; disabled ones are reported as notEnabled).

    ``policies`` compiled (``compile_rules``, as a sign-in holds them per tenant) decide fastest; a plain list is
    compiled here. ``explain`` (default: for a plain list) names, for each policy that doesn't apply, the
    conditions that kept it out (what-if's analysisReasons); the decision itself never depends on it."""
    if isinstance(policies, Rules):
        rules, explain = policies, bool(explain)
    else:
        rules, explain = compile_rules(policies, locations), explain is None or explain
    return _decide(rules, facts, explain)


_NOTHING = Decision(False, (), False, None, None, (), "notApplied", 0)


def _decide(rules: Rules, facts: SignInFacts, explain: bool) -> Decision:
    if rules.empty:
        return _NOTHING
    users = rules.users_ok(user_keys(facts))
    apps = rules.apps_ok(facts)
    clients = rules.clients_ok(facts)
    ok = (rules.enabled | rules.report_only) & users & apps & clients & ~rules.never
    places = platforms = -1  # every bit set: the condition keeps nobody out
    if rules.located and (explain or ok & rules.located):
        places = rules.places_ok(rules.where(facts))
        ok &= places
    if rules.platformed and (explain or ok & rules.platformed):
        platforms = rules.platforms_ok(facts)
        ok &= platforms

    listed, enabled = rules.policies, rules.enabled
    applying = ok & enabled
    frequency = None
    if applying & rules.timed:
        frequency = min(f for i in bits(applying & rules.timed) if (f := rules.frequencies[i]) is not None)
    primary = [m.at for m in facts.methods if m.kind not in SECOND_FACTORS]
    last_primary = max(primary) if primary else None
    allowed_age = max(frequency, EVERY_TIME_GRACE) if frequency is not None else None
    mfa_since = facts.now - allowed_age if allowed_age is not None else None
    reauthenticate = allowed_age is not None and (last_primary is None or facts.now - last_primary > allowed_age)
    browser = None
    if applying & rules.browsing:
        browsers = {rules.browsers[i] for i in bits(applying & rules.browsing)}
        browser = "never" if "never" in browsers else "always" if "always" in browsers else None

    # Policies share few distinct grants: each is weighed once per decision.
    mfa = has_mfa(facts, mfa_since)
    by_grant: list[tuple[str, tuple[str, ...]] | None] = [None] * len(rules.grants)
    grants, grant_of, applied = rules.grants, rules.grant_of, rules.applied
    blocked = False
    wanted: set[str] = set()
    results = list(rules.idle)
    for i in bits(ok):
        g = grant_of[i]
        outcome = by_grant[g]
        if outcome is None:
            outcome = by_grant[g] = _grant_outcome(grants[g], facts, mfa)
        kind = outcome[0]
        if enabled >> i & 1:
            if kind == "block":
                blocked = True
            elif kind == "ask":
                wanted.update(outcome[1])
            results[i] = applied[i]["success" if kind == "ok" and not reauthenticate else "failure"]
        else:
            results[i] = applied[i][_REPORTED[kind]]
    required = () if blocked else tuple(_order(wanted))
    if explain:
        for i, policy in enumerate(listed):
            bit = 1 << i
            if ok & bit or policy.state == DISABLED:
                continue
            reasons = [
                name
                for name, mask in (
                    ("users", users),
                    ("userAction" if facts.user_action else "application", apps),
                    ("clientApps", clients),
                    ("location", places),
                    ("devicePlatform", platforms),
                )
                if not mask & bit
            ]
            results[i] = replace(results[i], not_matched=(*reasons, *rules.risk_reasons[i]))
    pending = blocked or bool(required) or reauthenticate
    status = "notApplied" if not applying else "failure" if pending else "success"
    code = (
        BLOCKED
        if blocked
        else MFA_REQUIRED
        if "mfa" in required
        else REAUTH_REQUIRED
        if reauthenticate
        else TERMS_REQUIRED
        if required
        else 0
    )
    return Decision(blocked, required, reauthenticate, frequency, browser, tuple(results), status, code)


def _order(controls: set[str]) -> list[str]:
    first = [c for c in PROMPT_ORDER if c in controls]
    return first + sorted(c for c in controls if c not in PROMPT_ORDER)
