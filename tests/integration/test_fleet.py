"""A fleet on one PostgreSQL database, on one machine: hosts are processes with data folders of their own (one
under ``faketime``, a host whose clock runs 90 s ahead), email goes to a real aiosmtpd sink, provisioning to a real
``scim2-server``. Each test has a database of its own; all of them are bounded and stay on loopback."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import secret_box
from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.principals import system_principal
from hospes.provisioning.service import ProvisioningService
from hospes.services.base import Services
from hospes.services.tenants import create_tenant
from hospes.storage import changelog
from hospes.storage.migrate import head_revision, upgrade
from hospes.storage.tables import ChangeLog, OutboxMessage
from hospes.storage.tables_fleet import SchedulerLease
from tests.helpers.faultproxy import FaultPlan, FaultProxy
from tests.helpers.fleet import api_node, host_settings, invite, own_postgres_database, start_host, stop_all
from tests.helpers.infra import need, need_postgres
from tests.helpers.live import free_port
from tests.helpers.mail import MailSink
from tests.helpers.provisioning import make_app, person
from tests.helpers.scimtarget import run_target
from tests.helpers.tenants import ADMIN_PASSWORD
from tests.helpers.wait import wait_until


@pytest.fixture(autouse=True)
def _postgres() -> None:
    need_postgres()


def test_hosts_started_together_on_an_empty_database(tmp_path: Path) -> None:
    """Three all-in-one hosts start at once on an empty database: one migrates while the others wait for the lock
    (none crashes on the DDL), and each periodic task then runs once per period across the three."""
    log = tmp_path / "hosts.log"
    with own_postgres_database("hosts") as url:
        ports = [free_port() for _ in range(3)]
        env = {"HOSPES_HOUSEKEEPING_INTERVAL_SECONDS": "1", "HOSPES_SMTP_HOST": ""}
        hosts = [
            start_host(["serve", "--port", str(port)], url, tmp_path / f"host{i}", log, env)
            for i, port in enumerate(ports)
        ]
        try:

            def all_up() -> bool:
                for host in hosts:
                    assert host.poll() is None, log.read_text()
                try:
                    return all(httpx.get(f"http://127.0.0.1:{p}/healthz", timeout=1).status_code == 200 for p in ports)
                except httpx.HTTPError:
                    return False

            wait_until(all_up, timeout=120, interval=0.2, what="three hosts serving")
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    assert list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [
                        head_revision()
                    ]
                sessions = sessionmaker(engine)

                def runs() -> dict[str, int]:
                    with sessions() as session:
                        return {row.name: row.runs for row in session.scalars(select(SchedulerLease))}

                wait_until(lambda: runs().get("prune-change-log", 0) >= 1, timeout=30, what="a first scheduled run")
                before, began = runs(), time.monotonic()
                time.sleep(4)
                after, elapsed = runs(), time.monotonic() - began
            finally:
                engine.dispose()
        finally:
            stop_all(hosts)
    for name in ("prune-change-log", "purge-deleted-items", "prune-web-sessions"):
        ran = after[name] - before[name]
        # Once per one-second period across the three hosts (three uncoordinated schedulers would run ~3x).
        assert 2 <= ran <= int(elapsed) + 1, (name, ran, elapsed, log.read_text()[-2000:])


def test_a_slow_relay_and_two_workers_send_each_message_once(tmp_path: Path) -> None:
    """Each message takes the relay a second; a worker's batch of ten outlives its three-second claims, which are
    renewed while it sends: the other worker never sends the tail of the batch again."""
    log = tmp_path / "workers.log"
    addresses = [f"slow{i}-{uuid.uuid4().hex[:6]}@partner.example" for i in range(12)]
    sink = MailSink(delay=1.0).start()
    workers = []
    try:
        with own_postgres_database("relay") as url:
            upgrade(url)
            with api_node(host_settings(url, tmp_path / "api")) as api:
                invite(api.tenant, addresses)
                env = {
                    **sink.smtp_env,
                    "HOSPES_MAIL_LEASE_SECONDS": "3",
                    "HOSPES_MAIL_BATCH_SIZE": "10",
                    "HOSPES_MAIL_POLL_INTERVAL_SECONDS": "0.2",
                }
                workers = [start_host(["worker"], url, tmp_path / f"w{i}", log, env) for i in range(2)]

                def all_sent() -> bool:
                    with api.database.sessions() as session:
                        return set(session.scalars(select(OutboxMessage.status))) == {"sent"}

                wait_until(all_sent, timeout=60, interval=0.2, what="every message sent")
                time.sleep(4)  # a lease that had lapsed would be taken up by now
            stop_all(workers)
    finally:
        stop_all(workers)
        sink.stop()
    ids = Counter(m.message["Message-ID"] for m in sink.messages if m.rcpt_tos[0] in addresses)
    assert len(ids) == len(addresses), log.read_text()[-3000:]
    assert max(ids.values()) == 1, ids


def test_a_worker_whose_clock_runs_ahead_duplicates_nothing(tmp_path: Path) -> None:
    """Two workers share a provisioning job and the outbox; one host's clock is 90 s ahead, past every lease the
    other holds. Leases are judged by the database's clock: it takes nothing over, and the SCIM target sees each
    create once, the relay each message once."""
    need("faketime")
    log = tmp_path / "workers.log"
    addresses = [f"skew{i}-{uuid.uuid4().hex[:6]}@partner.example" for i in range(10)]
    sink = MailSink(delay=0.3).start()
    workers = []
    try:
        with (
            own_postgres_database("skew") as url,
            run_target(tmp_path / "scim") as target,
        ):
            proxy = FaultProxy(target.base_url, FaultPlan(delay=0.05)).start()
            proxy.record = True
            try:
                upgrade(url)
                settings = host_settings(url, tmp_path / "api", outbound_allow="127.0.0.1")
                with api_node(settings) as api:
                    service = ProvisioningService(
                        api.database.sessions, settings, secret_box(settings.secret_key, settings.data_dir)
                    )
                    app = make_app(api.tenant, service, target, base_url=proxy.url)
                    users = [person(api.tenant) for _ in range(30)]
                    for user in users:
                        app.assign(user["id"])
                    invite(api.tenant, addresses)
                    env = {
                        **sink.smtp_env,
                        "HOSPES_OUTBOUND_ALLOW": "127.0.0.1",
                        "HOSPES_PROVISIONING_POLL_SECONDS": "0.05",
                        "HOSPES_MAIL_POLL_INTERVAL_SECONDS": "0.2",
                        "HOSPES_MAIL_BATCH_SIZE": "2",
                    }
                    workers = [
                        start_host(["worker"], url, tmp_path / "w0", log, env),
                        start_host(["worker"], url, tmp_path / "w1", log, env, prefix=["faketime", "-f", "+90s"]),
                    ]

                    def done() -> bool:
                        for worker in workers:
                            assert worker.poll() is None, log.read_text()[-3000:]
                        mailed = {m.message["Message-ID"] for m in sink.messages if m.rcpt_tos[0] in addresses}
                        return len(target.users()) == len(users) and len(mailed) == len(addresses)

                    wait_until(done, timeout=120, interval=0.3, what="every user provisioned and every email sent")
                    time.sleep(3)  # anything sent twice would arrive by now
                stop_all(workers)
            finally:
                proxy.stop()
            creates = [a for a in proxy.arrivals if a.method == "POST" and a.path.rstrip("/").endswith("/Users")]
            names = Counter(u["userName"] for u in target.users())
    finally:
        stop_all(workers)
        sink.stop()
    assert len(creates) == len(users), (len(creates), log.read_text()[-3000:])
    assert max(names.values()) == 1
    ids = Counter(m.message["Message-ID"] for m in sink.messages if m.rcpt_tos[0] in addresses)
    assert len(ids) == len(addresses) and max(ids.values()) == 1, ids


def test_eight_writers_the_change_log_reader_misses_nothing(tmp_path: Path) -> None:
    """Eight writers on one tenant, each pausing between its change and its commit; a reader reads users and groups
    in two statements capped by one head read, as provisioning does, moving its position to the last row read.
    Every committed change reaches it, in sequence order."""
    with own_postgres_database("order") as url:
        upgrade(url)
        engine = create_engine(url, pool_size=12)
        sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
        try:
            boot = create_tenant(
                sessions, "Order", f"order-{uuid.uuid4().hex[:8]}.example", admin_password=ADMIN_PASSWORD
            )
            stop = threading.Event()
            failures: list[BaseException] = []

            def writer(n: int) -> None:
                rng = random.Random(n)
                services = Services(sessions, system_principal(boot.tenant_id))
                try:
                    while not stop.is_set():
                        kind = ObjectType.USER if rng.random() < 0.6 else ObjectType.GROUP
                        with services.write("Test", "Change") as op:
                            op.change(kind, str(uuid.uuid4()), ChangeType.UPDATED, ["displayName"])
                            op.session.flush()  # the sequence value is taken here
                            time.sleep(rng.uniform(0, 0.02))  # commits land out of sequence order
                except BaseException as exc:
                    failures.append(exc)

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            seen: list[int] = []
            kinds = (ObjectType.USER, ObjectType.GROUP)
            ends = time.monotonic() + 8
            position = 0

            def read_once() -> None:
                nonlocal position
                with sessions() as session:
                    upto = changelog.head(session, boot.tenant_id, kinds)
                    rows = changelog.after(session, boot.tenant_id, kinds, position, 200, upto=upto)
                if rows:
                    seen.extend(row.seq for row in rows)
                    position = rows[-1].seq

            while time.monotonic() < ends:
                read_once()
            stop.set()
            for thread in threads:
                thread.join(30)
            for _ in range(100):
                before = len(seen)
                read_once()
                if len(seen) == before:
                    break
            assert not failures, failures
            with sessions() as session:
                committed = list(
                    session.scalars(
                        select(ChangeLog.seq).where(ChangeLog.tenant_id == boot.tenant_id).order_by(ChangeLog.seq)
                    )
                )
        finally:
            engine.dispose()
    assert len(committed) > 100  # the writers really raced
    assert seen == committed  # every change, once, in order
