"""Log configuration of the server and worker processes, and what each line says about its request.

Every line carries time, level, logger, host, pid and the process's role; lines written while a request is served
(on the event loop, in its thread-pool call, or in background work that was handed the request's context) also
carry the request id and the tenant. ``HOSPES_LOG_FORMAT=json`` writes one JSON object a line for a log shipper;
``text`` is for people. The context is a mutable ``RequestContext`` held in a ``ContextVar``: the middleware sets
it, the surfaces fill in the tenant once they know it, and threads started for the request carry it along with
``contextvars.copy_context()`` or ``acting_for``."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass
class RequestContext:
    request_id: str
    tenant: str | None = None


_CURRENT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("hospes_request", default=None)
_ROLE = ["all"]
_HOST = socket.gethostname()

# What an upstream id may look like: it lands in logs, audit rows and a response header.
_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def upstream_request_id(x_request_id: str | None, traceparent: str | None) -> str | None:
    """The id a load balancer or tracing proxy gave the request: ``X-Request-Id`` as sent (if it is a plain token
    of at most 128 characters), else the trace id of a W3C ``traceparent``; None when neither is usable."""
    if x_request_id and _ID.fullmatch(x_request_id.strip()):
        return x_request_id.strip()
    if traceparent:
        match = _TRACEPARENT.fullmatch(traceparent.strip().lower())
        if match and match.group(1) != "0" * 32:
            return match.group(1)
    return None


def begin_request(request_id: str) -> RequestContext:
    context = RequestContext(request_id)
    _CURRENT.set(context)
    return context


def current() -> RequestContext | None:
    return _CURRENT.get()


def current_request_id() -> str | None:
    context = _CURRENT.get()
    return context.request_id if context else None


def set_tenant(tenant_id: str) -> None:
    """Name the tenant of the request being served (no-op outside a request)."""
    context = _CURRENT.get()
    if context is not None:
        context.tenant = tenant_id


@contextmanager
def acting_for(context: RequestContext | None) -> Iterator[None]:
    """Run the block (in a background thread) as part of the request ``context`` was taken from (``current()``
    there); with None, as whatever this thread already is."""
    if context is None:
        yield
        return
    token = _CURRENT.set(context)
    try:
        yield
    finally:
        _CURRENT.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _CURRENT.get()
        record.request_id = context.request_id if context else None
        record.tenant = context.tenant if context else None
        record.role = _ROLE[0]
        record.host = _HOST
        return True


_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_RESERVED |= {"request_id", "tenant", "role", "host"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "host": getattr(record, "host", _HOST),
            "pid": record.process,
            "role": getattr(record, "role", _ROLE[0]),
        }
        for name in ("request_id", "tenant"):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        # Fields given with ``extra=`` (the access log's method, path, status ...).
        line.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(role)s %(host)s %(process)d] %(message)s%(ids)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = [f"{name}={getattr(record, name)}" for name in ("request_id", "tenant") if getattr(record, name, None)]
        record.ids = (" " + " ".join(ids)) if ids else ""
        return super().format(record)


def configure_logging(log_format: str, level: str, role: str, stream: Any = None) -> None:
    """Send the ``hospes`` loggers and uvicorn's error logger to ``stream`` (stderr) in ``log_format``; replaces
    any handler an earlier call installed. uvicorn's own access log stays off: ``hospes.access`` is the access log
    (it knows the route, request id and tenant)."""
    _ROLE[0] = role
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    handler.set_name("hospes")
    for name in ("hospes", "uvicorn.error", "alembic"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "hospes"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level)
        # uvicorn's own handler sits on "uvicorn": its error lines would be written twice. Ours go on up (to
        # nothing in a server process; to the test run's capture in tests).
        logger.propagate = not name.startswith("uvicorn")
    logging.getLogger("uvicorn.access").disabled = True
