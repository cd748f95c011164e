"""Prometheus metrics of a process, for ``/metrics`` (``hospes serve``) and the worker's metrics listener.

The counters and histograms live here, in the lowest layer, so any layer can count what it does: HTTP requests
(by route template, never by raw path, so the series stay few), database pool use, tenant-lock waits, the token
cache, outbox sends, and the fleet's coordination (``lease_takeover``, ``scheduler_run``). Values that are facts
of the database (outbox depth, provisioning lag, quarantines) are not counted here: ``/metrics`` reads them when
scraped (``storage/fleet_stats.py``).

Multiprocess-safe: ``hospes serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR`` (before any process imports
prometheus_client), each process writes its values to files there, and a scrape of any process sums them.
Without it a process keeps its values in memory (one process, tests)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import REGISTRY
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "hospes_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "hospes_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=_LATENCY,
)
HTTP_IN_FLIGHT = Gauge("hospes_http_requests_in_flight", "HTTP requests being answered.", multiprocess_mode="livesum")
DB_POOL_CHECKED_OUT = Gauge(
    "hospes_db_pool_checked_out",
    "Database connections in use, by pool (primary, replica).",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_OPEN = Gauge(
    "hospes_db_pool_connections",
    "Database connections open (idle or in use), by pool.",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "hospes_db_pool_capacity",
    "Most connections the pool may open (pool size + overflow), by pool.",
    ["pool"],
    multiprocess_mode="livesum",
)
TENANT_LOCK_WAIT = Histogram(
    "hospes_tenant_lock_wait_seconds",
    "Wait for a tenant's change-log ordering lock (PostgreSQL).",
    buckets=_LATENCY,
)
TOKEN_CACHE = Counter(
    "hospes_token_cache_lookups_total",
    "Access-token signature checks by result (hit: cached; miss: checked).",
    ["result"],
)
MAIL_SENDS = Counter("hospes_mail_sends_total", "Outbox delivery attempts, by result.", ["result"])
LEASE_TAKEOVERS = Counter(
    "hospes_lease_takeovers_total",
    "Leases taken over from another owner whose lease had lapsed, by kind (provisioning, outbox, bulk, scheduler).",
    ["kind"],
)
SCHEDULER_RUNS = Counter(
    "hospes_scheduler_runs_total", "Periodic tasks run by this process, by task and result.", ["task", "result"]
)
SCHEDULER_DURATION = Histogram(
    "hospes_scheduler_run_duration_seconds",
    "Duration of one periodic task run.",
    ["task"],
    buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300),
)
REPLICA_READS = Counter(
    "hospes_replica_reads_total",
    "Reads that accepted staleness, by where they went (replica, primary).",
    ["target"],
)


def lease_takeover(kind: str) -> None:
    """Count a lease this process took over from another owner (its lease had lapsed)."""
    LEASE_TAKEOVERS.labels(kind).inc()


@contextmanager
def scheduler_run(task: str) -> Iterator[None]:
    """Count and time one run of a periodic task: ``with scheduler_run("housekeeping"): ...``."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        SCHEDULER_RUNS.labels(task, "error").inc()
        raise
    else:
        SCHEDULER_RUNS.labels(task, "ok").inc()
    finally:
        SCHEDULER_DURATION.labels(task).observe(time.perf_counter() - started)


def token_cache(hit: bool) -> None:
    TOKEN_CACHE.labels("hit" if hit else "miss").inc()


def watch_pool(pool: Any, name: str, capacity: int) -> Callable[[], None]:
    """Keep the pool gauges of ``pool`` (a SQLAlchemy QueuePool) current; returns the function that refreshes
    them, for the caller to hang on the pool's checkout and checkin events."""
    DB_POOL_CAPACITY.labels(name).set(capacity)
    checked_out, open_ = DB_POOL_CHECKED_OUT.labels(name), DB_POOL_OPEN.labels(name)

    def refresh() -> None:
        checked_out.set(pool.checkedout())
        open_.set(pool.checkedout() + pool.checkedin())

    return refresh


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def render(extra: Iterable[Collector] = ()) -> bytes:
    """The exposition text of this process (of all processes sharing its ``PROMETHEUS_MULTIPROC_DIR``) plus the
    ``extra`` collectors, read now."""
    if multiprocess():
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    scraped = CollectorRegistry(auto_describe=False)
    for collector in extra:
        scraped.register(collector)
    return text + generate_latest(scraped)
