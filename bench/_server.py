"""Bench helpers: a real server process on loopback, a tenant, and a token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import TenantBootstrap, create_tenant
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade


def fresh_database(url: str | None, tmp: str) -> str:
    if url:
        upgrade(url)
        return url
    path = os.path.join(tmp, f"bench-{uuid.uuid4().hex[:6]}.db")
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


def database_for(url: str) -> Database:
    return Database.open(url)


def sessions_for(url: str) -> sessionmaker[Session]:
    return database_for(url).sessions


def new_tenant(sessions: sessionmaker[Session]) -> TenantBootstrap:
    return create_tenant(sessions, "Bench", f"bench-{uuid.uuid4().hex[:8]}.example")


@contextmanager
def server(database_url: str, data_dir: str, workers: int = 1) -> Iterator[str]:
    with server_process(database_url, data_dir, workers) as (base, _):
        yield base


@contextmanager
def server_process(database_url: str, data_dir: str, workers: int = 1) -> Iterator[tuple[str, int]]:
    """The server's base URL and the pid of ``hospes serve`` (with --workers N, the parent of N processes)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HOSPES_DATABASE_URL": database_url, "HOSPES_PUBLIC_URL": base, "HOSPES_DATA_DIR": data_dir}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hospes", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def token(base: str, boot: TenantBootstrap) -> str:
    response = httpx.post(
        f"{base}/{boot.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": boot.client_id,
            "client_secret": boot.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    response.raise_for_status()
    value: str = response.json()["access_token"]
    return value


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants (Linux /proc): what the server spent, whatever else
    runs on this shared machine at the same time."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += cpu.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total
