"""A fault-injecting HTTP proxy on loopback, in front of a SCIM target.

Each request draws (from a seeded RNG, so a run is reproducible) one of:
``429`` (with ``Retry-After``, not forwarded), ``500`` (not forwarded), ``500_after`` (forwarded, then a 500:
the target applied it but the client is told it failed), ``timeout`` (forwarded, the answer comes after the
client gave up), ``drop`` (forwarded, then the connection is closed without an answer) and ``drop_before``
(closed without forwarding), or a normal pass-through. ``delay`` adds latency to every request. It also records
the time at which each request arrived (for latency measurements)."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

FAULTS = ("429", "500", "500_after", "timeout", "drop", "drop_before")


@dataclass
class Arrival:
    at: float  # time.time()
    method: str
    path: str
    body: bytes


@dataclass
class FaultPlan:
    rates: dict[str, float] = field(default_factory=dict)
    timeout_seconds: float = 1.5
    retry_after: str = "1"
    delay: float = 0.0
    seed: int = 7
    methods: frozenset[str] | None = None  # inject faults only into these methods (None: all)


class FaultProxy:
    def __init__(self, upstream: str, plan: FaultPlan | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan or FaultPlan()
        self.counts: Counter[str] = Counter()
        self.arrivals: list[Arrival] = []
        self.record = False
        self._rng = random.Random(self.plan.seed)
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy._serve(self, body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's base URL with the upstream's path (e.g. http://127.0.0.1:PORT/v2)."""
        path = httpx.URL(self.upstream).path
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()

    def set_rates(self, rates: dict[str, float]) -> None:
        with self._lock:
            self.plan.rates = dict(rates)

    def _draw(self) -> str:
        with self._lock:
            roll = self._rng.random()
            acc = 0.0
            for fault in FAULTS:
                acc += self.plan.rates.get(fault, 0.0)
                if roll < acc:
                    return fault
            return "pass"

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> httpx.Response:
        origin = httpx.URL(self.upstream)
        url = f"{origin.scheme}://{origin.host}:{origin.port}{handler.path}"
        headers = {
            k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length", "connection")
        }
        return self._client.request(handler.command, url, content=body, headers=headers)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if body:
            handler.wfile.write(body)

    @staticmethod
    def _drop(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    def _serve(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if self.record:
            with self._lock:
                self.arrivals.append(Arrival(time.time(), handler.command, handler.path, body))
        if self.plan.delay:
            time.sleep(self.plan.delay)
        methods = self.plan.methods
        fault = self._draw() if methods is None or handler.command in methods else "pass"
        with self._lock:
            self.counts[fault] += 1
        error = b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d"}'
        scim = {"Content-Type": "application/scim+json"}
        if fault == "429":
            self._reply(handler, 429, error % 429, {**scim, "Retry-After": self.plan.retry_after})
            return
        if fault == "500":
            self._reply(handler, 500, error % 500, scim)
            return
        if fault == "drop_before":
            self._drop(handler)
            return
        response = self._forward(handler, body)
        if fault == "500_after":
            self._reply(handler, 500, error % 500, scim)
            return
        if fault == "drop":
            self._drop(handler)
            return
        if fault == "timeout":
            time.sleep(self.plan.timeout_seconds)
        keep = {k: v for k, v in response.headers.items() if k.lower() in ("content-type", "etag", "location")}
        with contextlib.suppress(OSError):  # the client may have given up (timeout)
            self._reply(handler, response.status_code, response.content, keep)
