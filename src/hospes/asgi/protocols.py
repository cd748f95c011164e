"""uvicorn's HTTP protocols with a deadline and a size cap on each request head (``hospes serve`` names
``hospes.asgi.protocols:HttpProtocol``)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config as UvicornConfig
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hospes.settings import Settings

# uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but has no deadline for reading a request's
# head: its timer runs only between requests, so a client that sends the request line and headers a byte at a time
# (or nothing at all) holds a connection and its buffers for as long as it likes. ``HttpProtocol`` adds that
# deadline and a size cap to uvicorn's own protocol. The uvicorn options of ``hospes serve`` (one process or
# ``--workers N``):
#   http="hospes.asgi.protocols:HttpProtocol", timeout_keep_alive=settings.http_keep_alive_seconds,
#   h11_max_incomplete_event_size=settings.http_max_header_bytes
# The deadline (HOSPES_HTTP_HEADER_TIMEOUT_SECONDS) reaches the protocol through the app's lifespan state, so each
# worker process uses its own settings and uvicorn needs no option for it.

HEAD_TIMEOUT_STATE = "hospes.http_header_timeout_seconds"
DEFAULT_HEAD_TIMEOUT: float = Settings.model_fields["http_header_timeout_seconds"].default  # before the lifespan
DEFAULT_MAX_HEAD_BYTES = 16 * 1024  # h11's, so both parsers cap alike when uvicorn is given no size


class _HeadDeadline(asyncio.Protocol):
    """Mixed into a uvicorn HTTP protocol: a request head (request line and headers) must be complete within the
    deadline, counted from the connection opening or from the first byte after a response (the idle time between
    requests is uvicorn's keep-alive timeout), and within uvicorn's ``h11_max_incomplete_event_size`` bytes, which
    this applies to either parser; otherwise the connection is closed. Request bodies have no deadline here."""

    # Set by the uvicorn protocol this is mixed into.
    config: UvicornConfig
    app_state: dict[str, Any]
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any  # the current request's RequestResponseCycle, None before the first

    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _arm_head_timer(self) -> None:
        timeout = float(self.app_state.get(HEAD_TIMEOUT_STATE, DEFAULT_HEAD_TIMEOUT))
        self._head_timer = self.loop.call_later(timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        waiting = self._waiting_for_head()
        if waiting:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._arm_head_timer()
        super().data_received(data)
        if not waiting or self.transport.is_closing():
            return
        if not self._waiting_for_head():
            self._disarm_head_timer()
            self._head_bytes = 0
        elif self._head_bytes > (self.config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES):
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)


class H11HttpProtocol(_HeadDeadline, H11Protocol):
    """uvicorn's pure-Python HTTP/1.1 protocol with the request-head deadline."""


class HttpToolsHttpProtocol(_HeadDeadline, HttpToolsProtocol):
    """uvicorn's httptools (llhttp) protocol with the request-head deadline."""


HttpProtocol = HttpToolsHttpProtocol  # what uvicorn's "auto" picks when httptools is installed (uvicorn[standard])
