"""Cross-tenant synchronization of a four-tenant mesh in one deployment: convergence and propagation.

Run by hand:  .venv/bin/python -m bench.bench_topology [--users 300] [--rate 20] [--seconds 8]
              [--database-url postgresql+psycopg://...]
The issue's figures: --users 25000 --rate 100 --seconds 60 (4 x 6,000 converge in about 5 minutes on SQLite).

1. Convergence: four tenants of ``--users`` internal members each (bulk-inserted, not measured) are declared a
   mesh (``hospes topology``'s planner and applier, in process) and the provisioning runner — the background
   worker of ``hospes serve`` — synchronizes them until every tenant holds the other 3 x N. Rate = synchronized
   users created / wall time, beside the *raw* rate of the same inserts through the same service
   (``SyncedUsers.create``, one transaction each, what the directory connector calls), measured in the same run
   into a fifth tenant. Target: >= 50 % of the raw rate.
2. Incremental: ``--rate`` job-title changes per second in one tenant for ``--seconds`` (each on a different
   user, through ``UserService.update``); latency = change committed -> the new title visible in each of the three
   other tenants (polled every 20 ms), p50 and p99. Target: p99 < 2 s; the reference service runs every 40 min.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench._server import fresh_database, sessions_for
from bench.bench_provisioning import percentile, seed
from hospes.auth.crypto import secret_box
from hospes.domain import topology as topo
from hospes.provisioning import ProvisioningRunner, ProvisioningService
from hospes.provisioning.topology import Topologies
from hospes.services.cross_tenant_policy import CrossTenantPolicyService
from hospes.services.cross_tenant_users import SyncedUsers, sync_actor
from hospes.services.tenants import TenantBootstrap, create_tenant, principal_for_tenant
from hospes.services.users import UserService
from hospes.settings import Settings
from hospes.storage import changelog
from hospes.storage.engine import read_sessions_of
from hospes.storage.tables import ChangeLog, User

console = Console(width=160)
NAMES = ("Contoso", "Fabrikam", "Tailspin", "Woodgrove")


def synchronized(sessions: sessionmaker[Session], tenant_ids: list[str]) -> dict[str, int]:
    with read_sessions_of(sessions)() as session:  # a count must not hold SQLite's write lock from the runner
        rows = session.execute(
            select(User.tenant_id, func.count())
            .where(User.tenant_id.in_(tenant_ids), User.alt_sec_id.is_not(None))
            .group_by(User.tenant_id)
        ).all()
    return {tenant: int(count) for tenant, count in rows}


def raw_inserts(sessions: sessionmaker[Session], source: TenantBootstrap, ids: list[str]) -> float:
    """Seconds to insert ``ids``' synchronized users into a fresh tenant through ``SyncedUsers.create``."""
    raw = create_tenant(sessions, "Raw", f"raw-{uuid.uuid4().hex[:8]}.example")
    target_policy = CrossTenantPolicyService(sessions, principal_for_tenant(raw.tenant_id))
    target_policy.create_partner(
        {"tenantId": source.tenant_id, "automaticUserConsentSettings": {"inboundAllowed": True}}
    )
    target_policy.put_sync_policy(source.tenant_id, {"userSyncInbound": {"isSyncAllowed": True}})
    source_policy = CrossTenantPolicyService(sessions, principal_for_tenant(source.tenant_id))
    source_policy.create_partner({"tenantId": raw.tenant_id, "automaticUserConsentSettings": {"outboundAllowed": True}})
    users = SyncedUsers(sessions, sync_actor(raw.tenant_id, "Bench"), source_tenant=source.tenant_id)
    with sessions() as session:
        rows = list(session.scalars(select(User).where(User.id.in_(ids))))
    started = time.perf_counter()
    for row in rows:
        values: dict[str, Any] = {
            "user_principal_name": row.user_principal_name,
            "mail": row.mail,
            "display_name": row.display_name,
            "given_name": row.given_name,
            "surname": row.surname,
            "job_title": row.job_title,
            "department": row.department,
            "mobile_phone": row.mobile_phone,
            "business_phones": list(row.business_phones or []),
            "office_location": row.office_location,
            "account_enabled": True,
            "show_in_address_list": True,
            "user_type": "Member",
        }
        users.create(f"5::{row.id}", row.id, values)
    return time.perf_counter() - started


def converge(args: argparse.Namespace, sessions: sessionmaker[Session], settings: Settings) -> dict[str, Any]:
    tenants = [create_tenant(sessions, name, f"{name.lower()}-{uuid.uuid4().hex[:8]}.example") for name in NAMES]
    ids = {t.tenant_id: seed(settings.database_url or "", t, args.users) for t in tenants}
    service = ProvisioningService(sessions, settings, secret_box("", settings.data_dir))
    raw_seconds = raw_inserts(sessions, tenants[0], ids[tenants[0].tenant_id])

    declaration = topo.parse({"name": "bench", "topology": "mesh", "tenants": [t.domain for t in tenants]})
    topologies = Topologies(sessions, service)
    changes, current = topologies.plan(declaration)
    topologies.apply(declaration.name, changes, current, lambda change: None)
    # every tenant's own members (N, plus its administrator) into each of the three others
    wanted = 3 * (args.users + 1)
    tenant_ids = [t.tenant_id for t in tenants]
    runner = ProvisioningRunner(sessions, settings, service.box)
    started = time.perf_counter()
    runner.start()
    counts: dict[str, int] = {}
    deadline = started + args.timeout
    while time.perf_counter() < deadline:
        counts = synchronized(sessions, tenant_ids)
        if all(counts.get(t, 0) >= wanted for t in tenant_ids):
            break
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    return {
        "runner": runner,
        "tenants": tenants,
        "ids": ids,
        "seconds": seconds,
        "raw_seconds": raw_seconds,
        "created": sum(counts.values()),
        "wanted": wanted * 4,
    }


def propagate(args: argparse.Namespace, sessions: sessionmaker[Session], state: dict[str, Any]) -> list[float]:
    source: TenantBootstrap = state["tenants"][0]
    others = [t.tenant_id for t in state["tenants"][1:]]
    ids: list[str] = state["ids"][source.tenant_id]
    users = UserService(sessions, principal_for_tenant(source.tenant_id))
    reads = read_sessions_of(sessions)
    committed: dict[str, tuple[str, float]] = {}  # anchor -> (title, time the write began)
    arrived: dict[tuple[str, str], float] = {}  # (anchor, tenant) -> arrival time
    lock = threading.Lock()
    done = threading.Event()

    def poll() -> None:
        # Only what the three tenants' change logs name since the last look is read (a write and its log row commit
        # together, so a user is looked at once it changed): the poller shares the process, and re-reading every
        # pending user each time would cost the measured pipeline its CPU.
        with reads() as session:
            last = {tenant: changelog.head(session, tenant) for tenant in others}
        while not done.is_set() or len(arrived) < 3 * len(committed):
            with reads() as session:
                rows: list[tuple[str, str | None, str | None]] = []
                for tenant in others:
                    found = session.execute(
                        select(ChangeLog.seq, User.alt_sec_id, User.job_title)
                        .join(User, User.id == ChangeLog.object_id)
                        .where(ChangeLog.tenant_id == tenant, ChangeLog.seq > last[tenant])
                        .order_by(ChangeLog.seq)
                    ).all()
                    if found:
                        last[tenant] = found[-1].seq
                    rows.extend((tenant, anchor, title) for _, anchor, title in found)
            now = time.time()
            with lock:
                for tenant, anchor, title in rows:
                    if anchor is not None and anchor in committed and title == committed[anchor][0]:
                        arrived.setdefault((anchor, tenant), now)
            if done.is_set() and time.time() > done_at[0] + 30:
                return
            time.sleep(0.02)

    done_at = [0.0]
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    total = min(int(args.rate * args.seconds), len(ids))
    interval = 1.0 / args.rate
    next_at = time.perf_counter()
    for i in range(total):
        title = f"T{i}-{uuid.uuid4().hex[:6]}"
        with lock:  # stamped before the write (its own time counts), so the poller never sees a value it can't match
            committed[f"5::{ids[i]}"] = (title, time.time())
        users.update(ids[i], {"job_title": title})
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    done_at[0] = time.time()
    done.set()
    poller.join(35)
    state["runner"].stop()
    missing = 3 * len(committed) - len(arrived)
    if missing:
        console.print(f"[red]{missing} of {3 * len(committed)} changes never arrived[/red]")
    return sorted(arrived[(a, t)] - committed[a][1] for a, t in arrived)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300, help="internal members per tenant (issue: 25000)")
    parser.add_argument("--rate", type=float, default=20.0, help="attribute changes per second (issue: 100)")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of the change round (issue: 60)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up converging after this long")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-topology-"))
    url = fresh_database(args.database_url, str(tmp))
    settings = Settings(
        database_url=url, data_dir=tmp / "data", provisioning_poll_seconds=0.1, provisioning_claim_seconds=0.2
    )
    sessions = sessions_for(url)
    state = converge(args, sessions, settings)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    rate, raw_rate = state["created"] / state["seconds"], args.users / state["raw_seconds"]
    table = Table(title=f"Mesh of 4 tenants x {args.users:,} members: convergence ({backend})")
    for column in ("synchronized users", "wall time", "users/s", "raw inserts/s (same service)", "ratio", "target"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{state['created']:,} / {state['wanted']:,}",
        f"{state['seconds']:.1f} s",
        f"{rate:,.0f}",
        f"{raw_rate:,.0f}",
        f"{rate / raw_rate:.0%}",
        ">= 50 %",
    )
    console.print(table)

    latencies = propagate(args, sessions, state)
    lat = Table(
        title=f"Incremental: {args.rate:g} job-title changes/s in one tenant for {args.seconds:g} s -> visible in "
        f"each of the 3 others ({len(latencies)} arrivals)"
    )
    for column in ("p50", "p99", "max", "target p99", "reference service"):
        lat.add_column(column, justify="right")
    if latencies:
        lat.add_row(
            f"{percentile(latencies, 0.5) * 1000:.0f} ms",
            f"{percentile(latencies, 0.99) * 1000:.0f} ms",
            f"{latencies[-1] * 1000:.0f} ms",
            "< 2 s",
            "up to 40 min",
        )
    console.print(lat)


if __name__ == "__main__":
    main()
