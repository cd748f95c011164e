"""One more run of a request that PostgreSQL aborted for a deadlock or a serialization failure (``storage/
conflicts.py``), instead of a 500: the aborted transaction wrote nothing, so when the request had committed nothing
before it and had sent no answer yet, running it again is what a client's own retry would do. The request body is
kept (up to the largest body the app accepts) to be read again."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hospes.storage.conflicts import counting_commits, is_conflict

log = logging.getLogger("hospes")


class RetryConflictsMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kept, complete = await self._read_body(receive)
        for attempt in (1, 2):
            started = False

            async def send_tracked(message: Message) -> None:
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            with counting_commits() as commits:
                try:
                    await self.app(scope, self._replay(kept, receive), send_tracked)
                    return
                except Exception as exc:
                    if attempt == 2 or started or commits[0] or not complete or not is_conflict(exc):
                        raise
                    log.info(
                        "%s %s: deadlock or serialization failure; running it once more", scope["method"], scope["path"]
                    )

    async def _read_body(self, receive: Receive) -> tuple[list[Message], bool]:
        """The body's messages, and whether they are the whole body (a larger one is not kept: no second run)."""
        kept: list[Message] = []
        size = 0
        while True:
            message = await receive()
            kept.append(message)
            if message["type"] != "http.request":
                return kept, False
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return kept, True
            if size > self.max_body_bytes:
                return kept, False

    @staticmethod
    def _replay(kept: list[Message], receive: Receive) -> Receive:
        queue = list(kept)

        async def replay() -> Message:
            return queue.pop(0) if queue else await receive()

        return replay
