"""Cost of making the portal's bulk invite durable: the same rows invited by the synchronous path vs the job path.

Run by hand:  .venv/bin/python -m bench.bench_bulk_jobs [--database-url postgresql+psycopg://...] [--rows 200 1000]

In one process, on a fresh database (SQLite file by default), each size is measured three ways, each on a new tenant
(the same directory size to start from):

- baseline: ``services.invitations.bulk.invite_rows`` with ``InvitationService`` (what ``POST /v1.0/invitations/bulk``
  and ``hospes invite --csv`` run, and what the portal ran in a thread before): each row its own transaction;
- upload: ``BulkJobs.create``, the job and all its rows in one transaction (what the upload request waits for);
- worker: ``BulkJobWorker.work_once``, the same invitations, each with its row outcome and the job's counters in
  the invitation's transaction.

The table shows rows per second and each against the baseline of the same size.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from bench._server import database_for, fresh_database, new_tenant
from hospes.auth.crypto import secret_box
from hospes.auth.keys import load_or_create_keys
from hospes.services.invitations.bulk import invite_rows
from hospes.services.invitations.jobs import BulkJobs
from hospes.services.invitations.jobs_worker import BulkJobWorker
from hospes.services.invitations.service import InvitationService, InviteConfig
from hospes.services.web_sessions import user_principal
from hospes.settings import Settings
from hospes.storage.tables import User

console = Console(width=140)


def _rows(count: int) -> list[dict[str, Any]]:
    tag = uuid.uuid4().hex[:6]
    return [
        {
            "invitedUserEmailAddress": f"b{tag}{i}@partner-{i % 7}.example",
            "invitedUserDisplayName": f"Bulk {i}",
            "inviteRedirectUrl": "https://a.example",
            "sendInvitationMessage": False,
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rows", type=int, nargs="+", default=[200, 1000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.database_url, tmp)
        settings = Settings(database_url=url, data_dir=Path(tmp), secret_key=secrets.token_hex(32))
        database = database_for(url)
        sessions = database.sessions
        box = secret_box(settings.secret_key, settings.data_dir)
        keys = load_or_create_keys(sessions, box)

        def inviter() -> Any:
            """A new tenant's administrator, so that each measure starts from the same directory size."""
            boot = new_tenant(sessions)
            with sessions() as s:
                admin = s.scalar(select(User).where(User.user_principal_name == boot.admin_user_principal_name))
                assert admin is not None
                return user_principal(admin)

        worker = BulkJobWorker(database, settings, box, keys.seal)
        table = Table(title=f"bulk invite, {url.split(':', 1)[0]}")
        for column in ("rows", "path", "seconds", "rows/s", "time vs baseline"):
            table.add_column(column, justify="right" if column != "path" else "left")
        for count in args.rows:
            service = InvitationService(database, inviter(), InviteConfig.from_settings(settings, keys.seal))
            invite_rows(service, _rows(5))  # warm-up (first statements, template caches)
            start = time.perf_counter()
            results = invite_rows(service, _rows(count))
            baseline = time.perf_counter() - start
            assert all(r.result is not None for r in results)
            start = time.perf_counter()
            BulkJobs(database, inviter()).create("bench.csv", _rows(count))
            upload = time.perf_counter() - start
            start = time.perf_counter()
            done = worker.work_once()
            work = time.perf_counter() - start
            assert done == count, done
            for path, seconds in (("baseline: invite_rows", baseline), ("upload (1 transaction)", upload)):
                table.add_row(str(count), path, f"{seconds:.2f}", f"{count / seconds:.0f}", f"{seconds / baseline:.2f}")
            table.add_row(str(count), "worker", f"{work:.2f}", f"{count / work:.0f}", f"{work / baseline:.2f}")
            total = upload + work
            table.add_row(
                str(count), "upload + worker", f"{total:.2f}", f"{count / total:.0f}", f"{total / baseline:.2f}"
            )
        console.print(table)


if __name__ == "__main__":
    main()
