"""The parts of a fleet on loopback, from Debian's packages: a PostgreSQL primary with a streaming standby
(optionally delayed), PgBouncer in transaction mode, and HAProxy in front of Hospes nodes. Each is a context
manager that starts the real program and stops it (``scripts/fleet-local.sh`` starts the same set for people)."""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers.env import PG_URL, REQUIRE_ALL
from tests.helpers.live import free_port

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1] if glob.glob("/usr/lib/postgresql/*/bin") else ""


def missing(reason: str) -> None:
    """Skip a test whose outside part is missing here, with ``reason``; in CI (every part installed by .ci/run)
    the same absence fails the run instead, so no check CI should make is ever skipped there."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def need(program: str) -> None:
    """A Debian package's program, or ``missing``."""
    found = os.path.exists(f"{PG_BIN}/{program}") if program in ("initdb", "pg_basebackup") else shutil.which(program)
    if not found and not os.path.exists(f"/usr/sbin/{program}"):
        missing(f"{program} is not installed")


def need_postgres() -> None:
    if not PG_URL:
        missing("PostgreSQL not configured (set HOSPES_TEST_POSTGRES_URL)")


def _as_postgres(command: list[str]) -> None:
    """PostgreSQL refuses to run as root: run its programs as the postgres user when this is root."""
    if os.geteuid() == 0:
        command = ["su", "postgres", "-c", shlex.join(command)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def _folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="hospes-fleet-", dir="/tmp"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    return folder


@dataclass(frozen=True)
class PostgresPair:
    primary_url: str
    standby_url: str
    primary_port: int
    standby_port: int
    primary_data: Path
    standby_data: Path


def _start(data: Path, port: int, *extra: str) -> None:
    options = f"-p {port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 {' '.join(extra)}"
    _as_postgres([f"{PG_BIN}/pg_ctl", "-D", str(data), "-l", str(data / "server.log"), "-w", "start", "-o", options])


@contextmanager
def postgres_pair(apply_delay: str | None = None) -> Iterator[PostgresPair]:
    """A new primary and a physical streaming standby of it (``pg_basebackup -R``); ``apply_delay`` makes the
    standby apply each commit that long after it (``recovery_min_apply_delay``): a replica that lags, for sure."""
    need("initdb")
    folder = _folder()
    primary, standby = folder / "primary", folder / "standby"
    p_port, s_port = free_port(), free_port()
    try:
        _as_postgres([f"{PG_BIN}/initdb", "-D", str(primary), "-A", "trust", "-U", "postgres"])
        _start(primary, p_port, "-c wal_level=replica -c max_wal_senders=5")
        _as_postgres(
            [f"{PG_BIN}/pg_basebackup", "-h", "127.0.0.1", "-p", str(p_port), "-U", "postgres"]
            + ["-D", str(standby), "-R", "-X", "stream"]
        )
        delay = f"-c recovery_min_apply_delay={apply_delay}" if apply_delay else ""
        _start(standby, s_port, "-c hot_standby=on", delay)
        url = "postgresql+psycopg://postgres@127.0.0.1:{}/postgres"
        yield PostgresPair(url.format(p_port), url.format(s_port), p_port, s_port, primary, standby)
    finally:
        for data in (standby, primary):
            stop_cluster(data)
        shutil.rmtree(folder, ignore_errors=True)


def stop_cluster(data: Path) -> None:
    """Stop a test cluster at once, as a crash would (nothing is flushed to a standby on the way out)."""
    if (data / "postmaster.pid").exists():
        subprocess.run(
            ["su", "postgres", "-c", f"{PG_BIN}/pg_ctl -D {data} -m immediate stop"]
            if os.geteuid() == 0
            else [f"{PG_BIN}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )


@contextmanager
def pgbouncer(server_port: int, pool_size: int = 20) -> Iterator[int]:
    """PgBouncer in transaction mode on a free loopback port, in front of every database of the PostgreSQL
    server on ``server_port`` (trust authentication, as the test server). Yields its port."""
    need("pgbouncer")
    folder = _folder()
    port = free_port()
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"""[databases]
* = host=127.0.0.1 port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = {pool_size}
ignore_startup_parameters = extra_float_digits,options
logfile = {folder}/pgbouncer.log
"""
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    user = ["-u", "postgres"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(["pgbouncer", *user, str(folder / "pgbouncer.ini")], stderr=subprocess.PIPE)
    try:
        _wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def haproxy(backends: list[str], check: str = "/readyz") -> Iterator[str]:
    """HAProxy 2.6 on a free loopback port, balancing round robin over ``backends`` (``host:port``), health-checked
    on ``check``; it adds X-Forwarded-For and an X-Request-Id of its own. Yields its base URL."""
    need("haproxy")
    folder = Path(tempfile.mkdtemp(prefix="hospes-haproxy-"))
    port = free_port()
    servers = "\n".join(
        f"  server n{i} {backend} check inter 500 fall 2 rise 1" for i, backend in enumerate(backends, 1)
    )
    (folder / "haproxy.cfg").write_text(
        f"""global
  maxconn 2000

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  option forwardfor
  unique-id-format %{{+X}}o%ci%cp%fi%fp%Ts%rt
  unique-id-header X-Request-Id

frontend edge
  bind 127.0.0.1:{port}
  default_backend api

backend api
  balance roundrobin
  option httpchk GET {check}
  http-check expect status 200
{servers}
"""
    )
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(folder / "haproxy.cfg")], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_port(port, proc)
        deadline = time.monotonic() + 30
        while True:  # every backend up (health checks every 0.5 s)
            try:
                if httpx.get(f"{base}{check}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "HAProxy found no healthy backend"
            time.sleep(0.2)
        time.sleep(1.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError("exited: " + (proc.stderr.read().decode() if proc.stderr else ""))
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.1)
