"""The token endpoint's ``authorization_code`` and ``refresh_token`` grants: read the fields, call
``services/oidc/grants.py``, shape the answer (``id_token`` only with ``openid``, ``refresh_token`` only with
``offline_access``)."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hospes.runtime import Runtime
from hospes.services.oauth import OAuthError
from hospes.services.oidc.client_auth import ClientProof
from hospes.services.oidc.grant_rules import TokenSet, UserGrantRequest

USER_GRANTS = ("authorization_code", "refresh_token")


def _missing(name: str) -> OAuthError:
    return OAuthError(
        "invalid_request", f"The request body must contain the following parameter: '{name}'.", code=900144
    )


async def user_grant(
    tenant: str,
    grant: str,
    fields: dict[str, str],
    client_id: str,
    client_secret: str,
    request: Request,
    state: Runtime,
) -> JSONResponse:
    if not client_id:
        raise _missing("client_id")
    proof = ClientProof(
        client_id=client_id,
        secret=client_secret,
        assertion_type=fields.get("client_assertion_type", ""),
        assertion=fields.get("client_assertion", ""),
        address=request.client.host if request.client else "unknown",
        now=state.clock(),
    )
    call = UserGrantRequest(
        tenant_key=tenant,
        proof=proof,
        code=fields.get("code", ""),
        redirect_uri=fields.get("redirect_uri", ""),
        code_verifier=fields.get("code_verifier", ""),
        refresh_token=fields.get("refresh_token", ""),
        scope=fields.get("scope", ""),
        client_info=fields.get("client_info") == "1",
    )
    grants = state.user_grants
    if grant == "authorization_code":
        if not call.code:
            raise _missing("code")
        if not call.redirect_uri:
            raise _missing("redirect_uri")
        issued: TokenSet = await run_in_threadpool(grants.authorization_code, call)
    else:
        if not call.refresh_token:
            raise _missing("refresh_token")
        # On SQLite a refresh that need not wait runs here, without the thread hop (see services/oidc/refresh.py).
        now = grants.refresh_now(call) if state.database.is_sqlite else None
        issued = now if now is not None else await run_in_threadpool(grants.refresh, call)
    body: dict[str, object] = {
        "token_type": "Bearer",
        "scope": issued.scope,
        "expires_in": issued.expires_in,
        "ext_expires_in": issued.expires_in,
        "access_token": issued.access_token,
    }
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    if issued.id_token is not None:
        body["id_token"] = issued.id_token
    if issued.client_info is not None:
        body["client_info"] = issued.client_info
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
