"""What the test run was given: the repository root, the PostgreSQL server, the browser, and whether every
optional part is required (CI), in which case a missing one fails the run instead of skipping its tests."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PG_URL = os.environ.get("HOSPES_TEST_POSTGRES_URL", "")
# Set by tests/integration/test_pgbouncer.py: the suite's databases are migrated on the server directly (the
# migration lock is a session advisory lock, which PgBouncer's transaction mode cannot keep) and reached through
# PgBouncer on this port.
PGBOUNCER_PORT = os.environ.get("HOSPES_TEST_PGBOUNCER_PORT", "")
REQUIRE_ALL = os.environ.get("HOSPES_TEST_REQUIRE_ALL") == "1" or os.environ.get("CI") == "true"
CHROMIUM = os.environ.get("HOSPES_TEST_CHROMIUM", "/usr/bin/chromium")
