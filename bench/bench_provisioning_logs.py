"""``GET /v1.0/auditLogs/provisioning`` on a tenant with many provisioning log entries: paging and $filter cost.

Run by hand:  .venv/bin/python bench/bench_provisioning_logs.py [--database-url postgresql+psycopg://...]
                                                                   [--rows 100000]

Seeds ``--rows`` provisioningObjectSummary rows (two jobs, 1% failures, one row per source object) straight into
the table, then times through a real ``hospes serve`` (median of 7 requests each): the first page of 100 entries
(the baseline), the last full page of a keyset walk with ``$top=999``, and the common filters. The ratio column
compares each with the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from bench._server import fresh_database, new_tenant, server, sessions_for, token
from hospes.storage.tables_provisioning import ProvisioningLog

console = Console(width=160)
STEPS = [
    {
        "name": "EntryImportAdd",
        "provisioningStepType": "import",
        "status": "success",
        "description": "x",
        "details": {},
    },
    {
        "name": "EntryExportAdd",
        "provisioningStepType": "export",
        "status": "success",
        "description": "x",
        "details": {},
    },
]


def seed(url: str, tenant_id: str, total: int) -> dict[str, str]:
    """Returns ids to filter on: a job, the oldest cycle, an old source object, and the oldest timestamp."""
    sessions = sessions_for(url)
    sp_id = str(uuid.uuid4())
    jobs = [f"scim.{uuid.uuid4().hex}", f"scim.{uuid.uuid4().hex}"]
    start = datetime.now(UTC) - timedelta(days=7)
    picks: dict[str, str] = {"job": jobs[0]}
    batch = 5000
    with console.status(f"seeding {total} log rows"):
        for first in range(0, total, batch):
            rows = []
            for i in range(first, min(total, first + batch)):
                source = str(uuid.uuid4())
                cycle = f"00000000-0000-0000-0000-{i // 1000:012d}"  # a cycle per 1,000 rows
                if i == 10:
                    picks["source"], picks["cycle"] = source, cycle
                rows.append(
                    {
                        "tenant_id": tenant_id,
                        "job_id": jobs[i % 2],
                        "sp_id": sp_id,
                        "cycle_id": cycle,
                        "change_id": str(uuid.uuid4()),
                        "at": start + timedelta(milliseconds=i * 5),
                        "duration_ms": 12,
                        "action": "create" if i % 3 else "update",
                        "status": "failure" if i % 100 == 0 else "success",
                        "source_type": "user",
                        "source_id": source,
                        "source_name": f"User {i:06d}",
                        "target_id": str(uuid.uuid4()),
                        "steps": STEPS,
                        "modified": [{"displayName": "userName", "oldValue": None, "newValue": f"u{i}"}],
                        "error": None,
                    }
                )
            with sessions.begin() as session:
                session.execute(insert(ProvisioningLog), rows)
    picks["oldest"] = (start + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return picks


def run(url: str, tmp: str, total: int) -> None:
    sessions = sessions_for(url)
    boot = new_tenant(sessions)
    picks = seed(url, boot.tenant_id, total)
    path = "/v1.0/auditLogs/provisioning"
    with (
        server(url, tmp) as base,
        httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {token(base, boot)}"}) as http,
    ):

        def timed(link: str) -> tuple[float, int]:
            samples, count = [], 0
            for _ in range(7):
                began = time.perf_counter()
                response = http.get(link)
                samples.append(time.perf_counter() - began)
                assert response.status_code == 200, response.text
                count = len(response.json()["value"])
            return statistics.median(samples) * 1000, count

        links, link, pages = [], f"{path}?$top=999", 0
        while link:
            links.append(link)
            link = http.get(link).json().get("@odata.nextLink", "")
            pages += 1

        def filtered(expression: str, top: int = 100) -> str:
            return f"{path}?$top={top}&$filter={quote(expression)}"

        cases = [
            ("first page ($top=100), baseline", f"{path}?$top=100"),
            ("first page ($top=999)", links[0]),
            (f"last full page of {pages} ($top=999)", links[-2] if len(links) > 1 else links[0]),
            ("jobId eq", filtered(f"jobId eq '{picks['job']}'")),
            (
                "jobId eq and status eq 'failure' (1%)",
                filtered(f"jobId eq '{picks['job']}' and provisioningStatusInfo/status eq 'failure'"),
            ),
            ("provisioningAction eq 'update'", filtered("provisioningAction eq 'update'")),
            ("activityDateTime lt (oldest minute)", filtered(f"activityDateTime lt {picks['oldest']}")),
            ("cycleId eq (the oldest cycle, 1,000 rows)", filtered(f"cycleId eq '{picks['cycle']}'")),
            ("sourceIdentity/id eq (one old object)", filtered(f"sourceIdentity/id eq '{picks['source']}'")),
        ]
        for _, link in cases:  # warm the server and the database cache once, so the baseline is not the cold one
            http.get(link)
        results = [(label, *timed(link)) for label, link in cases]
    baseline = results[0][1]
    table = Table(title=f"GET /auditLogs/provisioning on {total} log rows ({url.split(':')[0]}, median of 7)")
    for column in ("query", "rows returned", "ms", "ratio to baseline"):
        table.add_column(column, justify="right" if column != "query" else "left")
    for label, ms, count in results:
        table.add_row(label, str(count), f"{ms:.1f}", f"{ms / baseline:.2f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(fresh_database(args.database_url, tmp), tmp, args.rows)


if __name__ == "__main__":
    main()
