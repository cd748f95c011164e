"""What a delegated (user) token costs on the Graph surface beside an app-only token: the user's standing (roles,
guest access, owned groups) is read on every request.

Run by hand:  .venv/bin/python bench/bench_delegated.py [--database-url postgresql+psycopg://...] [--seconds 4]

One server process, 16 concurrent clients, GET requests for the same user object: with the bootstrap app's token,
and with its Global Administrator's token from the password grant (``/me`` and ``/users/{id}``). Requests/s, p50
and p99, errors, and each row's rate as a ratio of the app-token row (one run, same machine state).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

import httpx
from rich.console import Console
from rich.table import Table

from bench._server import fresh_database, new_tenant, server, sessions_for, token

CLIENTS = 16


async def measure(base: str, bearer: str, path: str, seconds: float) -> tuple[float, float, float, int]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {bearer}"}, limits=limits, timeout=60
    ) as http:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < end:
                start = time.perf_counter()
                response = await http.get(path)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return len(latencies) / elapsed, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)], errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.database_url, tmp)
        boot = new_tenant(sessions_for(url))
        with server(url, tmp) as base:
            app_token = token(base, boot)
            grant = {
                "grant_type": "password",
                "client_id": boot.client_id,
                "username": boot.admin_user_principal_name,
                "password": boot.admin_password,
                "scope": "https://graph.microsoft.com/.default",
            }
            response = httpx.post(f"{base}/{boot.tenant_id}/oauth2/v2.0/token", data=grant)
            response.raise_for_status()
            user_token = response.json()["access_token"]
            me = httpx.get(f"{base}/v1.0/me", headers={"Authorization": f"Bearer {user_token}"}).json()["id"]
            runs = (
                ("app token", app_token, f"/v1.0/users/{me}"),
                ("user token", user_token, "/v1.0/me"),
                ("user token", user_token, f"/v1.0/users/{me}"),
            )
            asyncio.run(measure(base, app_token, f"/v1.0/users/{me}", 1.0))  # warm up
            table = Table(title=f"GET one user, {CLIENTS} clients, one process ({url.split(':')[0]})")
            for column in ("token", "request", "requests/s", "p50 ms", "p99 ms", "errors", "vs app token"):
                table.add_column(column, justify="left" if column in ("token", "request") else "right")
            baseline = None
            for name, bearer, path in runs:
                rate, p50, p99, errors = asyncio.run(measure(base, bearer, path, args.seconds))
                baseline = baseline or rate
                shown = path.replace(me, "{id}")
                table.add_row(
                    name,
                    shown,
                    f"{rate:,.0f}",
                    f"{p50 * 1000:.1f}",
                    f"{p99 * 1000:.1f}",
                    str(errors),
                    f"{rate / baseline:.2f}",
                )
            Console(width=160).print(table)


if __name__ == "__main__":
    main()
