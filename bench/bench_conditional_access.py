"""Conditional-access decisions per second on one core, with 200 policies in the tenant.

Run by hand:  .venv/bin/python -m bench.bench_conditional_access [--policies 200] [--decisions 20000] [--cpu 0]

The policies are a seeded mix of what tenants write: users by id, groups, roles, all users with exclusions,
guests by type and home tenant; listed apps or All; client app types; named locations (10 IP locations, some
trusted); MFA, block, AND/OR; a quarter report-only, some disabled. They are compiled once (as a sign-in reads
them), and ``evaluate`` is timed alone over seeded sign-ins (members and guests, with and without MFA, inside and
outside the trusted ranges). Target: 50,000 decisions/s. Best of ``--repeat`` passes (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid
from datetime import UTC, datetime

from hospes.domain.ca_evaluation import (
    Location,
    Method,
    Policy,
    SignInFacts,
    compile_location,
    compile_policy,
    evaluate,
    policy_set,
)
from hospes.domain.conditional_access import parse_location, parse_policy

TARGET = 50_000
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _ids(rng: random.Random, n: int) -> list[str]:
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def build(n: int, seed: int = 7) -> tuple[list[Policy], dict[str, Location], list[SignInFacts]]:
    rng = random.Random(seed)
    users, groups, apps, tenants = _ids(rng, 500), _ids(rng, 50), _ids(rng, 30), _ids(rng, 5)
    locations: dict[str, Location] = {}
    for i in range(10):
        location_id = _ids(rng, 1)[0]
        form = parse_location(
            {
                "@odata.type": "#microsoft.graph.ipNamedLocation",
                "displayName": f"site {i}",
                "isTrusted": i < 3,
                "ipRanges": [{"cidrAddress": f"10.{i}.0.0/16"}, {"cidrAddress": f"2001:db8:{i}::/48"}],
            }
        )
        locations[location_id] = compile_location(form, location_id)
    policies = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.3:
            who = {"includeUsers": rng.sample(users, 5)}
        elif kind < 0.5:
            who = {"includeGroups": rng.sample(groups, 2), "excludeUsers": rng.sample(users, 2)}
        elif kind < 0.7:
            who = {"includeUsers": ["All"], "excludeGroups": rng.sample(groups, 1)}
        else:
            who = {
                "includeGuestsOrExternalUsers": {
                    "guestOrExternalUserTypes": "b2bCollaborationGuest",
                    "externalTenants": {"membershipKind": "enumerated", "members": rng.sample(tenants, 2)},
                }
            }
        conditions = {
            "users": who,
            "applications": {"includeApplications": ["All"] if rng.random() < 0.3 else rng.sample(apps, 3)},
            "clientAppTypes": rng.choice([["all"], ["browser"], ["browser", "mobileAppsAndDesktopClients"]]),
        }
        if rng.random() < 0.3:
            conditions["locations"] = {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
        # Blocks name their users (a tenant blocking everyone from an app is rare); device controls are rarer still.
        controls = ["block"] if kind < 0.05 else ["mfa", "compliantDevice"] if rng.random() < 0.05 else ["mfa"]
        form = parse_policy(
            {
                "displayName": f"policy {i}",
                "state": rng.choice(["enabled", "enabled", "enabledForReportingButNotEnforced", "disabled"]),
                "conditions": conditions,
                "grantControls": {"operator": rng.choice(["AND", "OR"]), "builtInControls": controls},
            }
        )
        policies.append(
            compile_policy(str(i), form["displayName"], form["state"], form["conditions"], form["grantControls"], None)
        )
    facts = []
    for _ in range(1000):
        guest = rng.random() < 0.3
        facts.append(
            SignInFacts(
                user_id=rng.choice(users),
                now=NOW,
                groups=frozenset(rng.sample(groups, 3)),
                external_user_type="b2bCollaborationGuest" if guest else None,
                home_tenant_id=rng.choice(tenants) if guest else None,
                app_id=rng.choice(apps),
                ip_address=f"10.{rng.randrange(20)}.1.{rng.randrange(250)}",
                methods=(Method("pwd", NOW), Method("otp", NOW)) if rng.random() < 0.5 else (Method("pwd", NOW),),
            )
        )
    return policies, locations, facts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policies", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    policies, locations, facts = build(args.policies)
    indexed = policy_set(policies)
    for name, rules in (("plain list (what-if)", policies), ("indexed PolicySet", indexed)):
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            for i in range(args.decisions):
                evaluate(facts[i % len(facts)], rules, locations)
            best = min(best, time.perf_counter() - started)
        outcomes: dict[str, int] = {}
        for sign_in in facts:
            decision = evaluate(sign_in, rules, locations)
            key = "blocked" if decision.blocked else "mfa" if decision.required else "allowed"
            outcomes[key] = outcomes.get(key, 0) + 1
        rate = args.decisions / best
        print(
            f"{name}: {args.policies} policies, {args.decisions} decisions: {rate:,.0f} decisions/s "
            f"({best / args.decisions * 1e6:.1f} µs each; target {TARGET:,}/s)  outcomes of 1,000 sign-ins: {outcomes}"
        )


if __name__ == "__main__":
    main()
