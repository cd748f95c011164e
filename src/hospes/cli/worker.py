"""``hospes worker``: the background workers of ``hospes.workers.build_workers`` in the foreground, for deployments
that turn them off on the API servers."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Annotated

import typer

from hospes.auth.keys import load_or_create_keys
from hospes.cli.common import ConfigOpt, console, deployment_box, fail, load, open_current_database
from hospes.logs import configure_logging


def worker(
    config: ConfigOpt = None,
    metrics_address: Annotated[
        str,
        typer.Option(
            help="Serve Prometheus metrics (lease takeovers, scheduler runs, sends, pool use) at http://ADDRESS/ "
            "(host:port; keep it on loopback or a private network: it has no authentication). Empty: none.",
            envvar="HOSPES_WORKER_METRICS_ADDRESS",
        ),
    ] = "",
) -> None:
    """Run every background worker in the foreground: outbox delivery (when HOSPES_SMTP_HOST is set), the
    provisioning runner, the portal's bulk-invite jobs, dynamic-group processing, the durable timers and the periodic
    tasks (housekeeping, pruning), beside `hospes serve --role api` nodes. Any number may run, on any hosts: they share
    the work through the database. The schema must be current (`hospes db upgrade`). Stops on SIGINT/SIGTERM,
    handing its leases back."""
    # Imported here, not at the top: the workers bring in the provisioning engine (httpx, the SCIM models, the
    # expression compiler), about 0.5 s of CPU that every other command would otherwise pay at start-up.
    from hospes.workers import build_workers

    settings = load(config)
    configure_logging(settings.log_format, settings.log_level, "worker")
    if metrics_address:
        _serve_metrics(metrics_address)
    database = open_current_database(settings)
    box = deployment_box(settings, database.sessions)
    workers = build_workers(
        settings,
        database,
        box,
        load_or_create_keys(database.sessions, box),
        mail=bool(settings.smtp_host),
        provisioning=True,
        bulk=True,
        scheduler=True,
        dynamic_groups=True,
        timers=True,
    )
    stopped = threading.Event()

    def stop(*_: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    workers.start()
    console.print("running provisioning jobs, bulk invitations, dynamic-group processing, timers and periodic tasks")
    if workers.outbox is None:
        console.print("email delivery off: HOSPES_SMTP_HOST is not set")
    else:
        console.print(f"delivering email through {settings.smtp_host}:{settings.smtp_port}")
    with contextlib.suppress(KeyboardInterrupt):
        while not stopped.wait(0.5):
            pass
    workers.stop()


def _serve_metrics(address: str) -> None:
    from prometheus_client import start_http_server

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise fail(f"--metrics-address must be host:port, not {address!r}")
    start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1")
