"""The one shape of every OAuth error the protocol endpoints answer with, Entra's:

``{"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}``, the
description ending in ``\\r\\nTrace ID: …\\r\\nCorrelation ID: …\\r\\nTimestamp: …``. Clients log the trace and
correlation ids, and support finds the request by them: the trace id is the response's ``request-id`` header, and
the correlation id is the caller's ``client-request-id`` header when it sent one (MSAL and azure-identity do, a
fresh GUID otherwise). Apps branch on ``error`` and ``error_codes``, never on the description.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse

from hospes.oauth.deps import runtime_of
from hospes.services.oauth import OAuthError

# What ``/error?code=N`` (the ``error_uri`` of a body) says about each AADSTS number Hospes answers with.
ERROR_PAGES: dict[int, str] = {
    50053: "The account is locked after too many failed sign-ins. Wait for the time in Retry-After and try again.",
    50126: "The user name or password is wrong.",
    50196: "Too many failed client authentications from this client or address. Wait for the time in Retry-After.",
    70003: "The grant type is not supported by this server.",
    90002: "The tenant in the address is not known. Use the tenant's id (a GUID) or one of its verified domains; "
    "'common', 'organizations' and 'consumers' are not served.",
    90023: "The request could not be read (too large, or not a form-encoded body).",
    500011: "The resource of the requested scope is not known to this server.",
    900144: "A required parameter of the request is missing.",
    900561: "The token endpoint takes POST requests only.",
    1002012: "Client credentials need exactly one scope of the form '{resource}/.default'.",
    700016: "No application with this client id is registered in the tenant.",
    7000112: "The application is disabled.",
    7000215: "The client secret is wrong. Send the secret's value, not its id, and check that it has not expired.",
    7000218: "The request must authenticate the client (client_secret, or client_assertion for a certificate).",
}


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _correlation_id(request: Request) -> str:
    sent = request.headers.get("client-request-id", "")
    try:
        return str(uuid.UUID(sent))
    except ValueError:
        return str(uuid.uuid4())  # none sent, or not a GUID (not echoed into a JSON body unchecked)


def oauth_error_response(request: Request, exc: OAuthError) -> JSONResponse:
    """The JSON answer to ``exc`` on this request; also the app's handler for ``OAuthError`` raised by any route."""
    state = runtime_of(request)
    trace_id = str(request.scope.get("state", {}).get("request_id") or uuid.uuid4())
    correlation_id = _correlation_id(request)
    timestamp = _timestamp(state.clock())
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="hospes"'
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    body = {
        "error": exc.error,
        "error_description": (
            f"{exc.description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        ),
        "error_codes": [exc.code] if exc.code is not None else [],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{state.settings.public_url}/error" + (f"?code={exc.code}" if exc.code else ""),
    }
    return JSONResponse(body, exc.status, headers)


def error_page(code: int) -> PlainTextResponse:
    """``GET /error?code=N``: what an ``error_uri`` points at."""
    meaning = ERROR_PAGES.get(code)
    if meaning is None:
        return PlainTextResponse(f"AADSTS{code}: no further description is available.\n", 404)
    return PlainTextResponse(f"AADSTS{code}: {meaning}\n")
