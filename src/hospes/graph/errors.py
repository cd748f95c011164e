"""The Graph error envelope, for every failure of the ``/v1.0`` surface."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from hospes.domain.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    SyncStateNotFoundError,
)

_SURROGATE = re.compile("[\ud800-\udfff]")


class ErrorEnvelope(JSONResponse):
    """Encodes whatever text an error quotes: a lone surrogate (from a ``\\ud800`` JSON escape) is sent as
    U+FFFD rather than failing the encoder, so the error answer itself can never become a 500."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def error_response(
    status: int,
    code: str,
    message: str,
    request: Request | None = None,
    target: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    inner = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": getattr(request.state, "request_id", str(uuid.uuid4())) if request else str(uuid.uuid4()),
        "client-request-id": (request.headers.get("client-request-id") if request else None)
        or (getattr(request.state, "request_id", None) if request else None),
    }
    body: dict[str, object] = {"code": code, "message": message, "innerError": inner}
    if target:
        body["target"] = target
    return ErrorEnvelope({"error": body}, status_code=status, headers=headers)


def status_of(exc: DomainError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ForbiddenError):
        return 403
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, SyncStateNotFoundError):
        return 410
    if isinstance(exc, PayloadTooLargeError):
        return 413
    if isinstance(exc, ConflictError) and exc.code in ("Request_MultipleObjectsWithSameKeyValue", "Conflict"):
        return 409
    return 400


def domain_error_response(request: Request, exc: DomainError) -> JSONResponse:
    status = status_of(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="hospes", error="invalid_token"'} if status == 401 else None
    return error_response(status, exc.code, exc.message, request, exc.target, headers)
