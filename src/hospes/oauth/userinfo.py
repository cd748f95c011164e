"""``GET|POST /oidc/userinfo``: the bearer token in the ``Authorization`` header, or (POST) in the form's
``access_token`` field (RFC 6750 2.1, 2.2); errors as RFC 6750 3 says, in ``WWW-Authenticate``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hospes.domain.errors import AuthenticationError
from hospes.forms import form_pairs
from hospes.oauth.deps import RuntimeDep
from hospes.services.oidc.userinfo import InsufficientScopeError, user_info

router = APIRouter(include_in_schema=False)  # an OpenID Connect endpoint, described by discovery
_MAX_FORM = 16 * 1024


def _challenge(status: int, error: str | None = None, description: str | None = None) -> JSONResponse:
    value = 'Bearer realm="hospes"'
    body: dict[str, str] = {}
    if error is not None:
        value += f', error="{error}"'
        body["error"] = error
        if description:
            value += f', error_description="{description}"'
            body["error_description"] = description
    return JSONResponse(body, status, {"WWW-Authenticate": value, "Cache-Control": "no-store"})


async def _token(request: Request) -> tuple[str | None, bool]:
    """The access token and whether the request was malformed (two ways of sending it, an unreadable form)."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        body = await request.body()
        try:
            if len(body) > _MAX_FORM:
                raise ValueError("too large")
            fields = dict(form_pairs(body, 20))
        except (ValueError, UnicodeDecodeError):
            return None, True
        if "access_token" in fields:
            if token is not None:
                return None, True
            token = fields["access_token"]
    return token, False


@router.api_route("/oidc/userinfo", methods=["GET", "POST"])
async def userinfo(request: Request, state: RuntimeDep) -> JSONResponse:
    token, malformed = await _token(request)
    if malformed:
        return _challenge(400, "invalid_request", "Send the access token once, in the header or in the form.")
    if not token:
        return _challenge(401)
    try:
        info = await run_in_threadpool(user_info, state.sessions, state.oidc_tokens, token[:16384])
    except AuthenticationError:
        return _challenge(401, "invalid_token", "The access token is not valid.")
    except InsufficientScopeError:
        return _challenge(403, "insufficient_scope", "The access token lacks the openid scope.")
    return JSONResponse(info, headers={"Cache-Control": "no-store"})
