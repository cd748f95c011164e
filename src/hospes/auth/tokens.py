"""OAuth 2.0 access tokens: RS256 JWTs whose ``roles`` claim carries the app's Graph permissions."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from hospes import metrics
from hospes.auth.keys import ServerKeys
from hospes.domain.errors import AuthenticationError
from hospes.domain.principals import Principal

GRAPH_AUDIENCE = "https://graph.microsoft.com"


VERIFIED_CACHE_SIZE = 4096


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@dataclass(frozen=True)
class TokenIssuer:
    keys: ServerKeys
    public_url: str
    lifetime: int
    # token -> claims whose signature, audience and issuer checked out. A client reuses one token for an hour;
    # the RSA check and JOSE parsing were a tenth of a cheap request. Lifetime is still checked on every use.
    _verified: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)
    _signers: dict[str, tuple[bytes, rsa.RSAPrivateKey]] = field(default_factory=dict, repr=False, compare=False)

    def issuer(self, tenant_id: str) -> str:
        return f"{self.public_url}/{tenant_id}/v2.0"

    @property
    def audiences(self) -> tuple[str, ...]:
        return (GRAPH_AUDIENCE, self.public_url)

    def issue_app_token(
        self, tenant_id: str, app_id: str, sp_id: str, name: str, roles: list[str], audience: str
    ) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "iss": self.issuer(tenant_id),
            "aud": audience,
            "sub": sp_id,
            "oid": sp_id,
            "tid": tenant_id,
            "azp": app_id,
            "appid": app_id,
            "app_displayname": name,
            "idtyp": "app",
            "roles": sorted(roles),
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "jti": str(uuid.uuid4()),
            "ver": "2.0",
        }
        return self.sign(claims), self.lifetime

    def issue_user_token(
        self, tenant_id: str, app_id: str, user_id: str, name: str, upn: str, scopes: list[str], audience: str
    ) -> tuple[str, int]:
        """A delegated token: the user acts through an app; ``scp`` lists the delegated permissions."""
        now = int(time.time())
        claims = {
            "iss": self.issuer(tenant_id),
            "aud": audience,
            "sub": user_id,
            "oid": user_id,
            "tid": tenant_id,
            "azp": app_id,
            "appid": app_id,
            "idtyp": "user",
            "name": name,
            "upn": upn,
            "preferred_username": upn,
            "scp": " ".join(sorted(scopes)),
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "jti": str(uuid.uuid4()),
            "ver": "2.0",
        }
        return self.sign(claims), self.lifetime

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact RS256 JWS (header ``alg``, ``kid``, ``typ: JWT``) of ``claims`` with the current server key.
        Built here rather than by joserfc's encoder, which re-validated the header and key on every call: a third of
        the cost of a token on top of the RSA signature itself."""
        header, private_key = self._signer()
        signing_input = header + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return (signing_input + b"." + _b64(signature)).decode("ascii")

    def _signer(self) -> tuple[bytes, rsa.RSAPrivateKey]:
        """The current key's header and private key, made once per key (the key changes at a rotation)."""
        key = self.keys.jwt_key
        signer = self._signers.get(str(key.kid))
        if signer is None:
            private_key = key.private_key
            assert isinstance(private_key, rsa.RSAPrivateKey)
            header = _b64(json.dumps({"alg": "RS256", "kid": key.kid, "typ": "JWT"}).encode())
            signer = self._signers[str(key.kid)] = (header, private_key)
        return signer

    def key_for(self, token: str) -> RSAKey:
        """The server key that signed ``token``, by the ``kid`` of its header (AuthenticationError if none)."""
        try:
            head = token.split(".", 1)[0]
            header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
            kid = header.get("kid") if isinstance(header, dict) else None
        except (ValueError, UnicodeDecodeError):
            raise AuthenticationError("CompactToken parsing failed: the header is not JSON.") from None
        key = self.keys.verify_key(kid if isinstance(kid, str) else None)
        if key is None:
            raise AuthenticationError("Signature validation failed: the signing key is unknown.")
        return key

    def verify(self, token: str) -> Principal:
        claims = self.claims_of(token)
        tenant_id = claims["tid"]
        kind = "app" if claims.get("idtyp") == "app" else "user"
        # A user's token is delegated: only its scopes count. Its ``roles`` are the user's app roles on the
        # resource, never Graph permissions, even where an app role carries a permission's name.
        roles = (claims.get("roles") or []) if kind == "app" else str(claims.get("scp") or "").split()
        return Principal(
            tenant_id=tenant_id,
            kind=kind,
            id=str(claims.get("oid", "")),
            display_name=str(claims.get("app_displayname") or claims.get("name") or ""),
            roles=frozenset(r for r in roles if isinstance(r, str)),
        )

    def claims_of(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token of this server (signature, audience, issuer, lifetime)."""
        if not token:
            raise AuthenticationError("Access token is empty.")
        claims = self._verified.get(token)
        metrics.token_cache(claims is not None)
        if claims is None:
            claims = self._check_signed(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()  # crude but bounded; a miss only costs one signature check
            self._verified[token] = claims
        now = time.time()
        if not isinstance(claims.get("exp"), int) or claims["exp"] < now:
            raise AuthenticationError("Lifetime validation failed, the token is expired.")
        if isinstance(claims.get("nbf"), int) and claims["nbf"] > now + 60:
            raise AuthenticationError("Lifetime validation failed, the token is not yet valid.")
        return claims

    def _check_signed(self, token: str) -> dict[str, Any]:
        """Signature, audience and issuer: what never changes for a given token string."""
        try:
            decoded = jwt.decode(token, KeySet([self.key_for(token)]), algorithms=["RS256"])
        except (JoseError, ValueError) as exc:
            raise AuthenticationError(f"CompactToken parsing failed: {type(exc).__name__}.") from None
        claims: dict[str, Any] = decoded.claims
        if claims.get("aud") not in self.audiences:
            raise AuthenticationError("Invalid audience.")
        tenant_id = claims.get("tid")
        if not isinstance(tenant_id, str) or claims.get("iss") != self.issuer(tenant_id):
            raise AuthenticationError("Invalid issuer.")
        return claims
