"""Reading a target's answers with bounds: an outbound connector streams each answer and stops past
``MAX_ANSWER_BYTES`` (counted after decompression, so a small gzip body cannot unfold into gigabytes) or past its
time (a target sending a byte now and then stays within the per-read timeout forever), so a hostile or broken
target cannot make a worker hold an unbounded body in memory, or hold the worker. The SCIM and Graph connectors
share it.

The bound is far above any answer a well-behaved target gives: a page of 1,000 SCIM resources, a group's member
list of 50,000 references, or a Graph page of 999 users with every selected property fit in a few megabytes.
"""

from __future__ import annotations

import time

import httpx

from hospes.digits import ascii_int

MAX_ANSWER_BYTES = 32 * 1024 * 1024
ANSWER_TIMEOUTS = 4  # an answer may take this many times the client's read timeout to arrive whole
# Framing of the streamed body, meaningless for the body already read and decoded.
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class AnswerTooLargeError(Exception):
    """The target answered more than the connector reads."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit:,} bytes")
        self.limit = limit


def send_capped(client: httpx.Client, request: httpx.Request, limit: int = MAX_ANSWER_BYTES) -> httpx.Response:
    """``client.send(request)``, with the body read only up to ``limit`` bytes: past it (or when ``Content-Length``
    already says so) the connection is dropped and ``AnswerTooLargeError`` raised; an answer not whole within
    ``ANSWER_TIMEOUTS`` times the client's read timeout is an ``httpx.ReadTimeout``. The answer returned holds the
    decoded body; transport errors while reading it are httpx's, as for ``client.send``."""
    read = client.timeout.read
    seconds = ANSWER_TIMEOUTS * read if read is not None else None
    deadline = time.monotonic() + seconds if seconds is not None else None
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
            if deadline is not None and time.monotonic() > deadline:
                raise httpx.ReadTimeout(f"the answer took longer than {seconds:g} s", request=request)
    finally:
        response.close()
    headers = [(name, value) for name, value in response.headers.multi_items() if name.lower() not in _FRAMING]
    return httpx.Response(
        response.status_code, headers=headers, content=bytes(body), request=request, extensions=response.extensions
    )
