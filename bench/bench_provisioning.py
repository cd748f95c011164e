"""Provisioning throughput and propagation latency against scim2-server on loopback.

Run by hand:  .venv/bin/python -m bench.bench_provisioning [--users 10000] [--big] [--updates 1000]
              [--concurrency 8] [--database-url postgresql+psycopg://...]

1. Initial cycle: N users (bulk-inserted into the directory, scope "sync all") provisioned by the engine's full
   cycle into a fresh ``scim2-server``, beside the *baseline*: the target's own maximum rate for the same POSTs,
   measured in the same run by a plain concurrent httpx client (same bodies, same concurrency) against another
   fresh instance. Target: engine rate >= 70 % of the baseline. ``--big`` adds a 100,000-user round.
2. Incremental propagation: the background runner is started, then ``--updates`` user updates are committed
   through the user service at a steady pace; a recording proxy in front of the target stamps the arrival of
   each PATCH. Latency = arrival - commit, p50 and p99. Target: p99 < 2 s.

The reference service needs 142-708 minutes for 1,000-10,000 objects and 1,170-2,340 minutes for 10,000-100,000
(Entra's published figure), i.e. 14-70 objects per minute.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select
from tests.helpers.faultproxy import FaultProxy
from tests.helpers.scimtarget import Target, run_target

from bench._server import fresh_database, new_tenant, sessions_for
from hospes.auth.crypto import secret_box
from hospes.domain.provisioning import Action, CycleKind
from hospes.domain.schema import USER
from hospes.provisioning import ProvisioningRunner, ProvisioningService
from hospes.provisioning.mapping import build_resource
from hospes.services.apps import AppService
from hospes.services.tenants import TenantBootstrap, principal_for_tenant
from hospes.services.users import UserService
from hospes.settings import Settings
from hospes.storage.tables import ChangeLog, User
from hospes.storage.tables_provisioning import ProvisionedObject

console = Console(width=160)
BATCH = 5_000
CREATED = sorted(p.name for p in USER.props)


def seed(url: str, boot: TenantBootstrap, count: int) -> list[str]:
    sessions = sessions_for(url)
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    ids: list[str] = []
    with sessions.begin() as session:
        for first in range(0, count, BATCH):
            users, changes = [], []
            for i in range(first, min(first + BATCH, count)):
                uid = str(uuid.uuid4())
                ids.append(uid)
                upn = f"b{tag}{i}@{boot.domain}"
                users.append(
                    {
                        "id": uid,
                        "tenant_id": boot.tenant_id,
                        "user_principal_name": upn,
                        "upn_key": upn,
                        "mail": upn,
                        "mail_key": upn,
                        "mail_nickname": f"b{tag}{i}",
                        "display_name": f"Bench {i}",
                        "given_name": "Bench",
                        "surname": f"User{i}",
                        "job_title": "Engineer",
                        "department": "R&D",
                        "mobile_phone": "+33 6 00 00 00 00",
                        "business_phones": ["+33 1 00 00 00 00"],
                        "office_location": "Paris",
                        "other_mails": [],
                        "identities": [],
                        "account_enabled": True,
                        "user_type": "Member",
                        "force_change_password": False,
                        "created_at": now,
                    }
                )
                changes.append(
                    {
                        "tenant_id": boot.tenant_id,
                        "object_type": "user",
                        "object_id": uid,
                        "change_type": "created",
                        "properties": CREATED,
                        "at": now,
                    }
                )
            session.execute(insert(User), users)
            session.execute(insert(ChangeLog), changes)
    return ids


def make_job(service: ProvisioningService, boot: TenantBootstrap, base_url: str, token: str) -> tuple[str, str]:
    apps = AppService(service.sessions, principal_for_tenant(boot.tenant_id))
    app = apps.create_app({"display_name": f"8x8 {uuid.uuid4().hex[:4]}"}, {})
    sp = apps.create_sp({}, app.app_id)
    job = service.create_job(boot.tenant_id, sp.id)
    service.put_secrets(boot.tenant_id, sp.id, {"BaseAddress": base_url, "SecretToken": token, "SyncAll": "true"})
    return sp.id, job["id"]


def baseline(target: Target, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """The target's maximum rate for the same POSTs: a plain concurrent client, no engine."""
    local = threading.local()

    def post(body: dict[str, Any]) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(
                base_url=target.base_url,
                headers={"Authorization": f"Bearer {target.token}", "Content-Type": "application/scim+json"},
                timeout=60,
            )
        response = client.post("/Users", content=json.dumps(body))
        assert response.status_code == 201, response.text

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, bodies))
    return time.perf_counter() - started


def initial_round(args: argparse.Namespace, tmp: Path, settings: Settings, count: int) -> dict[str, Any]:
    url = fresh_database(args.database_url, str(tmp))
    sessions = sessions_for(url)
    boot = new_tenant(sessions)
    seed(url, boot, count)
    service = ProvisioningService(
        sessions, settings.model_copy(update={"database_url": url}), secret_box("", settings.data_dir)
    )
    with run_target(tmp / f"base-{count}") as base_target, run_target(tmp / f"eng-{count}") as engine_target:
        sp_id, job_id = make_job(service, boot, engine_target.base_url, engine_target.token)
        # The baseline POSTs exactly what the engine will send: the job's mapping, evaluated per user.
        run = service.engine.open_cycle(job_id, CycleKind.INITIAL)
        bodies = [build_resource(w.values) for w in run.plan_users(None) if w.action == Action.CREATE]
        base_seconds = baseline(base_target, bodies, args.concurrency)
        service.start(boot.tenant_id, sp_id, job_id)
        started = time.perf_counter()
        service.engine.open_cycle(job_id, CycleKind.INITIAL).full()
        engine_seconds = time.perf_counter() - started
        with sessions() as session:
            linked = len(
                list(
                    session.scalars(
                        select(ProvisionedObject.source_id).where(
                            ProvisionedObject.job_id == job_id, ProvisionedObject.state == "active"
                        )
                    )
                )
            )
        created = count_users(engine_target)
    return {"count": count, "base": base_seconds, "engine": engine_seconds, "linked": linked, "created": created}


def count_users(target: Target) -> int:
    """``totalResults`` of an empty page: listing 100,000 users page by page is slow on scim2-server."""
    with httpx.Client(
        base_url=target.base_url, headers={"Authorization": f"Bearer {target.token}"}, timeout=600
    ) as client:
        total: int = client.get("/Users", params={"count": 0, "attributes": "id"}).json()["totalResults"]
        return total


def latency_round(args: argparse.Namespace, tmp: Path, settings: Settings) -> list[float]:
    url = fresh_database(args.database_url, str(tmp))
    sessions = sessions_for(url)
    boot = new_tenant(sessions)
    ids = seed(url, boot, args.latency_users)
    local = settings.model_copy(update={"database_url": url})
    service = ProvisioningService(sessions, local, secret_box("", settings.data_dir))
    with run_target(tmp / "latency") as target:
        proxy = FaultProxy(target.base_url).start()
        try:
            sp_id, job_id = make_job(service, boot, proxy.url, target.token)
            service.start(boot.tenant_id, sp_id, job_id)
            service.engine.open_cycle(job_id, CycleKind.INITIAL).full()
            with sessions() as session:
                target_of = dict(
                    session.execute(
                        select(ProvisionedObject.source_id, ProvisionedObject.target_id).where(
                            ProvisionedObject.job_id == job_id
                        )
                    ).all()
                )
            runner = ProvisioningRunner(sessions, local, service.box)
            runner.start()
            users = UserService(sessions, principal_for_tenant(boot.tenant_id))
            proxy.record = True
            committed: dict[str, float] = {}
            interval = 1.0 / args.rate
            next_at = time.perf_counter()
            for i in range(args.updates):
                uid = ids[i % len(ids)]
                title = f"T{i}-{uuid.uuid4().hex[:6]}"
                users.update(uid, {"job_title": title})
                committed[title] = time.time()
                next_at += interval
                time.sleep(max(0.0, next_at - time.perf_counter()))
            deadline = time.monotonic() + 30
            arrived: dict[str, float] = {}
            while time.monotonic() < deadline and len(arrived) < len(committed):
                for arrival in list(proxy.arrivals):
                    if arrival.method == "PATCH":
                        for op in json.loads(arrival.body or b"{}").get("Operations", []):
                            if op.get("path") == "title" and op.get("value") in committed:
                                arrived.setdefault(op["value"], arrival.at)
                time.sleep(0.2)
            runner.stop()
        finally:
            proxy.stop()
    assert target_of, "initial cycle linked nothing"
    missing = len(committed) - len(arrived)
    if missing:
        console.print(f"[yellow]{missing} updates were superseded before being sent (coalesced)[/yellow]")
    return sorted(arrived[t] - committed[t] for t in arrived)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--big", action="store_true", help="also run a 100,000-user initial cycle")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--updates", type=int, default=200, help="user updates for the latency round (1000: issue)")
    parser.add_argument("--rate", type=float, default=20.0, help="updates per second in the latency round")
    parser.add_argument("--latency-users", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-prov-"))
    settings = Settings(
        data_dir=tmp / "data",
        outbound_allow="127.0.0.1",
        provisioning_concurrency=args.concurrency,
        provisioning_poll_seconds=0.25,
    )

    rounds = []
    for count in [args.users, *([100_000] if args.big else [])]:
        rounds.append(initial_round(args, tmp, settings, count))
        last = rounds[-1]
        console.print(f"{count:,} users: baseline {last['base']:.1f} s, engine {last['engine']:.1f} s")
    table = Table(
        title=f"Initial cycle to scim2-server on loopback (concurrency {args.concurrency}, "
        f"{'PostgreSQL' if args.database_url else 'SQLite'})"
    )
    for column in (
        "users",
        "baseline POST/s",
        "engine users/s",
        "ratio",
        "engine wall time",
        "created",
        "linked",
        "reference service (min)",
    ):
        table.add_column(column, justify="right")
    for r in rounds:
        base_rate, engine_rate = r["count"] / r["base"], r["count"] / r["engine"]
        reference = "142-708" if r["count"] <= 10_000 else "1,170-2,340"
        table.add_row(
            f"{r['count']:,}",
            f"{base_rate:,.0f}",
            f"{engine_rate:,.0f}",
            f"{engine_rate / base_rate:.0%}",
            f"{r['engine']:.1f} s",
            f"{r['created']:,}",
            f"{r['linked']:,}",
            reference,
        )
    console.print(table)

    latencies = latency_round(args, tmp, settings)
    lat = Table(
        title=f"Incremental propagation: update committed -> PATCH received ({len(latencies)} updates at "
        f"{args.rate:g}/s, poll {settings.provisioning_poll_seconds}s)"
    )
    for column in ("p50", "p90", "p99", "max", "target p99", "reference service"):
        lat.add_column(column, justify="right")
    lat.add_row(
        f"{percentile(latencies, 0.5) * 1000:.0f} ms",
        f"{percentile(latencies, 0.9) * 1000:.0f} ms",
        f"{percentile(latencies, 0.99) * 1000:.0f} ms",
        f"{latencies[-1] * 1000:.0f} ms",
        "< 2,000 ms",
        "~40 min cycle",
    )
    console.print(lat)


if __name__ == "__main__":
    main()
