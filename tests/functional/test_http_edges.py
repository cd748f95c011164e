"""HTTP edges of the composition root: the trailing-slash redirect never names the client's Host, a 405 carries
``Allow`` with every method of the path, HEAD answers like GET without a body; and of the server: a request head
sent too slowly or too large closes the connection."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from uvicorn.importer import import_from_string

from hospes.asgi import create_app
from hospes.asgi.protocols import H11HttpProtocol, HttpToolsHttpProtocol
from hospes.settings import Settings
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle

FORGED = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/v1.0/users/", "/v1.0/users"),
        ("/v1.0//users/?$top=1&$select=id", "/v1.0/users?$top=1&$select=id"),  # the SDK's '/' base URL
        ("/healthz/", "/healthz"),
        ("/static", "/static/"),
    ],
)
def test_trailing_slash_redirect_does_not_reflect_the_host(client: TestClient, path: str, location: str) -> None:
    response = client.get(path, headers=FORGED, follow_redirects=False)
    assert response.status_code == 307
    assert "evil.example" not in response.headers["location"]
    assert response.headers["location"] == location


def test_relative_redirect_is_followed_on_this_site(client: TestClient) -> None:
    response = client.get("/healthz/", headers=FORGED)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.url.host == "testserver"


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/%5Cevil.example/login/", "/%5Cevil.example/login"),  # a browser reads '/\host' as '//host'
        ("/%2F%2Fevil.example/login/", "/evil.example/login"),  # '//host' is another site: slashes collapsed
    ],
)
def test_redirect_location_stays_on_this_site(client: TestClient, path: str, location: str) -> None:
    response = client.get(path, headers=FORGED, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == location


def test_method_not_allowed_carries_allow(client: TestClient, tenant: TenantHandle) -> None:
    error = assert_graph_error(client.post("/healthz"), 405, "Request_BadRequest")
    assert error["message"]
    assert client.post("/healthz").headers["allow"] == "GET, HEAD"
    # GET and POST /users are two routes: Allow lists both, not only the first one matched.
    response = tenant.request("DELETE", "/users")
    assert_graph_error(response, 405, "Request_BadRequest")
    assert response.headers["allow"] == "GET, HEAD, POST"
    response = tenant.request("PUT", "/invitations")
    assert response.headers["allow"] == "POST"
    response = client.request("DELETE", "/static/hospes.css")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"


def test_head_answers_like_get_without_a_body(client: TestClient, tenant: TenantHandle) -> None:
    for path, headers in (("/healthz", {}), ("/static/hospes.css", {}), ("/v1.0/users", tenant.headers)):
        get = client.get(path, headers=headers)
        head = client.head(path, headers=headers)
        assert (head.status_code, get.status_code) == (200, 200), path
        assert head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
        assert head.headers.get("content-length") == get.headers.get("content-length"), path
    unauthenticated = client.head("/v1.0/users")
    assert unauthenticated.status_code == 401 and unauthenticated.content == b""
    not_allowed = tenant.request("HEAD", "/invitations")
    assert not_allowed.status_code == 405 and not_allowed.content == b""
    assert not_allowed.headers["allow"] == "POST"


# --- the server: slow and oversized request heads ---------------------------------------------------------------

HEAD_TIMEOUT = 0.5


@contextmanager
def serving(app: Any, protocol: type[asyncio.Protocol], **options: Any) -> Iterator[int]:
    """uvicorn in a thread, with the options ``hospes serve`` passes; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(app, http=protocol, lifespan="on", log_level="warning", access_log=False, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = time.monotonic()
    while not server.started:
        assert time.monotonic() - started < 10 and thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def closed_after(conn: socket.socket, drip: bytes = b"", every: float = 0.1, limit: float = 5.0) -> float | None:
    """Seconds until the server closes ``conn`` while ``drip`` is sent every ``every`` seconds; None if it is still
    open after ``limit``."""
    started = time.monotonic()
    conn.settimeout(every)
    while time.monotonic() - started < limit:
        try:
            if not conn.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            pass
        except ConnectionError:
            return time.monotonic() - started
        if drip:
            try:
                conn.sendall(drip)
            except ConnectionError:
                return time.monotonic() - started
    return None


@pytest.fixture(params=["h11", "httptools"])
def server_port(request: pytest.FixtureRequest, settings: Settings) -> Iterator[int]:
    app = create_app(settings.model_copy(update={"http_header_timeout_seconds": HEAD_TIMEOUT}), housekeeping=False)
    protocol = H11HttpProtocol if request.param == "h11" else HttpToolsHttpProtocol
    with serving(app, protocol, timeout_keep_alive=5, h11_max_incomplete_event_size=8192) as port:
        yield port


def test_slow_request_head_is_cut_off(server_port: int) -> None:
    with socket.create_connection(("127.0.0.1", server_port)) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        elapsed = closed_after(conn, drip=b"X-Slow: 1\r\n")
    assert elapsed is not None and HEAD_TIMEOUT * 0.8 < elapsed < HEAD_TIMEOUT + 1.5


def test_silent_connection_is_cut_off(server_port: int) -> None:
    with socket.create_connection(("127.0.0.1", server_port)) as conn:
        elapsed = closed_after(conn)
    assert elapsed is not None and elapsed < HEAD_TIMEOUT + 1.5


def test_oversized_request_head_is_refused(server_port: int) -> None:
    with socket.create_connection(("127.0.0.1", server_port)) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 20_000 + b"\r\n")
        conn.settimeout(3)
        answer = b""
        with contextlib.suppress(ConnectionError):
            while chunk := conn.recv(65536):
                answer += chunk
    assert not answer.startswith(b"HTTP/1.1 200")  # h11 answers 400 before closing; httptools just closes


def test_keep_alive_requests_each_get_the_deadline(server_port: int) -> None:
    """A head sent in pieces within the deadline is served; the next request on the kept-alive connection has its
    own deadline, counted from its first byte."""
    with socket.create_connection(("127.0.0.1", server_port)) as conn:
        # The deadline is on the head's arrival; the answer itself may be slow (a fresh app builds its routes on
        # the first request, several seconds on a loaded machine), and a cut-off would read as b"", not a timeout.
        conn.settimeout(30)
        for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            conn.sendall(piece)
            time.sleep(HEAD_TIMEOUT / 5)
        answer = conn.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"status":"ok"}'), answer
        time.sleep(HEAD_TIMEOUT * 1.5)  # idle between requests: the keep-alive timeout's business (5 s here)
        conn.sendall(b"GET /healthz HTTP/1.1\r\n")
        elapsed = closed_after(conn, drip=b"X-Slow: 1\r\n")
    assert elapsed is not None and elapsed < HEAD_TIMEOUT + 1.5


def test_hospes_serve_names_the_protocol_by_import_string() -> None:
    """``hospes serve`` passes ``http="hospes.asgi.protocols:HttpProtocol"``: a string, so each ``--workers`` process
    imports it (and the CLI needs no import of the composition root)."""
    assert import_from_string("hospes.asgi.protocols:HttpProtocol") is HttpToolsHttpProtocol
