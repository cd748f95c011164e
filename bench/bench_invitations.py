"""Invitations per second through the API vs the raw single-row insert rate, and bulk invite wall time.

Run by hand:  .venv/bin/python -m bench.bench_invitations [--database-url postgresql+psycopg://...]
              [--count 2000] [--duration 10] [--clients 64] [--workers 1,2] [--bulk 10000]

Part 1 — POST /v1.0/invitations (new guest each time, sendInvitationMessage true: guest user, invitation, ticket,
outbox message with the rendered email, change log, audit; no SMTP configured, so mail stays queued) on 1..N
server processes with 64 concurrent keep-alive clients: invitations/s, p50/p99, errors; beside the rate of
inserting one user row per transaction with SQLAlchemy Core into the same database at the same concurrency,
measured in the same run. The load comes from wrk (Debian package ``wrk``) when installed, for --duration
seconds: a C client leaves the two cores to the server. Without wrk, an aiohttp client posts --count invitations
and takes a third of a core or more from the server at these rates.

Part 2 — bulk invite of --bulk rows through the service the CLI and the bulk endpoint use (one transaction per
row, sequential, email queued): wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import aiohttp
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select

from bench._server import (
    database_for,
    fresh_database,
    new_tenant,
    server_process,
    sessions_for,
    token,
    tree_cpu_seconds,
)
from hospes.auth.crypto import secret_box
from hospes.auth.keys import load_or_create_keys
from hospes.domain.principals import system_principal
from hospes.services.invitations.bulk import invite_rows
from hospes.services.invitations.service import InvitationService, InviteConfig
from hospes.settings import Settings
from hospes.storage.tables import User

console = Console(width=160)


async def api_run(base: str, bearer: str, clients: int, count: int) -> tuple[float, list[float], int]:
    """``clients`` keep-alive connections each posting invitations back to back. aiohttp, not httpx: on this
    machine httpx's pool tops out near 350 requests/s with 64 connections even against an empty ASGI app, so it
    measured the client, not the server."""
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    tag = uuid.uuid4().hex[:6]

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        while not queue.empty():
            i = queue.get_nowait()
            body = {
                "invitedUserEmailAddress": f"g{tag}{i}@partner.example",
                "inviteRedirectUrl": "https://app.example/",
                "invitedUserDisplayName": f"Guest {i}",
                "sendInvitationMessage": True,
            }
            start = time.perf_counter()
            async with http.post("/v1.0/invitations", json=body) as response:
                await response.read()
                latencies.append(time.perf_counter() - start)
                errors += response.status != 201

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        base_url=base,
        headers={"Authorization": f"Bearer {bearer}"},
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=120),
    ) as http:
        start = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return count / elapsed, latencies, errors


WRK_SCRIPT = """
-- setup() runs in the main Lua state; thread:set() makes "thread_no" a global of that thread's own state (so it
-- must not be shadowed by a local): each thread posts its own addresses, every invitation a new guest.
local tag, threads = "%(tag)s", 0
function setup(thread) threads = threads + 1; thread:set("thread_no", threads) end
local n = 0
function request()
  n = n + 1
  local body = string.format('{"invitedUserEmailAddress":"w%%s%%d_%%d@partner.example",' ..
    '"inviteRedirectUrl":"https://app.example/","invitedUserDisplayName":"Guest %%d","sendInvitationMessage":true}',
    tag, thread_no, n, n)
  return wrk.format("POST", "/v1.0/invitations",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(bearer)s"}, body)
end
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_run(base: str, bearer: str, clients: int, seconds: float, tag: str) -> tuple[float, float, float, int, int]:
    """(invitations/s, p50 ms, p99 ms, errors, requests) from wrk: two threads, ``clients`` connections, guest
    addresses ``w<tag>...``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"tag": tag, "bearer": bearer})
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{clients}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "--latency",
                "-s",
                script.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)

    def latency(label: str) -> float:
        found = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(g) for g in socket_errors.groups()) if socket_errors else 0
    return rate, latency("50%"), latency("99%"), errors, total


def raw_run(url: str, tenant_id: str, domain: str, clients: int, count: int) -> float:
    """One user row per transaction: the floor any write API on this database stands on."""
    sessions = sessions_for(url)
    tag = uuid.uuid4().hex[:6]

    def one(i: int) -> None:
        upn = f"raw{tag}{i}@{domain}"
        row = {
            "id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "user_principal_name": upn,
            "upn_key": upn,
            "display_name": f"Raw {i}",
            "account_enabled": True,
            "user_type": "Guest",
            "other_mails": [],
            "business_phones": [],
            "identities": [],
            "force_change_password": False,
            "created_at": datetime.now(UTC),
        }
        with sessions.begin() as session:
            session.execute(insert(User), [row])

    with ThreadPoolExecutor(clients) as pool:
        start = time.perf_counter()
        list(pool.map(one, range(count)))
        return count / (time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def part_one(url: str, tmp: str, count: int, seconds: float, clients: int, workers: list[int]) -> None:
    sessions = sessions_for(url)
    boot = new_tenant(sessions)
    use_wrk = shutil.which("wrk") is not None
    client = "wrk" if use_wrk else "aiohttp"
    table = Table(title=f"POST /v1.0/invitations vs raw insert ({url.split(':')[0]}, load from {client})")
    for col in ("server processes", "clients", "invitations", "new guests", "invitations/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    for col in ("errors", "server CPU ms/inv", "raw rows/s", "API/raw"):
        table.add_column(col, justify="right")
    for n in workers:
        with server_process(url, tmp, workers=n) as (base, pid):
            bearer = token(base, boot)
            asyncio.run(api_run(base, bearer, clients, min(500, count)))  # warm-up (every process, every path)
            cpu = tree_cpu_seconds(pid)
            tag = uuid.uuid4().hex[:6]
            if use_wrk:
                rate, p50, p99, errors, done = wrk_run(base, bearer, clients, seconds, tag)
            else:
                rate, lat, errors = asyncio.run(api_run(base, bearer, clients, count))
                p50, p99, done = pct(lat, 0.5), pct(lat, 0.99), count
            cpu = tree_cpu_seconds(pid) - cpu
        # The baseline right after, on the same database and load: one user row per transaction.
        raw = raw_run(url, boot.tenant_id, boot.domain, clients, count)
        with sessions() as session:  # every call must have been a new guest (a re-invite is another workload)
            guests = session.scalar(select(func.count()).select_from(User).where(User.mail_key.like(f"w{tag}%")))
        table.add_row(
            str(n),
            str(clients),
            str(done),
            str(guests if use_wrk else "-"),
            f"{rate:.0f}",
            f"{p50:.1f}",
            f"{p99:.1f}",
            str(errors),
            f"{cpu * 1000 / done:.2f}",
            f"{raw:.0f}",
            f"{rate / raw:.0%}",
        )
    console.print(table)


def part_two(url: str, tmp: str, rows: int) -> None:
    database = database_for(url)
    sessions = database.sessions
    boot = new_tenant(sessions)
    settings = Settings(database_url=url, data_dir=tmp)  # the server's data dir: its key file opens the keys
    keys = load_or_create_keys(sessions, secret_box(settings.secret_key, settings.data_dir))
    config = InviteConfig.from_settings(settings, keys.seal)
    service = InvitationService(database, system_principal(boot.tenant_id), config)
    tag = uuid.uuid4().hex[:6]
    bodies = [
        {
            "invitedUserEmailAddress": f"bulk{tag}{i}@partner.example",
            "inviteRedirectUrl": "https://app.example/",
            "invitedUserDisplayName": f"Bulk {i}",
            "sendInvitationMessage": True,
        }
        for i in range(rows)
    ]
    start = time.perf_counter()
    results = invite_rows(service, bodies)
    elapsed = time.perf_counter() - start
    failed = sum(r.result is None for r in results)
    console.print(f"bulk invite: {rows} rows in {elapsed:.1f} s ({rows / elapsed:.0f} rows/s), {failed} failed")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--count", type=int, default=2000, help="invitations per run without wrk; raw rows")
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per run with wrk")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--bulk", type=int, default=10000)
    parser.add_argument("--workers", default="1,2", help="server process counts to run, comma-separated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.database_url, tmp)
        part_one(url, tmp, args.count, args.duration, args.clients, [int(w) for w in args.workers.split(",")])
        if args.bulk:
            part_two(url, tmp, args.bulk)


if __name__ == "__main__":
    main()
