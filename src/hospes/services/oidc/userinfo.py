"""UserInfo (OpenID Connect Core 5.3): what a delegated access token with ``openid`` may read about its user —
``sub`` (the same pairwise value as the ID token the client got: the token's ``azp`` decides), and with
``profile`` ``name``, ``given_name``, ``family_name``, ``picture``, with ``email`` ``email``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.errors import AuthenticationError
from hospes.services.oidc.claims import OidcTokens, is_guest
from hospes.storage.tables import User


class InsufficientScopeError(Exception):
    pass


def user_info(sessions: sessionmaker[Session], tokens: OidcTokens, access_token: str) -> dict[str, Any]:
    """AuthenticationError for a token that is not a valid user token of this server (or whose user is gone),
    InsufficientScopeError without ``openid``."""
    claims = tokens.issuer.claims_of(access_token)
    if claims.get("idtyp") != "user":
        raise AuthenticationError("UserInfo needs a token issued to a signed-in user.")
    scopes = set(str(claims.get("scp") or "").split())
    if "openid" not in scopes:
        raise InsufficientScopeError("The token was not issued for the 'openid' scope.")
    tenant_id, oid, azp = str(claims.get("tid")), str(claims.get("oid")), str(claims.get("azp"))
    with sessions() as session:
        user = session.get(User, oid)
    if user is None or user.tenant_id != tenant_id or user.deleted_at is not None or not user.account_enabled:
        raise AuthenticationError("The user of the token no longer exists or is disabled.")
    info: dict[str, Any] = {"sub": tokens.pairwise(tenant_id, azp, oid)}
    if "profile" in scopes:
        info.update(
            {
                "name": user.display_name,
                "family_name": user.surname,
                "given_name": user.given_name,
                "picture": f"{tokens.issuer.public_url}/v1.0/me/photo/$value",
            }
        )
    if "email" in scopes or is_guest(user):
        info["email"] = user.mail
    return info
