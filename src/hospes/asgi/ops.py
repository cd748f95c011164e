"""What a load balancer and an operator see of a server process: ``/healthz`` (alive), ``/readyz`` (able to serve:
database reachable, schema current, not draining; replica lag reported), ``/metrics`` (Prometheus), the drain on
SIGTERM, the per-request metrics and access log, and the client address behind trusted proxies."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import text
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hospes import metrics
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.fleet_stats import FleetStats
from hospes.storage.migrate import database_revision, head_revision

log = logging.getLogger("hospes")
access = logging.getLogger("hospes.access")

PEER = "hospes.peer"  # scope key: the socket's peer, whatever the forwarded headers said
TRUSTED = "hospes.trusted_proxy"  # scope key: the peer is a trusted proxy (its X-Request-Id is believed)
_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Readiness:
    """Whether this process should get traffic. ``draining`` flips on SIGTERM, before the server stops accepting."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.draining = False
        self.head = head_revision()

    def check(self) -> tuple[bool, dict[str, Any]]:
        body: dict[str, Any] = {"draining": self.draining}
        ready = not self.draining
        try:
            with self.database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                revision = database_revision(connection)
            body["database"] = "ok"
            body["schema"] = "current" if revision == self.head else f"at {revision}; this code needs {self.head}"
            ready = ready and revision == self.head
        except Exception as exc:  # the answer is the diagnosis: never a 500
            body["database"] = f"unreachable ({type(exc).__name__})"
            ready = False
        if self.database.replicas is not None:
            # A lagging replica is reported, not a reason to stop serving: reads it would have taken go to the
            # primary until it catches up.
            states = self.database.replicas.measure()
            body["replicas"] = [{"url": s.url, "lagSeconds": s.lag_seconds, "withinLimit": s.usable} for s in states]
        body["status"] = "ready" if ready else "unavailable"
        return ready, body


def install_routes(app: FastAPI, settings: Settings, database: Database, readiness: Readiness) -> None:
    stats = FleetStats(database.read_sessions)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def ready() -> JSONResponse:
        ok, body = readiness.check()
        return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})

    @app.get("/metrics", include_in_schema=False)
    def scrape(request: Request) -> Response:
        refusal = _metrics_refusal(request, settings.metrics_token)
        if refusal is not None:
            return refusal
        return Response(metrics.render([stats]), media_type=metrics.CONTENT_TYPE)


def _metrics_refusal(request: Request, token: str) -> Response | None:
    """None when the caller may read the metrics: with ``metrics_token`` set, a request bearing it; without, a
    request straight from loopback (no proxy in between: through a proxy on the same host anyone could)."""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return PlainTextResponse("A bearer token is required.", 401, headers={"WWW-Authenticate": "Bearer"})
    peer = request.scope.get(PEER, request.scope.get("client"))
    forwarded = any(k in request.headers for k in ("forwarded", "x-forwarded-for"))
    if peer and _is_loopback(peer[0]) and not forwarded:
        return None
    return PlainTextResponse("Metrics are served to loopback only (or set HOSPES_METRICS_TOKEN).", 403)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def install_drain(readiness: Readiness, seconds: float) -> None:
    """Wrap the server's SIGTERM handler: the first SIGTERM makes ``/readyz`` answer 503 and answers carry
    ``Connection: close``; ``seconds`` later the server's own handler runs (stop accepting, finish requests in flight,
    shut down). A second SIGTERM stops at once. Only from the main thread (where the server installed its handler)."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return
    stop: Callable[[int, Any], Any] = previous

    def on_term(sig: int, frame: Any) -> None:
        if readiness.draining or seconds <= 0:
            readiness.draining = True
            stop(sig, frame)
            return
        readiness.draining = True
        log.info("SIGTERM: draining for %.1f s (/readyz answers 503), then stopping", seconds)
        timer = threading.Timer(seconds, stop, (sig, None))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_term)


class ObserveMiddleware:
    """Counts and times each request by route template (never the raw path: ids would make a series each), writes
    the access log line, and, while draining, asks clients to close their connection after the answer."""

    def __init__(self, app: ASGIApp, readiness: Readiness, access_log: bool) -> None:
        self.app, self.readiness, self.access_log = app, readiness, access_log
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what an exception becomes

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if self.readiness.draining:
                    MutableHeaders(scope=message)["connection"] = "close"
            await send(message)

        metrics.HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, observed)
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            route = _template(scope)
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            counted = self._series.get((method, route, status))
            if counted is None:  # prometheus_client's labels() checks and locks on each call: once per series
                counted = self._series[(method, route, status)] = (
                    metrics.HTTP_REQUESTS.labels(method, route, str(status)),
                    metrics.HTTP_DURATION.labels(method, route),
                )
            counted[0].inc()
            counted[1].observe(elapsed)
            # Probes (a balancer checks every node twice a second) are counted, not logged.
            if self.access_log and route not in _PROBES and access.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access.info(
                    '%s "%s %s" %d %.1f ms',
                    client[0] if client else "-",
                    method,
                    scope["path"],
                    status,
                    elapsed * 1000,
                    extra={
                        "client": client[0] if client else None,
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


def _template(scope: Scope) -> str:
    """The matched route's path template with its router's prefix (``/v1.0/users/{key}``): the route knows only
    its own part, the prefix is the request path's segments before it (literal, as the route matched them)."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str) or not path:
        return "(unmatched)"
    if ":path}" in path:
        return path
    extra = scope["path"].rstrip("/").count("/") - path.rstrip("/").count("/")
    return "/".join(scope["path"].split("/")[: extra + 1]) + path if extra > 0 else path


class ProxyNetworks:
    """The trusted proxies of ``HOSPES_FORWARDED_ALLOW_IPS``: addresses and networks, or ``*`` for any peer."""

    def __init__(self, setting: str) -> None:
        items = [item.strip() for item in setting.split(",") if item.strip()]
        self.any = "*" in items
        self.networks = [ipaddress.ip_network(item, strict=False) for item in items if item != "*"]
        self._known: dict[str, bool] = {}

    def trusts(self, host: str) -> bool:
        if self.any:
            return True
        known = self._known.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host)
                known = any(address in network for network in self.networks)
            except ValueError:
                known = False
            if len(self._known) >= 4096:  # bounded: client addresses are many
                self._known.clear()
            self._known[host] = known
        return known


class ForwardedMiddleware:
    """The client's address, scheme and host as a trusted proxy reports them (``Forwarded``, else
    ``X-Forwarded-For``/``-Proto``/``-Host``); from any other peer these headers are ignored. Of the chain of
    addresses the client is the right-most one that is not a trusted proxy: whatever a client writes into the
    header itself stays to the left of what the proxies appended. The socket's peer stays in ``scope[PEER]``."""

    def __init__(self, app: ASGIApp, proxies: ProxyNetworks) -> None:
        self.app, self.proxies = app, proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        scope[PEER] = peer
        if peer and self.proxies.trusts(peer[0]):
            scope[TRUSTED] = True
            hops = _hops(scope["headers"])
            if hops:
                chosen = hops[0]
                for hop in reversed(hops):
                    chosen = hop
                    if not self.proxies.trusts(hop.get("for", "")):
                        break
                if chosen.get("for"):
                    scope["client"] = (chosen["for"], 0)
                proto = chosen.get("proto", "").lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
                if chosen.get("host"):
                    headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
                    scope["headers"] = [*headers, (b"host", chosen["host"].encode("latin-1"))]
        await self.app(scope, receive, send)


def _hops(headers: list[tuple[bytes, bytes]]) -> list[dict[str, str]]:
    """One dict per proxy hop (``for``, ``proto``, ``host``), left to right: from ``Forwarded`` (RFC 7239) when
    present, else from the ``X-Forwarded-*`` headers (proto and host apply to the last hop)."""
    forwarded = [v.decode("latin-1") for k, v in headers if k == b"forwarded"]
    if forwarded:
        hops = []
        for element in ",".join(forwarded).split(","):
            hop: dict[str, str] = {}
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                hop[name.lower()] = _node(value.strip().strip('"')) if name.lower() == "for" else value.strip('"')
            hops.append(hop)
        return hops
    values = {k: v.decode("latin-1") for k, v in headers if k in (b"x-forwarded-for", b"x-forwarded-proto")}
    host = next((v.decode("latin-1") for k, v in headers if k == b"x-forwarded-host"), None)
    chain = [part.strip() for part in values.get(b"x-forwarded-for", "").split(",") if part.strip()]
    protos = [part.strip() for part in values.get(b"x-forwarded-proto", "").split(",") if part.strip()]
    hops = [{"for": _node(address)} for address in chain]
    for index, hop in enumerate(hops):
        if protos:
            hop["proto"] = protos[index] if len(protos) == len(hops) else protos[-1]
        if host:
            hop["host"] = host.split(",")[-1].strip()
    return hops


def _node(value: str) -> str:
    """The address of an RFC 7239 node (``192.0.2.1:4711``, ``[2001:db8::1]:4711``) or an X-Forwarded-For item."""
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value
