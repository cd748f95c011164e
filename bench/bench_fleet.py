"""A fleet on one machine: ``POST /invitations`` and ``GET /users?$filter`` through HAProxy to one and then two API
nodes on the same PostgreSQL primary, and the filtered reads again with ``ConsistencyLevel: eventual`` going to a
streaming replica. Prints requests/s, p50/p99 and the scaling factor of two nodes over one.

    PYTHONPATH=src:. python bench/bench_fleet.py --seconds 3

Every process (PostgreSQL primary and replica, HAProxy, the nodes, this load generator) shares the machine's
cores: on 2 cores two nodes cannot reach twice one node's throughput, the factor measures how much the second node
still adds. Needs postgresql and haproxy (Debian packages); bounded to about 5 x --seconds of load."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import httpx
from tests.helpers.infra import haproxy, postgres_pair
from tests.helpers.live import run_server

from bench.bench_users import seed
from hospes.services.tenants import create_tenant
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade

CONCURRENCY = 32
FILTER = "/v1.0/users?$filter=startswith(displayName,'User 00')&$top=50&$select=id,displayName"


@dataclass
class Result:
    rate: float
    p50: float
    p99: float
    errors: int


async def _load(base: str, seconds: float, request: Callable[[aiohttp.ClientSession, str], object]) -> Result:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            started = time.perf_counter()
            async with request(session, base) as answer:  # type: ignore[attr-defined]
                await answer.read()
                if answer.status >= 400:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return Result(
        len(latencies) / elapsed,
        statistics.median(ordered) * 1000,
        ordered[int(0.99 * (len(ordered) - 1))] * 1000,
        errors,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="load per measurement (5 measurements)")
    parser.add_argument("--users", type=int, default=5000, help="users in the tenant the filter reads")
    args = parser.parse_args()
    with postgres_pair() as pair, tempfile.TemporaryDirectory() as tmp:
        upgrade(pair.primary_url)
        database = Database.open(pair.primary_url)
        boot = create_tenant(database.sessions, "Bench", f"bench-{uuid.uuid4().hex[:8]}.example")
        database.dispose()
        seed(pair.primary_url, boot.tenant_id, boot.domain, args.users)
        env = {
            "HOSPES_PUBLIC_URL": "http://bench.example",
            "HOSPES_ACCESS_LOG": "false",
            "HOSPES_DATABASE_REPLICA_URLS": pair.standby_url,
            "HOSPES_REPLICA_MAX_LAG_SECONDS": "30",
        }
        with (
            run_server(pair.primary_url, f"{tmp}/n1", env) as node1,
            run_server(pair.primary_url, f"{tmp}/n2", env) as node2,
        ):
            nodes = [node1.base_url.removeprefix("http://"), node2.base_url.removeprefix("http://")]
            answer = httpx.post(
                f"{node1.base_url}/{boot.domain}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": boot.client_id,
                    "client_secret": boot.client_secret,
                    "scope": "https://graph.microsoft.com/.default",
                },
            )
            auth = {"Authorization": f"Bearer {answer.json()['access_token']}"}

            def invite(session: aiohttp.ClientSession, base: str) -> object:
                body = {
                    "invitedUserEmailAddress": f"g{uuid.uuid4().hex[:12]}@partner.example",
                    "inviteRedirectUrl": "https://myapps.example",
                }
                return session.post(f"{base}/v1.0/invitations", json=body, headers=auth)

            def read(session: aiohttp.ClientSession, base: str) -> object:
                return session.get(f"{base}{FILTER}", headers=auth)

            def read_eventual(session: aiohttp.ClientSession, base: str) -> object:
                return session.get(f"{base}{FILTER}", headers={**auth, "ConsistencyLevel": "eventual"})

            results: dict[str, Result] = {}
            for count in (1, 2):
                with haproxy(nodes[:count]) as edge:
                    results[f"invitations, {count} node(s)"] = asyncio.run(_load(edge, args.seconds, invite))
                    results[f"users $filter, {count} node(s)"] = asyncio.run(_load(edge, args.seconds, read))
                    if count == 2:
                        results["users $filter eventual (replica), 2 nodes"] = asyncio.run(
                            _load(edge, args.seconds, read_eventual)
                        )
    print(f"{'measurement':48} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, result in results.items():
        print(f"{name:48} {result.rate:8.0f} {result.p50:8.1f} {result.p99:8.1f} {result.errors:7d}")
    for what in ("invitations", "users $filter"):
        one, two = results[f"{what}, 1 node(s)"], results[f"{what}, 2 node(s)"]
        print(f"scaling {what}: 2 nodes / 1 node = {two.rate / one.rate:.2f}")


if __name__ == "__main__":
    main()
