"""A loopback HTTP server standing for a host an administrator should not be able to send a saved secret to: it
answers every request with a 404 and records what each one carried (method, path, ``Authorization``, body)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Collector:
    url: str = ""
    seen: list[tuple[str, str, str, bytes]] = field(default_factory=list)

    def secrets_seen(self) -> str:
        """Everything the requests carried, as one text to search for a secret."""
        return "\n".join(f"{m} {p} {a} {b.decode(errors='replace')}" for m, p, a, b in self.seen)


@contextmanager
def run_collector() -> Iterator[Collector]:
    collector = Collector()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def handle_one_request(self) -> None:
            # Any method: the request line and headers are read by the base class, then recorded here.
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline or not self.parse_request():
                self.close_connection = True
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            collector.seen.append((self.command, self.path, self.headers.get("Authorization") or "", body))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.wfile.flush()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    collector.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
