"""How a page stops early: it raises ``PageExit`` with the response to send (a redirect, an error page, a
refusal), and the one handler ``install`` registers sends it. Page helpers therefore return ready objects, never
"an object or a response"."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response


class PageExit(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Stop the request and send ``response`` instead (a redirect, an error page, a refusal)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def install(app: FastAPI) -> None:
    async def on_page_exit(_: Request, exc: Exception) -> Response:
        if not isinstance(exc, PageExit):  # registered for PageExit only
            raise exc
        return exc.response

    app.add_exception_handler(PageExit, on_page_exit)
