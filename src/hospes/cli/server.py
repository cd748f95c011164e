"""``hospes serve`` (the server, migrating the database first) and ``hospes db upgrade``."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn

from hospes.cli.common import ConfigOpt, console, load, open_database
from hospes.demo import ensure_demo
from hospes.storage.migrate import upgrade

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Create the demo tenants on first start.")] = False,
    workers: Annotated[
        int, typer.Option(help="Server processes (0 = one per CPU). Background jobs run in one of them.")
    ] = 1,
    config: ConfigOpt = None,
) -> None:
    """Run the server (migrating the database first)."""
    settings = load(config)
    if "public_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
    database = open_database(settings)
    if demo:
        ensure_demo(database.sessions, settings, console)
    database.dispose()  # each server process opens its own
    workers = workers or os.cpu_count() or 1
    console.print(
        f"Hospes listening on http://{host}:{port} (public URL {settings.public_url}), {workers} process(es)",
        soft_wrap=True,  # whole, also in a pipe or a log file (rich would cut it at 80 columns there)
    )
    # Every server process, a lone one included, builds its app from the environment (``hospes.asgi.worker_app``):
    # the CLI never imports the HTTP surfaces. Hand it what was resolved here.
    os.environ["HOSPES_PUBLIC_URL"] = settings.public_url
    os.environ["HOSPES_SERVE_CONFIG"] = config or ""
    os.environ["HOSPES_SERVE_WORKERS"] = str(workers)  # a lone process runs the background work without the lock
    uvicorn.run(
        "hospes.asgi:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        # uvicorn has no header-read deadline of its own: HttpProtocol closes connections that send their request
        # head too slowly (HOSPES_HTTP_HEADER_TIMEOUT_SECONDS) or too large.
        http="hospes.asgi:HttpProtocol",
        timeout_keep_alive=settings.http_keep_alive_seconds,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
    )


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply every Alembic migration."""
    upgrade(load(config).effective_database_url)
    console.print("Database is at the latest revision.")
