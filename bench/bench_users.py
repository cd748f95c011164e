"""User creation through the Graph API vs inserting the same rows directly, and $filter paging cost.

Run by hand:  .venv/bin/python bench/bench_users.py [--database-url postgresql+psycopg://...] [--count 400]

Part 1 — POST /v1.0/users on one server process at 1, 16 and 64 concurrent clients (requests/s, p50/p99, errors),
beside the raw rate of inserting the same user rows with SQLAlchemy Core into the same database at the same
concurrency. Every user carries a password, so every row needs an argon2id hash (t=2, m=19 MiB): the raw baseline
computes it too ("same rows"), and a second baseline without hashing shows what the hash costs.

Part 2 — listing a 100,000-user tenant with $filter through keyset pages of 999: time of the first page vs the last.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from bench._server import fresh_database, new_tenant, server, sessions_for, token
from hospes.auth.passwords import hash_password
from hospes.storage.tables import ChangeLog, User

console = Console(width=160)


async def api_run(base: str, bearer: str, domain: str, clients: int, count: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    tag = uuid.uuid4().hex[:6]

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            i = queue.get_nowait()
            body = {
                "accountEnabled": True,
                "displayName": f"Bench {i}",
                "mailNickname": f"b{tag}{i}",
                "userPrincipalName": f"b{tag}{i}@{domain}",
                "passwordProfile": {"password": "Correct-Horse-9"},
            }
            start = time.perf_counter()
            response = await http.post("/v1.0/users", json=body)
            latencies.append(time.perf_counter() - start)
            errors += response.status_code != 201

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {bearer}"}, limits=limits, timeout=120
    ) as http:
        start = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return count / elapsed, latencies, errors


def raw_run(url: str, tenant_id: str, domain: str, clients: int, count: int, with_hash: bool) -> float:
    sessions = sessions_for(url)
    tag = uuid.uuid4().hex[:6]
    fixed = hash_password("Correct-Horse-9")

    def one(i: int) -> None:
        upn = f"r{tag}{i}@{domain}"
        row = {
            "id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "user_principal_name": upn,
            "upn_key": upn,
            "display_name": f"Raw {i}",
            "mail_nickname": f"r{tag}{i}",
            "account_enabled": True,
            "user_type": "Member",
            "password_hash": hash_password("Correct-Horse-9") if with_hash else fixed,
            "other_mails": [],
            "business_phones": [],
            "identities": [],
            "force_change_password": False,
            "created_at": datetime.now(UTC),
        }
        with sessions.begin() as session:  # one transaction per row, as the API does
            session.execute(insert(User), [row])

    with ThreadPoolExecutor(clients) as pool:
        start = time.perf_counter()
        list(pool.map(one, range(count)))
        return count / (time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def part_one(url: str, tmp: str, count: int) -> None:
    sessions = sessions_for(url)
    boot = new_tenant(sessions)
    table = Table(title=f"POST /v1.0/users vs raw insert ({url.split(':')[0]}, {count} users per run)")
    for col in (
        "clients",
        "API req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "raw+hash rows/s",
        "API/raw+hash",
        "raw rows/s (no hash)",
        "API/raw",
    ):
        table.add_column(col, justify="right")
    with server(url, tmp) as base:
        bearer = token(base, boot)
        for clients in (1, 16, 64):
            n = max(count // 4, 50) if clients == 1 else count
            rate, lat, errors = asyncio.run(api_run(base, bearer, boot.domain, clients, n))
            raw_hash = raw_run(url, boot.tenant_id, boot.domain, clients, n, with_hash=True)
            raw = raw_run(url, boot.tenant_id, boot.domain, clients, n, with_hash=False)
            table.add_row(
                str(clients),
                f"{rate:.0f}",
                f"{pct(lat, 0.5):.1f}",
                f"{pct(lat, 0.99):.1f}",
                str(errors),
                f"{raw_hash:.0f}",
                f"{rate / raw_hash:.0%}",
                f"{raw:.0f}",
                f"{rate / raw:.0%}",
            )
    console.print(table)


def seed(url: str, tenant_id: str, domain: str, total: int) -> None:
    sessions = sessions_for(url)
    fixed = hash_password("Correct-Horse-9")
    now = datetime.now(UTC)
    batch = 5000
    with console.status(f"seeding {total} users"):
        for start in range(0, total, batch):
            rows, changes = [], []
            for i in range(start, min(total, start + batch)):
                user_id = str(uuid.uuid4())
                upn = f"user{i:06d}@{domain}"
                rows.append(
                    {
                        "id": user_id,
                        "tenant_id": tenant_id,
                        "user_principal_name": upn,
                        "upn_key": upn,
                        "display_name": f"User {i:06d}",
                        "mail_nickname": f"user{i:06d}",
                        "mail": upn,
                        "mail_key": upn,
                        "account_enabled": True,
                        "user_type": "Member",
                        "password_hash": fixed,
                        "other_mails": [],
                        "business_phones": [],
                        "identities": [],
                        "force_change_password": False,
                        "created_at": now,
                    }
                )
                changes.append(
                    {
                        "tenant_id": tenant_id,
                        "object_type": "user",
                        "object_id": user_id,
                        "change_type": "created",
                        "properties": [],
                        "at": now,
                    }
                )
            with sessions.begin() as session:
                session.execute(insert(User), rows)
                session.execute(insert(ChangeLog), changes)


def part_two(url: str, tmp: str, total: int) -> None:
    sessions = sessions_for(url)
    boot = new_tenant(sessions)
    seed(url, boot.tenant_id, boot.domain, total)
    query = "/v1.0/users?$filter=startswith(displayName,'User')&$top=999&$select=id,displayName"
    with (
        server(url, tmp) as base,
        httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {token(base, boot)}"}) as http,
    ):
        links, url_next, pages, seen = [], query, 0, 0
        while url_next:
            links.append(url_next)
            body = http.get(url_next).json()
            seen += len(body["value"])
            pages += 1
            url_next = body.get("@odata.nextLink", "")

        def timed(link: str) -> float:
            samples = []
            for _ in range(7):
                start = time.perf_counter()
                assert http.get(link).status_code == 200
                samples.append(time.perf_counter() - start)
            return statistics.median(samples) * 1000

        # The very last page may be short; the last full page is the fair comparison with the first.
        first, last_full, last = timed(links[0]), timed(links[-2]), timed(links[-1])
    table = Table(title=f"$filter paging on a {total}-user tenant ({url.split(':')[0]})")
    for col in ("pages", "users seen", "first page ms", "last full page ms", "last full/first", "last page ms"):
        table.add_column(col, justify="right")
    table.add_row(str(pages), str(seen), f"{first:.1f}", f"{last_full:.1f}", f"{last_full / first:.2f}", f"{last:.1f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--count", type=int, default=400, help="users created per concurrency level")
    parser.add_argument("--list-size", type=int, default=100_000)
    parser.add_argument("--skip-list", action="store_true")
    parser.add_argument("--skip-create", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.database_url, tmp)
        if not args.skip_create:
            part_one(url, tmp, args.count)
        if not args.skip_list:
            part_two(url, tmp, args.list_size)


if __name__ == "__main__":
    main()
