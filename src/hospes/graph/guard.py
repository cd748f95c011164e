"""Refuses a ``/v1.0`` request whose path or query holds a NUL character, before any route reads it: PostgreSQL
takes no NUL in text, so an id, a ``$filter`` literal or a ``$skiptoken`` with one failed there, and only there."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from hospes.graph.errors import error_response
from hospes.graph.fallback import PREFIX


class RefuseNulMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            message = "The request URL contains a NUL character."
            await error_response(400, "Request_BadRequest", message, Request(scope))(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    path: str = scope["path"]
    if not (path == PREFIX or path.startswith(PREFIX + "/")):
        return False
    query: bytes = scope.get("query_string", b"")
    return "\x00" in path or b"%00" in query or b"\x00" in query
