"""The ASGI middlewares of the composition root: path normalization, request ids, NUL refusal, HSTS, HEAD as GET."""

from __future__ import annotations

import re
import uuid

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hospes.asgi.ops import TRUSTED
from hospes.graph.errors import error_response
from hospes.logs import begin_request, upstream_request_id

_SLASHES = re.compile(r"//+")


def is_graph(request: Request) -> bool:
    return request.url.path.startswith("/v1.0")


class NormalizePathMiddleware:
    """Collapse repeated slashes: the Graph SDK's default base URL ends in '/', giving '/v1.0//users'."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            scope = dict(scope)
            scope["path"] = _SLASHES.sub("/", scope["path"])
            scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


class RequestIdMiddleware:
    """``request-id`` on every response (and ``client-request-id`` echoed), as Graph does: a trusted proxy's
    ``X-Request-Id`` (or the trace id of its ``traceparent``), else a new uuid. Plain ASGI rather than
    ``@app.middleware("http")``, whose BaseHTTPMiddleware costs a task and memory streams per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        if scope.get(TRUSTED):  # a load balancer's id: the same in its log, ours and the audit rows
            upstream = {k: v.decode("latin-1") for k, v in scope["headers"] if k in (b"x-request-id", b"traceparent")}
            request_id = upstream_request_id(upstream.get(b"x-request-id"), upstream.get(b"traceparent"))
        request_id = request_id or str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id
        begin_request(request_id)  # log lines and audit rows of this request carry it
        client = next((v.decode("latin-1")[:64] for k, v in scope["headers"] if k == b"client-request-id"), None)

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["request-id"] = request_id
                if client is not None:
                    headers["client-request-id"] = client
            await send(message)

        await self.app(scope, receive, send_with_ids)


class RefuseNulMiddleware:
    """Refuses a request whose path or query holds a NUL character, before any route reads it: no id, tenant,
    filter, token or search term holds one, and PostgreSQL text cannot (a database error there, and only there).
    The Graph surface answers in its envelope; every other address with a plain 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            message = "The request URL contains a NUL character."
            request = Request(scope)
            if is_graph(request):
                response: Response = error_response(400, "Request_BadRequest", message, request)
            else:
                response = PlainTextResponse(message, 400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class StrictTransportMiddleware:
    """``Strict-Transport-Security`` on every answer when the public URL is https (TLS served by Hospes or by a
    proxy in front): a browser that once reached the server over HTTPS never tries plain HTTP for a year, so a
    network attacker cannot strip TLS from a later sign-in. No ``includeSubDomains``: the deployment's name says
    nothing about its neighbours."""

    HEADER = (b"strict-transport-security", b"max-age=31536000")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), self.HEADER]}
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def _has_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


class HeadAsGetMiddleware:
    """HEAD is answered as GET without the body (RFC 9110 section 9.3.2): same status and headers, Content-Length
    included. FastAPI routes declare GET only, which made every HEAD a 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] in ("http.response.body", "http.response.pathsend"):
                message = {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)
