"""``POST /{tenant}/oauth2/v2.0/token`` (client credentials, password) and the discovery documents."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hospes.digits import ascii_int
from hospes.forms import form_pairs
from hospes.oauth.deps import GrantsDep, RuntimeDep
from hospes.services.oauth import OAuthError, TokenRequest, tenant_id_of

router = APIRouter()
_MAX_FORM = 64 * 1024
_MAX_FIELDS = 50  # a token request has a handful of fields


def _oauth_error(exc: OAuthError) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="hospes"'
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    body: dict[str, Any] = {"error": exc.error, "error_description": exc.description}
    if exc.code is not None:
        body["error_codes"] = [exc.code]
    return JSONResponse(body, exc.status, headers)


@router.post("/{tenant}/oauth2/v2.0/token")
async def token(tenant: str, request: Request, state: RuntimeDep, grants: GrantsDep) -> JSONResponse:
    declared = ascii_int(request.headers.get("content-length") or "0")
    if declared is None or declared > _MAX_FORM:
        return _oauth_error(OAuthError("invalid_request", "The request body is too large."))
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _oauth_error(OAuthError("invalid_request", "The token request must be form-encoded."))
    body = await request.body()
    try:
        if len(body) > _MAX_FORM:
            raise ValueError("too large")
        fields = dict(form_pairs(body, _MAX_FIELDS))
    except (ValueError, UnicodeDecodeError):
        return _oauth_error(OAuthError("invalid_request", "The token request's form could not be read."))
    client_id, client_secret = fields.get("client_id", ""), fields.get("client_secret", "")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            raw = base64.b64decode(auth[6:]).decode()
            client_id, _, client_secret = (unquote(p) for p in raw.partition(":"))
            if "\x00" in client_id or "\x00" in client_secret:
                raise ValueError("NUL in the client credentials")
        except (ValueError, UnicodeDecodeError):
            return _oauth_error(OAuthError("invalid_client", "Malformed Basic authorization header.", 401))
    grant = fields.get("grant_type")
    if grant not in ("client_credentials", "password"):
        return _oauth_error(OAuthError("unsupported_grant_type", f"The grant type '{grant}' is not supported."))
    call = TokenRequest(
        tenant_key=tenant,
        client_id=client_id,
        client_secret=client_secret,
        scope=fields.get("scope", ""),
        address=request.client.host if request.client else "unknown",
        now=state.clock(),
    )
    try:
        if grant == "password":
            if not client_id or not fields.get("username") or not fields.get("password"):
                raise OAuthError("invalid_request", "client_id, username and password are required.")
            access_token, lifetime = await run_in_threadpool(
                grants.password, call, fields["username"], fields["password"]
            )
        else:
            if not client_id or not client_secret:
                raise OAuthError("invalid_request", "client_id and client_secret are required.")
            access_token, lifetime = await run_in_threadpool(grants.client_credentials, call)
    except OAuthError as exc:
        return _oauth_error(exc)
    return JSONResponse(
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.get("/{tenant}/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant: str, state: RuntimeDep) -> dict[str, Any]:
    tenant_id = tenant_id_of(state.sessions, tenant)
    base = state.settings.public_url
    return {
        "issuer": state.issuer.issuer(tenant_id),
        "token_endpoint": f"{base}/{tenant_id}/oauth2/v2.0/token",
        "jwks_uri": f"{base}/{tenant_id}/discovery/v2.0/keys",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["client_credentials", "password"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["https://graph.microsoft.com/.default", f"{base}/.default"],
        "claims_supported": ["iss", "aud", "sub", "oid", "tid", "roles", "appid", "exp", "iat", "nbf"],
        "tenant_region_scope": "EU",
    }


@router.get("/{tenant}/discovery/v2.0/keys")
def jwks(tenant: str, state: RuntimeDep) -> dict[str, Any]:
    tenant_id_of(state.sessions, tenant)  # 404 for an unknown tenant
    return state.keys.public_jwks()
