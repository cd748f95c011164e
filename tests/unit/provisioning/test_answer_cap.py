"""A target that answers without end: the SCIM and Graph connectors stop reading past their bound and report a
provisioning error (not retried, nothing held), against a real loopback server that streams the body until the
client hangs up."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hospes.provisioning.answers import MAX_ANSWER_BYTES
from hospes.provisioning.connector import PermanentError, TransientError
from hospes.provisioning.graph_target import GraphConnector, GraphTargetConfig
from hospes.provisioning.scim import ScimConfig, ScimConnector
from hospes.provisioning.ssrf import OutboundPolicy

MIB = 1024 * 1024
CHUNK = b"x" * 65536


@dataclass
class HugeTarget:
    """Answers a token request normally and anything else with ``size`` bytes of one JSON object, streamed
    without a length (``mode="stream"``), announced by its ``Content-Length`` (``"declared"``), as a small gzip
    body that unfolds to that size (``"gzip"``), or a byte at a time (``"drip"``); ``token_huge`` makes the token
    answer the huge one."""

    size: int
    mode: str = "stream"
    token_huge: bool = False
    url: str = ""
    requests: list[str] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)  # bytes each huge answer got out before the client hung up
    done: threading.Event = field(default_factory=threading.Event)


def _handler(target: HugeTarget) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.do_GET()

        def do_GET(self) -> None:
            target.requests.append(f"{self.command} {self.path}")
            if self.path.endswith("/oauth2/v2.0/token") and not target.token_huge:
                body = json.dumps({"access_token": "tok", "expires_in": 3600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self._huge()

        def _huge(self) -> None:
            head, tail = b'{"id":"u1","pad":"', b'"}'
            pad = target.size - len(head) - len(tail)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            sent = 0
            try:
                if target.mode == "drip":  # a byte every 0.1 s: within any per-read timeout, for ever
                    self.end_headers()
                    while sent < target.size:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        sent += 1
                        time.sleep(0.1)
                    return
                if target.mode == "gzip":
                    body = gzip.compress(head + b"x" * pad + tail, compresslevel=1)
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    sent = len(body)
                    return
                if target.mode == "declared":
                    self.send_header("Content-Length", str(target.size))
                self.end_headers()
                self.wfile.write(head)
                while sent < pad:
                    piece = CHUNK[: pad - sent]
                    self.wfile.write(piece)
                    sent += len(piece)
                self.wfile.write(tail)
                sent += len(head) + len(tail)
            except OSError:
                pass  # the client hung up: what it should do
            finally:
                target.sent.append(sent)
                target.done.set()
                self.close_connection = True

    return Handler


@pytest.fixture
def huge_target() -> Iterator[HugeTarget]:
    target = HugeTarget(size=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(target))
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    target.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()


def _graph(target: HugeTarget, limit: int | None = None) -> GraphConnector:
    config = GraphTargetConfig(
        base_url=target.url, tenant="t-1", client_id="app", client_secret=f"s-{time.monotonic()}", source_tenant="s-1"
    )
    if limit is not None:
        config.max_answer_bytes = limit
    return GraphConnector(config, None, OutboundPolicy.parse("127.0.0.1"))  # type: ignore[arg-type]


def _scim(target: HugeTarget, limit: int) -> ScimConnector:
    config = ScimConfig(base_url=f"{target.url}/scim", token="t", max_answer_bytes=limit)
    return ScimConnector(config, OutboundPolicy.parse("127.0.0.1"))


def _refused(target: HugeTarget, error: PermanentError, limit: int) -> None:
    assert error.code == "ResponseTooLarge", error.message
    assert f"larger than {limit:,} bytes" in error.message
    assert not error.transient
    assert target.done.wait(10)
    if target.mode == "stream":
        assert target.sent[0] < target.size  # the connector hung up instead of reading to the end


def test_the_graph_connector_stops_at_its_default_bound(huge_target: HugeTarget) -> None:
    huge_target.size = 2 * MAX_ANSWER_BYTES
    connector = _graph(huge_target)
    try:
        with pytest.raises(PermanentError) as caught:
            connector.get("user", "u1")
    finally:
        connector.close()
    _refused(huge_target, caught.value, MAX_ANSWER_BYTES)
    assert caught.value.error_code == "AzureActiveDirectoryResponseTooLarge"
    assert sum(r.startswith("GET /v1.0/users/u1?") for r in huge_target.requests) == 1  # not retried


@pytest.mark.parametrize("mode", ["stream", "declared", "gzip"])
def test_both_connectors_refuse_an_answer_past_the_bound(huge_target: HugeTarget, mode: str) -> None:
    # Far past what the loopback socket buffers hold, so a connector that hangs up leaves most of it unsent.
    huge_target.size, huge_target.mode = (4 if mode == "gzip" else 64) * MIB, mode
    for connector in (_graph(huge_target, MIB), _scim(huge_target, MIB)):
        huge_target.done.clear()
        huge_target.sent.clear()
        try:
            with pytest.raises(PermanentError) as caught:
                connector.get("user", "u1")
        finally:
            connector.close()
        _refused(huge_target, caught.value, MIB)


def test_a_huge_token_answer_is_refused_too(huge_target: HugeTarget) -> None:
    huge_target.size, huge_target.token_huge = 64 * MIB, True
    connector = _graph(huge_target, MIB)
    try:
        with pytest.raises(PermanentError) as caught:
            connector.get("user", "u1")
    finally:
        connector.close()
    _refused(huge_target, caught.value, MIB)
    assert huge_target.requests == ["POST /t-1/oauth2/v2.0/token"]


def test_an_answer_within_the_bound_is_read_whole(huge_target: HugeTarget) -> None:
    huge_target.size, huge_target.mode = MIB - 100, "gzip"
    connector = _scim(huge_target, MIB)
    try:
        found = connector.get("user", "u1")
    finally:
        connector.close()
    assert found is not None and found.id == "u1" and len(found.data["pad"]) > MIB - 200


def test_an_answer_that_never_ends_is_a_timeout(huge_target: HugeTarget) -> None:
    """Each byte comes well within the read timeout (1 s); the whole answer may take four of them, then the
    connector hangs up: a transient timeout (escrowed and retried in a later cycle), not a worker held for ever."""
    huge_target.size, huge_target.mode = 10_000, "drip"
    config = GraphTargetConfig(
        base_url=huge_target.url, tenant="t-1", client_id="app", client_secret="drip", source_tenant="s-1"
    )
    config.timeout, config.max_attempts = 1.0, 1
    connector = GraphConnector(config, None, OutboundPolicy.parse("127.0.0.1"))  # type: ignore[arg-type]
    started = time.monotonic()
    try:
        with pytest.raises(TransientError) as caught:
            connector.get("user", "u1")
    finally:
        connector.close()
    assert caught.value.code == "Timeout", caught.value.message
    assert 3.5 < time.monotonic() - started < 15
    assert huge_target.done.wait(10) and huge_target.sent[0] < 200
