"""``id_token_hint``: an ID token this tenant issued earlier to the client (expired ones too, as OpenID Connect
allows), naming the user the client expects."""

from __future__ import annotations

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hospes.auth.tokens import TokenIssuer
from hospes.domain.errors import AuthenticationError


def subject_of_hint(issuer: TokenIssuer, token: str, tenant_id: str, client_id: str | None) -> str | None:
    """The hint's ``sub`` when it is our signature, this tenant's issuer and (if given) this client's audience."""
    try:
        decoded = jwt.decode(token, KeySet([issuer.key_for(token)]), algorithms=["RS256"])
    except (JoseError, ValueError, AuthenticationError):
        return None
    claims = decoded.claims
    if claims.get("iss") != issuer.issuer(tenant_id) or claims.get("tid") != tenant_id:
        return None
    if client_id is not None and claims.get("aud") != client_id:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


def audience_of_hint(issuer: TokenIssuer, token: str, tenant_id: str) -> tuple[str, str] | None:
    """(client id, sid) of a valid ID token of this tenant; None otherwise."""
    try:
        decoded = jwt.decode(token, KeySet([issuer.key_for(token)]), algorithms=["RS256"])
    except (JoseError, ValueError, AuthenticationError):
        return None
    claims = decoded.claims
    aud = claims.get("aud")
    if claims.get("iss") != issuer.issuer(tenant_id) or not isinstance(aud, str):
        return None
    return aud, str(claims.get("sid") or "")
