"""Attribute-mapping throughput: the default user mapping set (~15 mappings) over 100,000 users on one core.

Run by hand:  .venv/bin/python -m bench.bench_expressions [--users 100000] [--cpu 0]

Every mapping is compiled once (``compile_expression``) and evaluated per user; nothing is parsed per user.
Rows, all measured in this run on the same synthetic users (seeded, generated before timing):

- baseline: a plain dict copy of the attribute each mapping reads (the least any mapping engine must do);
- the bench set (the 8x8 tutorial's table + displayName, preferredLanguage, name.formatted, manager) evaluated on
  plain dicts, then on ``source_view`` (keys lower-cased once per user, counted in the time), then with the
  SCIM body built by ``build_scim_resource``;
- the generic SCIM set (22 mappings, Entra's generic SCIM app);
- the same bench set re-parsed for every user (what "compile once" saves), on a 2,000-user sample.

Each row reports the best of ``--repeat`` passes (default 3), since the machine may be shared.
Target: at least 20,000 users/s for the bench set, so mapping is never the bottleneck of a cycle.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from hospes.expressions import NO_FLOW, build_scim_resource, compile_expression, source_view
from hospes.expressions.defaults import BENCH_USER_MAPPINGS, SCIM_USER_MAPPINGS, DefaultMapping

console = Console(width=140)
TARGET = 20_000
FIRST = ["Ana", "Zoë", "John", "Élodie", "Mei", "Oluwaseun", "Björn", "Priya", "Łukasz", "Sofía"]
LAST = ["López", "Smith", "Dubois", "Nakamura", "Okafor", "Müller", "Ivanova", "Kowalski", "Rossi", "Haddad"]
DEPARTMENTS = ["Sales", "R&D", "Finance", "Support", "Legal", None]
TITLES = ["Engineer", "Manager", "Analyst", "Director", None]
CITIES = ["Paris", "Lyon", "Berlin", "Madrid", "Tokyo"]


def make_users(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    users: list[dict[str, Any]] = []
    for i in range(count):
        given, sur = rng.choice(FIRST), rng.choice(LAST)
        nick = f"u{i}"
        user: dict[str, Any] = {
            "objectId": f"00000000-0000-4000-8000-{i:012d}",
            "userPrincipalName": f"{nick}@contoso.example",
            "mailNickname": nick,
            "mail": f"{given.lower()}.{nick}@contoso.example",
            "givenName": given,
            "surname": sur,
            "displayName": f"{given} {sur}",
            "jobTitle": rng.choice(TITLES),
            "department": rng.choice(DEPARTMENTS),
            "IsSoftDeleted": rng.random() < 0.05,
            "accountEnabled": True,
            "preferredLanguage": rng.choice(["en-US", "fr-FR", None]),
            "physicalDeliveryOfficeName": rng.choice(CITIES),
            "city": rng.choice(CITIES),
            "country": "FR",
            "manager": f"00000000-0000-4000-8000-{rng.randrange(count):012d}",
        }
        if rng.random() < 0.7:
            user["mobile"] = f"+33 6 {rng.randrange(10**8):08d}"
        if rng.random() < 0.5:
            user["telephoneNumber"] = f"+33 1 {rng.randrange(10**8):08d}"
        users.append(user)
    return users


REPEAT = 3


def timed(users: Sequence[dict[str, Any]], work: Callable[[dict[str, Any]], Any], repeat: int = REPEAT) -> float:
    """Best of ``repeat`` passes: the machine is shared, and the fastest pass is the least disturbed one."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        for user in users:
            work(user)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: the first allowed one)")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="passes per row; the best one is reported")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        pinned = f"pinned to CPU {cpu}"
    else:  # pragma: no cover - non-Linux
        pinned = "not pinned"

    users = make_users(args.users, args.seed)

    def plan(mappings: Sequence[DefaultMapping]) -> list[tuple[str, Any]]:
        return [(m.target, compile_expression(m.source)) for m in mappings]

    bench_set = plan(BENCH_USER_MAPPINGS)
    generic_set = plan(SCIM_USER_MAPPINGS)
    copy_pairs = [(target, sorted(expr.attributes)[0]) for target, expr in bench_set]

    def baseline(user: dict[str, Any]) -> dict[str, Any]:
        return {target: user.get(attr) for target, attr in copy_pairs}

    def evaluate(mappings: list[tuple[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def run(user: dict[str, Any]) -> dict[str, Any]:
            return {target: expr.evaluate(user) for target, expr in mappings}

        return run

    def evaluate_view(user: dict[str, Any]) -> dict[str, Any]:
        view = source_view(user)
        return {target: expr.evaluate(view) for target, expr in bench_set}

    def with_scim(user: dict[str, Any]) -> dict[str, Any]:
        view = source_view(user)
        return build_scim_resource({target: expr.evaluate(view) for target, expr in bench_set})

    def reparse(user: dict[str, Any]) -> dict[str, Any]:
        return {m.target: compile_expression(m.source).evaluate(user) for m in BENCH_USER_MAPPINGS}

    # Sanity: the measured code produces the expected body for one user.
    sample = with_scim(users[0])
    assert sample["userName"] == users[0]["userPrincipalName"]
    assert sample["active"] is (not users[0]["IsSoftDeleted"])
    assert (
        sample["urn:ietf:params:scim:schemas:extension:8x8:1.1:User"]["site"] == users[0]["physicalDeliveryOfficeName"]
    )
    assert evaluate(bench_set)(users[0]) == evaluate_view(users[0])
    no_flow = sum(v is NO_FLOW for v in evaluate(bench_set)(users[1]).values())

    small = users[: min(2_000, len(users))]
    rows: list[tuple[str, int, int, float]] = []
    n = args.repeat
    base_seconds = timed(users, baseline, n)
    rows.append(("baseline: dict copy of the mapped attributes", len(bench_set), len(users), base_seconds))
    cases: list[tuple[str, int, list[dict[str, Any]], Callable[[dict[str, Any]], Any]]] = [
        ("bench set, plain dict source", len(bench_set), users, evaluate(bench_set)),
        ("bench set, source_view", len(bench_set), users, evaluate_view),
        ("bench set + build_scim_resource", len(bench_set), users, with_scim),
        ("generic SCIM set", len(generic_set), users, evaluate(generic_set)),
        ("bench set, re-parsed per user", len(bench_set), small, reparse),
    ]
    for label, mappings, population, work in cases:
        rows.append((label, mappings, len(population), timed(population, work, n)))

    base_rate = len(users) / base_seconds
    table = Table(
        title=f"Attribute mapping, {len(users):,} synthetic users, one core ({pinned}), best of {args.repeat} passes"
    )
    for column in ("case", "mappings", "users", "seconds", "users/s", "mappings/s", "ratio vs baseline"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for label, mappings, count, seconds in rows:
        rate = count / seconds
        table.add_row(
            label,
            str(mappings),
            f"{count:,}",
            f"{seconds:.2f}",
            f"{rate:,.0f}",
            f"{rate * mappings:,.0f}",
            f"{base_rate / rate:.1f}x slower" if rate < base_rate else "1.0x",
        )
    console.print(table)
    bench_rate = len(users) / rows[1][3]
    verdict = "meets" if bench_rate >= TARGET else "MISSES"
    console.print(
        f"bench set: {bench_rate:,.0f} users/s {verdict} the {TARGET:,} users/s target "
        f"({no_flow} of {len(bench_set)} mappings did not flow for the second user)"
    )


if __name__ == "__main__":
    main()
