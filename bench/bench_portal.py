"""Admin portal page cost: the Users screen on a 1,000-user tenant vs a 50,000-user tenant.

Run by hand:  .venv/bin/python -m bench.bench_portal [--database-url postgresql+psycopg://...] [--big 50000]

Each tenant is seeded by bulk inserts into ``users`` (members, a tenth of them pending guests), in its own SQLite
file by default. A real server process serves each database; an admin signs in over HTTP and every measure is a
full page round trip (session check, role lookup, query, template), median and p90 of ``--repeat`` requests:

- baseline: ``/{tenant}/me`` (the signed-in landing page: session and user, no list);
- users, first page; users, page 20; users filtered to pending guests; users searched by a name fragment.

The table shows each page against the baseline and the big tenant against the small one. The list pages count
matches (for "Page x of y") and sort by name, so they grow with the directory; the ratios say by how much.
"""

from __future__ import annotations

import argparse
import html
import re
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

from bench._server import fresh_database, new_tenant, server, sessions_for
from hospes.services.tenants import TenantBootstrap
from hospes.storage.engine import make_engine
from hospes.storage.tables import User

console = Console(width=160)
BATCH = 10_000
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def seed(url: str, boot: TenantBootstrap, count: int) -> None:
    engine = make_engine(url)
    now = datetime.now(UTC)
    for first in range(0, count, BATCH):
        rows: list[dict[str, Any]] = []
        for i in range(first, min(first + BATCH, count)):
            guest = i % 10 == 0
            upn = f"user{i}@{boot.domain}" if not guest else f"guest{i}_partner.example#EXT#@{boot.domain}"
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "tenant_id": boot.tenant_id,
                    "user_principal_name": upn,
                    "upn_key": upn.lower(),
                    "mail": f"guest{i}@partner.example" if guest else upn,
                    "mail_key": f"guest{i}@partner.example" if guest else upn.lower(),
                    "mail_nickname": f"user{i}",
                    "display_name": f"Person {i:06d}",
                    "account_enabled": True,
                    "user_type": "Guest" if guest else "Member",
                    "external_user_state": "PendingAcceptance" if guest else None,
                    "creation_type": "Invitation" if guest else None,
                    "other_mails": [],
                    "business_phones": [],
                    "identities": [],
                    "force_change_password": False,
                    "created_at": now,
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(User), rows)
    engine.dispose()


def signed_in(base: str, boot: TenantBootstrap) -> httpx.Client:
    client = httpx.Client(base_url=base, headers={"Origin": base}, timeout=60)
    form = client.get(f"/{boot.domain}/login")
    token = html.unescape(_CSRF.search(form.text).group(1))  # type: ignore[union-attr]
    done = client.post(
        f"/{boot.domain}/login",
        data={"csrf": token, "username": boot.admin_user_principal_name, "password": boot.admin_password},
    )
    assert done.status_code == 303, done.text
    return client


def measure(client: httpx.Client, path: str, repeat: int) -> tuple[float, float]:
    client.get(path)  # warm caches and templates
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1]


def run(url: str | None, size: int, repeat: int, tmp: str) -> dict[str, tuple[float, float]]:
    database = fresh_database(url, tmp)
    boot = new_tenant(sessions_for(database))
    seed(database, boot, size)
    pages = {
        "baseline /me": f"/{boot.domain}/me",
        "users, page 1": f"/{boot.domain}/admin/users",
        "users, page 20": f"/{boot.domain}/admin/users?page=20",
        "pending guests": f"/{boot.domain}/admin/users?filter=pending",
        "search 'person 0004'": f"/{boot.domain}/admin/users?q=person+0004",
    }
    with server(database, tmp) as base:
        client = signed_in(base, boot)
        try:
            return {name: measure(client, path, repeat) for name, path in pages.items()}
        finally:
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--big", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = run(args.database_url, args.small, args.repeat, tmp)
        big = run(args.database_url, args.big, args.repeat, tmp)
    table = Table(title=f"Admin portal Users screen: {args.small:,} vs {args.big:,} users (ms, HTTP round trip)")
    for column in ("page", "small median", "small p90", "big median", "big p90", "big / small", "big / baseline"):
        table.add_column(column, justify="right" if column != "page" else "left")
    base_big = big["baseline /me"][0]
    for name in small:
        s_med, s_p90 = small[name]
        b_med, b_p90 = big[name]
        table.add_row(
            name,
            f"{s_med:.1f}",
            f"{s_p90:.1f}",
            f"{b_med:.1f}",
            f"{b_p90:.1f}",
            f"{b_med / s_med:.2f}",
            f"{b_med / base_big:.2f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
