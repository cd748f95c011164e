"""``POST /{tenant}/oauth2/v2.0/token`` (client credentials, password; the user grants in ``user_grants``), the
discovery documents and ``/error``.

Every OAuth error of these routes is an ``OAuthError`` answered by ``hospes.oauth.errors.oauth_error_response``
(also the app's handler for one raised anywhere else)."""

from __future__ import annotations

import base64
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from hospes.digits import ascii_int
from hospes.forms import form_pairs
from hospes.oauth import userinfo
from hospes.oauth.deps import GrantsDep, RuntimeDep
from hospes.oauth.errors import error_page, oauth_error_response
from hospes.oauth.user_grants import USER_GRANTS, user_grant
from hospes.services.oauth import OAuthError, TokenRequest, protocol_tenant_id

router = APIRouter()
_MAX_FORM = 64 * 1024
_MAX_FIELDS = 50  # a token request has a handful of fields


def _missing(name: str) -> OAuthError:
    return OAuthError(
        "invalid_request", f"The request body must contain the following parameter: '{name}'.", code=900144
    )


@router.post("/{tenant}/oauth2/v2.0/token")
async def token(tenant: str, request: Request, state: RuntimeDep, grants: GrantsDep) -> JSONResponse:
    declared = ascii_int(request.headers.get("content-length") or "0")
    if declared is None or declared > _MAX_FORM:
        raise OAuthError("invalid_request", "The request body is too large.", code=90023)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise OAuthError("invalid_request", "The token request must be form-encoded.", code=90023)
    body = await request.body()
    try:
        if len(body) > _MAX_FORM:
            raise ValueError("too large")
        pairs = form_pairs(body, _MAX_FIELDS)
    except (ValueError, UnicodeDecodeError):
        raise OAuthError("invalid_request", "The token request's form could not be read.", code=90023) from None
    fields = dict(pairs)
    if len(fields) != len(pairs):  # RFC 6749 3.2: which of two values would count is not for us to guess
        repeated = next(name for name, _ in pairs if sum(1 for other, _ in pairs if other == name) > 1)
        raise OAuthError("invalid_request", f"The parameter '{repeated[:64]}' appears more than once.", code=90023)
    client_id, client_secret = fields.get("client_id", ""), fields.get("client_secret", "")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            raw = base64.b64decode(auth[6:]).decode()
            client_id, _, client_secret = (unquote(p) for p in raw.partition(":"))
            if "\x00" in client_id or "\x00" in client_secret:
                raise ValueError("NUL in the client credentials")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Malformed Basic authorization header.", 401, code=90023) from None
    grant = fields.get("grant_type")
    if not grant:
        raise _missing("grant_type")
    if grant in USER_GRANTS:
        return await user_grant(tenant, grant, fields, client_id, client_secret, request, state)
    if grant not in ("client_credentials", "password"):
        raise OAuthError("unsupported_grant_type", f"The grant type '{grant[:100]}' is not supported.", code=70003)
    call = TokenRequest(
        tenant_key=tenant,
        client_id=client_id,
        client_secret=client_secret,
        scope=fields.get("scope", ""),
        address=request.client.host if request.client else "unknown",
        now=state.clock(),
        assertion_type=fields.get("client_assertion_type", ""),
        assertion=fields.get("client_assertion", ""),
    )
    if not client_id:
        raise _missing("client_id")
    if grant == "password":
        for name in ("username", "password"):
            if not fields.get(name):
                raise _missing(name)
        access_token, lifetime = await run_in_threadpool(grants.password, call, fields["username"], fields["password"])
    else:
        if not client_secret and not call.assertion and not call.assertion_type:
            raise OAuthError(
                "invalid_client",
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                401,
                code=7000218,
            )
        # SQLite reads are in-process and never wait (WAL): a grant with nothing to write runs here, without the
        # thread hop; anything else (a wrong secret, a lockout, PostgreSQL's round trips) in a thread.
        issued = grants.client_credentials_without_writes(call) if state.database.is_sqlite else None
        if issued is None:
            issued = await run_in_threadpool(grants.client_credentials, call)
        access_token, lifetime = issued
    return JSONResponse(
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.get("/{tenant}/oauth2/v2.0/token", include_in_schema=False)
async def token_wrong_method(request: Request) -> JSONResponse:
    """A token request is a POST; a GET (the address opened in a browser) gets the protocol's own error body, as
    Entra answers, not the Graph envelope of a 405."""
    raise OAuthError(
        "invalid_request",
        f"The endpoint only accepts POST requests. Received a {request.method} request.",
        code=900561,
    )


# Entra's claim list minus its cloud_* and msgraph_host entries (Microsoft's cloud names), plus the claims every
# Hospes ID token carries beyond Entra's defaults (oid, acct, idp for guests, sid, amr, roles and groups).
CLAIMS_SUPPORTED = [
    *("sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver"),
    *("at_hash", "c_hash", "email", "oid", "acct", "idp", "sid", "amr", "roles", "groups"),
]
# A day, per client, and readable from any origin (single-page apps fetch it), as Entra serves it.
DISCOVERY_HEADERS = {"Cache-Control": "max-age=86400, private", "Access-Control-Allow-Origin": "*"}


@router.get("/{tenant}/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant: str, state: RuntimeDep) -> JSONResponse:
    """The tenant's OpenID Provider metadata; every URL is built from HOSPES_PUBLIC_URL and the tenant id, never
    from the request's Host (a forged Host would otherwise point clients elsewhere)."""
    tenant_id = protocol_tenant_id(state.sessions, tenant)
    base = state.settings.public_url
    endpoint = f"{base}/{tenant_id}/oauth2/v2.0"
    document = {
        "issuer": state.issuer.issuer(tenant_id),
        "authorization_endpoint": f"{endpoint}/authorize",
        "token_endpoint": f"{endpoint}/token",
        "end_session_endpoint": f"{endpoint}/logout",
        "jwks_uri": f"{base}/{tenant_id}/discovery/v2.0/keys",
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": CLAIMS_SUPPORTED,
        # Entra accepts PKCE without advertising it; relying-party libraries read this to decide to use it.
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "password"],
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "request_uri_parameter_supported": False,
        "tenant_region_scope": "EU",
    }
    return JSONResponse(document, headers=DISCOVERY_HEADERS)


@router.get("/{tenant}/discovery/v2.0/keys")
def jwks(tenant: str, state: RuntimeDep) -> JSONResponse:
    protocol_tenant_id(state.sessions, tenant)  # an unknown tenant is an OAuth error, as for discovery
    return JSONResponse(state.keys.public_jwks(), headers={"Access-Control-Allow-Origin": "*"})


@router.get("/error")
def error(code: str = "") -> PlainTextResponse:
    """What the ``error_uri`` of an OAuth error body points at: the meaning of an AADSTS number."""
    number = ascii_int(code)
    if number is None:
        return PlainTextResponse("Give the AADSTS number of an error: /error?code=50126\n", 400)
    return error_page(number)


async def _on_oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)  # registered for OAuthError only
    return oauth_error_response(request, exc)


def install(app: FastAPI) -> None:
    """The OAuth routes, and the one answer to an OAuthError raised by any route (async: no thread-pool hop)."""
    app.include_router(router)
    app.include_router(userinfo.router)
    app.add_exception_handler(OAuthError, _on_oauth_error)
