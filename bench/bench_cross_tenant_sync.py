"""Cross-tenant synchronization, incremental: how long an attribute change takes to be visible in the target,
into another deployment over Graph beside into a tenant of the same deployment, in the same run.

Run by hand:  .venv/bin/python -m bench.bench_cross_tenant_sync [--rate 20] [--seconds 20] [--users 200]

Two ``hospes serve`` deployments on loopback, each with its own SQLite database. The source deployment runs the
provisioning runner with two Azure2Azure jobs: tenant A -> tenant B of the other deployment (over its Graph API),
and tenant C -> tenant D of its own (through the services). After the initial cycles, ``--rate`` changes of
``jobTitle`` per second per pair are committed through the source's user service for ``--seconds``; a watcher
reads each target's database every few milliseconds and stamps when each value appears (a value that a later one
of the same user overtook counts when the later one shows: a pass sends the current value). Latency = appearance
- commit, p50 and p99 (target p99 < 3 s over Graph, < 2 s in one deployment; the reference service runs every 40
minutes). A change never seen within 15 s after the load counts as lost.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.helpers.cross_deployment import (
    SOURCE_ENV,
    Deployment,
    RemoteSync,
    allow_sync,
    deployment,
    eventually,
    make_remote_sync,
    many_members,
)

from hospes.domain.principals import system_principal
from hospes.services.users import UserService
from hospes.storage.tables import User

console = Console(width=160)


@dataclass
class Pair:
    name: str
    sync: RemoteSync
    source_sessions: sessionmaker[Session]
    target_sessions: sessionmaker[Session]
    users: list[str]
    committed: dict[str, float] = field(default_factory=dict)  # value -> commit time
    seen: dict[str, float] = field(default_factory=dict)  # value -> first time the target showed it, or a later one
    owner: dict[str, str] = field(default_factory=dict)  # value -> the source user it was given to

    def target_titles(self) -> dict[str, str | None]:
        with self.target_sessions() as session:
            rows = session.execute(
                select(User.alt_sec_id, User.job_title).where(
                    User.tenant_id == self.sync.target.id, User.alt_sec_id.is_not(None)
                )
            ).all()
        return {str(anchor): title for anchor, title in rows}


def _setup(name: str, source: Deployment, target: Deployment, users: int, remote: bool) -> Pair:
    source_tenant, target_tenant = source.tenant(f"{name}Src"), target.tenant(f"{name}Dst")
    allow_sync(target_tenant, source_tenant)
    sync = make_remote_sync(source_tenant, target_tenant, remote=remote)
    sync.create_job(start=False)
    ids = many_members(source.sessions, source_tenant.id, source_tenant.domain, name.lower(), users)
    for user_id in ids:
        sync.assign(user_id)
    assert source_tenant.post(f"{sync.base}/jobs/{sync.job_id}/start").status_code == 204
    return Pair(name, sync, source.sessions, target.sessions, ids)


def _load(pair: Pair, rate: float, seconds: float, stop: threading.Event) -> None:
    """``rate`` changes per second, each a new jobTitle of the next user (round robin)."""
    service = UserService(pair.source_sessions, system_principal(pair.sync.source.id))
    start = time.monotonic()
    i = 0
    while not stop.is_set() and time.monotonic() - start < seconds:
        due = start + i / rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        value, user = f"T{i}", pair.users[i % len(pair.users)]
        pair.owner[value] = f"5::{user}"
        service.update(user, {"job_title": value})
        pair.committed[value] = time.monotonic()
        i += 1


def _watch(pair: Pair, stop: threading.Event) -> None:
    """A pass sends a user's current value: values it overtook count as delivered when the later one shows."""
    while not stop.is_set():
        now = time.monotonic()
        shown = {anchor: int(title[1:]) for anchor, title in pair.target_titles().items() if title and title[:1] == "T"}
        for value in list(pair.committed):
            if value not in pair.seen and shown.get(pair.owner[value], -1) >= int(value[1:]):
                pair.seen[value] = now
        time.sleep(0.005)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(rate: float, seconds: float, users: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        deployment("target", Path(tmp)) as other,
        deployment("source", Path(tmp), SOURCE_ENV) as home,
    ):
        pairs = [
            _setup("Graph", home, other, users, remote=True),
            _setup("Local", home, home, users, remote=False),
        ]
        started = time.monotonic()
        for pair in pairs:
            eventually(lambda p=pair: len(p.target_titles()) == users, 300, f"{pair.name}: initial cycle")  # type: ignore[misc]
        console.print(f"initial cycles of 2 x {users} users: {time.monotonic() - started:.1f} s")
        stop = threading.Event()
        watchers = [threading.Thread(target=_watch, args=(p, stop), daemon=True) for p in pairs]
        loads = [threading.Thread(target=_load, args=(p, rate, seconds, stop)) for p in pairs]
        for thread in watchers + loads:
            thread.start()
        for thread in loads:
            thread.join()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(set(p.committed) - set(p.seen) for p in pairs):
            time.sleep(0.05)
        stop.set()
        for thread in watchers:
            thread.join()
    table = Table(title=f"Change -> visible in the target ({rate:g} changes/s per pair for {seconds:g} s)")
    for column in ("connector", "changes", "p50 ms", "p99 ms", "max ms", "mean ms", "lost", "target p99"):
        table.add_column(column, justify="right")
    labels = {"Graph": "another deployment (Graph/HTTP)", "Local": "same deployment (services)"}
    targets = {"Graph": "< 3000", "Local": "< 2000"}
    for pair in pairs:
        latencies = [(pair.seen[v] - t) * 1000 for v, t in pair.committed.items() if v in pair.seen]
        table.add_row(
            labels[pair.name],
            str(len(pair.committed)),
            f"{_quantile(latencies, 0.5):.0f}",
            f"{_quantile(latencies, 0.99):.0f}",
            f"{max(latencies, default=float('nan')):.0f}",
            f"{statistics.fmean(latencies):.0f}" if latencies else "nan",
            str(len(set(pair.committed) - set(pair.seen))),
            targets[pair.name],
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="attribute changes per second per pair")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the changes are made")
    parser.add_argument("--users", type=int, default=200, help="synchronized users per pair")
    args = parser.parse_args()
    run(args.rate, args.seconds, args.users)


if __name__ == "__main__":
    main()
