"""Delta query cost: a round returning 100 changes on a 10,000-user tenant vs a 1,000,000-user tenant.

Run by hand:  .venv/bin/python -m bench.bench_delta [--database-url postgresql+psycopg://...] [--big 1000000]

Both tenants are seeded in the same run by bulk inserts straight into ``users`` and ``change_log`` (one "created"
change row per user, as the API would write), not through the API. With SQLite (the default) each tenant gets
its own database file in /tmp, so the big one really is a 1M-row table; with ``--database-url`` both tenants
share that database. A real server process serves each database; the measures are HTTP round trips:

- the 100-change round: take ``$deltatoken=latest``, PATCH 100 users, then GET that deltaLink ``--repeat``
  times (a deltaLink can be replayed; each GET returns the same 100 changes). Median and p90. Target: big/small
  median ratio at most 1.2 (cost depends on the changes, not on the directory size);
- the first full round: every page of ``/users/delta`` from the start, objects per second (``--full-limit``
  stops the big tenant's round early and reports the rate of the pages read).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from bench._server import fresh_database, new_tenant, server, sessions_for, token
from hospes.domain.schema import USER
from hospes.services.tenants import TenantBootstrap
from hospes.storage.engine import make_engine
from hospes.storage.tables import ChangeLog, User

console = Console(width=160)
BATCH = 10_000
CREATED_PROPS = sorted(p.name for p in USER.props)


def seed(url: str, boot: TenantBootstrap, count: int) -> float:
    """Insert ``count`` users and their "created" change rows; return the seconds it took."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    start = time.perf_counter()
    for first in range(0, count, BATCH):
        users: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        for i in range(first, min(first + BATCH, count)):
            uid = str(uuid.uuid4())
            upn = f"s{tag}{i}@{boot.domain}"
            users.append(
                {
                    "id": uid,
                    "tenant_id": boot.tenant_id,
                    "user_principal_name": upn,
                    "upn_key": upn,
                    "mail": upn,
                    "mail_key": upn,
                    "mail_nickname": f"s{tag}{i}",
                    "display_name": f"Seeded {i}",
                    "given_name": "Seeded",
                    "surname": str(i),
                    "other_mails": [],
                    "business_phones": [],
                    "identities": [],
                    "account_enabled": True,
                    "user_type": "Member",
                    "force_change_password": False,
                    "created_at": now,
                }
            )
            changes.append(
                {
                    "tenant_id": boot.tenant_id,
                    "object_type": "user",
                    "object_id": uid,
                    "change_type": "created",
                    "properties": CREATED_PROPS,
                    "at": now,
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(User), users)
            conn.execute(insert(ChangeLog), changes)
        if first and first % 100_000 == 0:
            console.print(f"  seeded {first:,} users ({time.perf_counter() - start:.0f} s)")
    return time.perf_counter() - start


def change_round(http: httpx.Client, changes: int, repeat: int) -> list[float]:
    """Latencies of GET deltaLink returning ``changes`` changed users."""
    latest = http.get("/v1.0/users/delta?$deltatoken=latest").json()["@odata.deltaLink"]
    victims = http.get(f"/v1.0/users?$top={changes}&$select=id").json()["value"]
    assert len(victims) == changes
    for n, user in enumerate(victims):
        response = http.patch(
            f"/v1.0/users/{user['id']}", json={"jobTitle": f"Bench {n} {uuid.uuid4().hex[:4]}"}
        )
        assert response.status_code == 204, response.text
    times = []
    for _ in range(repeat + 2):
        start = time.perf_counter()
        body = http.get(latest).json()
        times.append(time.perf_counter() - start)
        assert len(body["value"]) == changes and "@odata.deltaLink" in body, body
    return times[2:]  # the first two warm caches and connections


def full_round(http: httpx.Client, limit: int | None) -> tuple[int, float]:
    """(objects, seconds) of the first round, stopping after ``limit`` objects if given."""
    url = "/v1.0/users/delta"
    objects = 0
    start = time.perf_counter()
    while True:
        body = http.get(url).json()
        objects += len(body["value"])
        if "@odata.deltaLink" in body or (limit and objects >= limit):
            return objects, time.perf_counter() - start
        url = body["@odata.nextLink"]


def measure(url: str, users: int, tmp: str, args: argparse.Namespace, limit: int | None) -> dict[str, Any]:
    sessions = sessions_for(url)
    boot = new_tenant(sessions)
    console.print(f"seeding {users:,} users ...")
    seeded = seed(url, boot, users - 1)  # the tenant's admin is the last one
    with server(url, tmp) as base:
        headers = {"Authorization": f"Bearer {token(base, boot)}"}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as http:
            times = change_round(http, args.changes, args.repeat)
            objects, seconds = full_round(http, limit)
    return {"users": users, "seed": seeded, "times": times, "objects": objects, "full_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--full-limit", type=int, default=None, help="stop the big tenant's full round early")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-delta-", dir="/tmp") as tmp:
        results = []
        for users, limit in ((args.small, None), (args.big, args.full_limit)):
            url = fresh_database(args.database_url, tmp)
            results.append(measure(url, users, tmp, args, limit))
    backend = "PostgreSQL (one database)" if args.database_url else "SQLite (one file per tenant)"
    table = Table(title=f"Delta query, {backend}: round of {args.changes} changes, then the first full round")
    for column in (
        "tenant users",
        "seed time",
        "100-change round p50",
        "p90",
        "full round objects",
        "objects/s",
    ):
        table.add_column(column, justify="right")
    for r in results:
        times = sorted(r["times"])
        table.add_row(
            f"{r['users']:,}",
            f"{r['seed']:.0f} s",
            f"{statistics.median(times) * 1000:.1f} ms",
            f"{times[int(len(times) * 0.9) - 1] * 1000:.1f} ms",
            f"{r['objects']:,}",
            f"{r['objects'] / r['full_seconds']:,.0f}",
        )
    console.print(table)
    ratio = statistics.median(results[1]["times"]) / statistics.median(results[0]["times"])
    verdict = "OK" if ratio <= 1.2 else "ABOVE TARGET"
    console.print(f"100-change round, big/small median ratio: {ratio:.2f} (target <= 1.2: {verdict})")


if __name__ == "__main__":
    main()
