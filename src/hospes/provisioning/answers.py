"""Reading a target's answers with a bound: an outbound connector streams each answer and stops past
``MAX_ANSWER_BYTES`` (counted after decompression, so a small gzip body cannot unfold into gigabytes), so a hostile
or broken target cannot make a worker hold an unbounded body in memory. The SCIM and Graph connectors share it.

The bound is far above any answer a well-behaved target gives: a page of 1,000 SCIM resources, a group's member
list of 50,000 references, or a Graph page of 999 users with every selected property fit in a few megabytes.
"""

from __future__ import annotations

import httpx

from hospes.digits import ascii_int

MAX_ANSWER_BYTES = 32 * 1024 * 1024
# Framing of the streamed body, meaningless for the body already read and decoded.
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class AnswerTooLargeError(Exception):
    """The target answered more than the connector reads."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit:,} bytes")
        self.limit = limit


def send_capped(client: httpx.Client, request: httpx.Request, limit: int = MAX_ANSWER_BYTES) -> httpx.Response:
    """``client.send(request)``, with the body read only up to ``limit`` bytes: past it (or when ``Content-Length``
    already says so) the connection is dropped and ``AnswerTooLargeError`` raised. The answer returned holds the
    decoded body; transport errors while reading it are httpx's, as for ``client.send``."""
    response = client.send(request, stream=True)
    try:
        declared = ascii_int(response.headers.get("Content-Length"))
        if declared is not None and declared > limit:
            raise AnswerTooLargeError(limit)
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise AnswerTooLargeError(limit)
    finally:
        response.close()
    headers = [(name, value) for name, value in response.headers.multi_items() if name.lower() not in _FRAMING]
    return httpx.Response(
        response.status_code, headers=headers, content=bytes(body), request=request, extensions=response.extensions
    )
