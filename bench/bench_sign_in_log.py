"""The sign-in log's Graph listing (``GET /auditLogs/signIns``, the service under it) on 1,000,000 rows of one
tenant: the first page and the last page of each ``$filter``, in keyset order (newest first). Target: the last
page costs at most 1.5x the first.

Run by hand:  .venv/bin/python -m bench.bench_sign_in_log [--rows 1000000] [--top 100] [--database-url ...]

The rows are written by a raw bulk insert (a year of sign-ins: 2,000 users, 50 apps, 70% interactive, 10% failures
with their AADSTS numbers, conditional-access statuses), not through the app: building them takes about a minute on
SQLite. The last page is reached as a client would (a ``$skiptoken`` position), its position found by reading the
oldest rows of the same filter. The first and the last page are timed alternately ``--repeat`` times; the ratio is
of the fastest runs (on a shared machine the slow runs measure the neighbours), medians shown beside.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from bench._server import database_for, fresh_database
from hospes.domain.principals import system_principal
from hospes.domain.schema import SIGN_IN_QUERY
from hospes.odata import parse_filter
from hospes.services.listing import ListQuery
from hospes.services.sign_in_views import SignInLogService
from hospes.services.tenants import create_tenant
from hospes.storage.query import keyset_of, order_keys
from hospes.storage.tables_sso import SignIn

TARGET_RATIO = 1.5
END = datetime(2026, 12, 3, tzinfo=UTC)
CODES = [0] * 90 + [50126] * 5 + [50076] * 3 + [53003] * 2


def build(url: str, rows: int, seed: int = 5) -> tuple[str, list[str], list[str]]:
    database = database_for(url)
    boot = create_tenant(database.sessions, "Log", f"log-{uuid.uuid4().hex[:8]}.example")
    rng = random.Random(seed)
    users = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2000)]
    apps = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(50)]
    span = 365 * 24 * 3600
    columns = [c.name for c in SignIn.__table__.columns]
    # In time order, as a log is written: a year, with random gaps.
    step = span / rows
    clock = iter(END - timedelta(seconds=span - i * step + rng.random() * step) for i in range(rows))
    sqlite = database.is_sqlite

    def row() -> dict[str, object]:
        code = rng.choice(CODES)
        pick = min(int(rng.paretovariate(1.2)) - 1, len(users) - 1) if rng.random() < 0.5 else rng.randrange(len(users))
        at = next(clock)
        return {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "tenant_id": boot.tenant_id,
            # SQLite keeps timestamps as text in SQLAlchemy's format; the raw insert writes that text.
            "created_at": at.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else at,
            "user_id": users[pick],
            "user_principal_name": f"user{pick}@log.example",
            "user_display_name": f"User {pick}",
            "user_type": "Member",
            "home_tenant_id": None,
            "app_id": rng.choice(apps),
            "app_display_name": "App",
            "resource_display_name": "App",
            "protocol": "oidc",
            "is_interactive": rng.random() < 0.7,
            "ip_address": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
            "user_agent": None,
            "correlation_id": None,
            "error_code": code,
            "failure_reason": None if code == 0 else f"AADSTS{code}",
            "conditional_access_status": "failure"
            if code in (50076, 53003)
            else rng.choice(["success", "notApplied", "notApplied"]),
            "details": "{}" if sqlite else {},
        }

    # The listing indexes are built once the rows are in (a sort instead of a million random inserts).
    indexes = [i for i in SignIn.__table__.indexes if i.name != "ix_sign_ins_tenant_created"]
    for index in indexes:
        index.drop(database.engine)
    if sqlite:  # a raw executemany: the ORM's per-row work would take minutes for a million rows
        raw = database.engine.raw_connection()
        try:
            sql = f"INSERT INTO sign_ins ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
            cursor = raw.cursor()
            for start in range(0, rows, 50_000):
                batch = [row() for _ in range(min(50_000, rows - start))]
                cursor.executemany(sql, [tuple(r[c] for c in columns) for r in batch])
            raw.commit()
        finally:
            raw.close()
    else:
        with database.engine.begin() as conn:
            for start in range(0, rows, 10_000):
                conn.execute(insert(SignIn.__table__), [row() for _ in range(min(10_000, rows - start))])
    for index in indexes:
        index.create(database.engine)
    database.dispose()
    return boot.tenant_id, users, apps


def _query(text: str | None, top: int, after: list[object] | None) -> ListQuery:
    return ListQuery(filter=parse_filter(text) if text else None, top=top, after=after)


def time_pages(
    service: SignInLogService, text: str | None, top: int, after: list[object], repeat: int
) -> tuple[list[float], list[float], int]:
    """ms of the first page and of the page at ``after``, timed alternately so both see the same machine."""
    first: list[float] = []
    last: list[float] = []
    count = 0
    for _ in range(repeat):
        for samples, position in ((first, None), (last, after)):
            started = time.perf_counter()
            page = service.page(_query(text, top, position))
            samples.append((time.perf_counter() - started) * 1000)
            count = len(page.rows)
    return first, last, count


def last_position(service: SignInLogService, text: str | None, top: int) -> list[object] | None:
    """The ``$skiptoken`` position of the last page: just after the ``top + 1``-th oldest matching row."""
    query = ListQuery(filter=parse_filter(text) if text else None, top=top + 1)
    query.orderby = [("createdDateTime", False)]
    oldest = service.page(query).rows
    if len(oldest) <= top:
        return None
    return keyset_of(oldest[top], order_keys(SIGN_IN_QUERY, [("createdDateTime", True)], tie_follows=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--top", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.database_url, tmp)
        started = time.perf_counter()
        tenant_id, users, apps = build(url, args.rows)
        console.print(f"built {args.rows:,} rows in {time.perf_counter() - started:.0f} s")
        database = database_for(url)
        service = SignInLogService(database.sessions, system_principal(tenant_id))
        frequent, rare = users[0], users[1500]
        since = (END - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
        filters = [
            ("(none: interactive sign-ins)", None),
            ("a frequent user", f"userId eq '{frequent}'"),
            ("a rare user", f"userId eq '{rare}'"),
            ("an app", f"appId eq '{apps[7]}'"),
            ("blocked (53003)", "status/errorCode eq 53003"),
            ("failures, last 90 days", f"status/errorCode ne 0 and createdDateTime ge {since}"),
            ("an app's non-interactive", f"appId eq '{apps[3]}' and isInteractive eq false"),
            ("conditional access failed", "conditionalAccessStatus eq 'failure'"),
        ]
        table = Table(title=f"Sign-in log listing, {args.rows:,} rows, $top={args.top} ({args.repeat} runs each)")
        for column in ("$filter", "first page ms (min / median)", "last page ms", "last / first (min)", "rows on last"):
            table.add_column(column)
        worst = 0.0
        for name, text in filters:
            service.page(_query(text, args.top, None))  # warm the pages this filter reads
            after = last_position(service, text, args.top)
            if after is None:
                table.add_row(name, "-", "-", "-", "one page")
                continue
            first, last, count = time_pages(service, text, args.top, after, args.repeat)
            ratio = min(last) / min(first)
            worst = max(worst, ratio)
            table.add_row(
                name,
                f"{min(first):.2f} / {statistics.median(first):.2f}",
                f"{min(last):.2f} / {statistics.median(last):.2f}",
                f"{ratio:.2f}",
                str(count),
            )
        console.print(table)
        console.print(
            f"worst last/first: {worst:.2f} (target ≤ {TARGET_RATIO}: {'met' if worst <= TARGET_RATIO else 'NOT met'})"
        )
        database.dispose()


if __name__ == "__main__":
    main()
