"""The end of the ``/v1.0`` routes: a path under ``/v1.0`` that no Graph route serves is answered here, in the
Graph envelope, rather than by the pages' ``/{tenant}/...`` routes further down (``/v1.0/me`` was a sign-in page)."""

from __future__ import annotations

from itertools import takewhile
from typing import Any

from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, NoMatchFound, Router
from starlette.types import Receive, Scope, Send

PREFIX = "/v1.0"


class GraphFallback(BaseRoute):
    """Added after the Graph routes and before any other: matches every path under ``/v1.0`` and answers as the
    router would have without the routes below it. A route above that matched the path but not the method gives
    its 405, a path one of them serves with or without a trailing slash the router's redirect; anything else is a
    404, which the Graph error handler answers in the Graph envelope."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            return Match.FULL, {}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        above = list(takewhile(lambda route: route is not self, self.router.routes))
        for route in above:
            match, child_scope = route.matches(scope)
            if match is Match.PARTIAL:
                await route.handle({**scope, **child_scope}, receive, send)
                return
        path: str = scope["path"]
        other = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
        if any(route.matches(other)[0] is not Match.NONE for route in above):
            await self.router.default(scope, receive, send)  # the trailing-slash redirect
            return
        raise HTTPException(404)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)
