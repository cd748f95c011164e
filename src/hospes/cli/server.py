"""``hospes serve`` (the server, migrating the database first) and ``hospes db upgrade``."""

from __future__ import annotations

import enum
import ipaddress
import os
import ssl
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from hospes.auth.canary import SecretKeyError, require_shared_key
from hospes.cli.common import ConfigOpt, console, fail, load, open_current_database, open_database
from hospes.demo import ensure_demo
from hospes.storage.migrate import schema_state, upgrade

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


class Role(enum.StrEnum):
    ALL = "all"
    API = "api"


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Create the demo tenants on first start.")] = False,
    workers: Annotated[
        int,
        typer.Option(
            help="Server processes (0 = one per CPU). With --role all each also runs the background workers, "
            "which share the work through the database."
        ),
    ] = 1,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this PEM certificate (chain); needs --tls-key.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The PEM private key of --tls-cert.")] = None,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            help="Behind a TLS-terminating proxy: take the client address and scheme from X-Forwarded-For and "
            "X-Forwarded-Proto, when the connection comes from --forwarded-allow-ips."
        ),
    ] = True,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="Comma-separated addresses or networks of the proxies whose Forwarded and X-Forwarded-* headers "
            "(and X-Request-Id) are trusted (* = any); from other peers they are ignored.",
            envvar="HOSPES_FORWARDED_ALLOW_IPS",
        ),
    ] = "127.0.0.1",
    role: Annotated[
        Role,
        typer.Option(
            help="all: API and every background worker, migrating the database first (one host). api: API only, "
            "no background work and no migration (the schema must be current: `hospes db upgrade`); run "
            "`hospes worker` processes beside it."
        ),
    ] = Role.ALL,
    config: ConfigOpt = None,
) -> None:
    """Run the server (with --role all, the default, migrating the database first)."""
    tls = _tls_files(tls_cert, tls_key)
    scheme = "https" if tls else "http"
    settings = load(config)
    if "public_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"public_url": f"{scheme}://{host}:{port}"})
    try:
        require_shared_key(settings)
    except SecretKeyError as exc:
        raise fail(str(exc)) from None
    if role == Role.API and demo:
        raise typer.BadParameter("--demo creates the demo tenants: use it with --role all.")
    database = open_database(settings) if role == Role.ALL else open_current_database(settings)
    if demo:
        ensure_demo(database.sessions, settings, console)
    database.dispose()  # each server process opens its own
    workers = workers or os.cpu_count() or 1
    console.print(
        f"Hospes listening on {scheme}://{host}:{port} (public URL {settings.public_url}), {workers} process(es)",
        soft_wrap=True,  # whole, also in a pipe or a log file (rich would cut it at 80 columns there)
    )
    if not settings.public_url.startswith("https://") and not _is_loopback(host):
        console.print(
            "Warning: the public URL is plain http on a non-loopback interface. OpenID Connect clients (MSAL, "
            "azure-identity) require https: use --tls-cert/--tls-key, or a TLS proxy and an https HOSPES_PUBLIC_URL.",
            soft_wrap=True,
        )
    # Every server process, a lone one included, builds its app from the environment (``hospes.asgi.worker_app``):
    # the CLI never imports the HTTP surfaces. Hand it what was resolved here.
    os.environ["HOSPES_PUBLIC_URL"] = settings.public_url
    os.environ["HOSPES_SERVE_CONFIG"] = config or ""
    os.environ["HOSPES_SERVE_ROLE"] = role.value
    # The app reads the client address, scheme and host from trusted proxies itself (hospes.asgi.ops): one reading
    # of Forwarded and X-Forwarded-* for every process, used by lockouts, logs and the audit.
    os.environ["HOSPES_FORWARDED_ALLOW_IPS"] = forwarded_allow_ips if proxy_headers else ""
    if workers > 1:
        _share_metrics(settings.data_dir)
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
        http="hospes.asgi.protocols:HttpProtocol",
        timeout_keep_alive=settings.http_keep_alive_seconds,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        # The client address from X-Forwarded-For counts for lockouts and the audit. Issuer, endpoint and redirect
        # URLs never come from the request: HOSPES_PUBLIC_URL alone makes them, whatever Host or X-Forwarded-Host say.
        proxy_headers=False,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
    )


def _share_metrics(data_dir: Path) -> None:
    """The server processes write their metrics to files in one folder (``PROMETHEUS_MULTIPROC_DIR``, set before
    they start, so before they import prometheus_client), so a scrape of any of them reports all; emptied at each
    start, as the files of a previous run's processes would count again."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    else:
        folder = data_dir / "metrics"
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def _tls_files(cert: Path | None, key: Path | None) -> tuple[str, str] | None:
    """Both files or neither; checked here (readable, and the key matching the certificate), so a mistake is one
    clear line instead of a traceback from each server process."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        missing, given = ("--tls-key", "--tls-cert") if key is None else ("--tls-cert", "--tls-key")
        raise typer.BadParameter(f"{given} needs {missing} as well (a certificate and its private key).")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise typer.BadParameter(f"TLS file not found: {exc.filename}") from None
    except (ssl.SSLError, OSError) as exc:
        raise typer.BadParameter(
            f"The TLS certificate {cert} and key {key} could not be loaded (PEM files, the key matching the "
            f"certificate, not encrypted): {exc}"
        ) from None
    return str(cert), str(key)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply every Alembic migration: the one migration step of a deployment, run once per release before API
    nodes and workers start. Hosts running it together take turns (a database lock); the second finds nothing
    to do."""
    url = load(config).effective_database_url
    upgrade(url)
    console.print(f"Database is at the latest revision ({schema_state(url).head}).")


@db_app.command("check")
def db_check(config: ConfigOpt = None) -> None:
    """Exit 0 when the schema is the one this release expects, 1 otherwise (a deploy script's gate)."""
    state = schema_state(load(config).effective_database_url)
    if not state.ok:
        raise fail(state.explain())
    console.print(f"Database schema is current ({state.head}).")
