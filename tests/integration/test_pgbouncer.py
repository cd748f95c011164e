"""The PostgreSQL suite's core (users, groups, invitations, delta, the token endpoint) through PgBouncer 1.18 in
transaction mode, with ``HOSPES_DB_PREPARED_STATEMENTS=false``: every transaction may land on another server
connection, so nothing may rely on session state (prepared statements, session locks) between transactions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from tests.helpers.env import PG_URL, ROOT
from tests.helpers.infra import need_postgres, pgbouncer

SUBSET = [
    "tests/functional/test_users.py",
    "tests/functional/test_groups.py",
    "tests/functional/test_invitations.py",
    "tests/functional/test_delta.py",
    "tests/functional/test_oauth.py",
]


def test_postgresql_subset_through_pgbouncer_in_transaction_mode() -> None:
    need_postgres()
    if os.environ.get("HOSPES_TEST_PGBOUNCER_PORT"):
        pytest.skip("already running through PgBouncer")
    port = urlparse(PG_URL.replace("postgresql+psycopg", "postgresql")).port or 5432
    with pgbouncer(port, pool_size=10) as bouncer_port:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:randomly", "-k", "postgresql", *SUBSET],
            cwd=ROOT,
            env={
                **os.environ,
                "HOSPES_TEST_PGBOUNCER_PORT": str(bouncer_port),
                "HOSPES_DB_PREPARED_STATEMENTS": "false",
                "PYTEST_XDIST_WORKER": "pgbouncer",
            },
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None and int(passed.group(1)) >= 50, summary
    assert "failed" not in summary and "error" not in summary
