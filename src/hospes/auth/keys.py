"""Server keys kept in the database (so every process of a deployment shares them): a JWT signing key and an
HMAC key for opaque tokens (paging, delta). Created on first use.

Their material is encrypted with the deployment's SecretBox (``auth/crypto.py``), bound to the key id, so a
database dump alone cannot forge tokens. Rows written before encryption are sealed on first load."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.storage.tables import SigningKey

_PURPOSE = "server-key"


@dataclass(frozen=True)
class ServerKeys:
    jwt_key: RSAKey
    hmac_key: bytes

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwt_key.as_dict(private=False) | {"use": "sig", "alg": "RS256"}]}

    def seal(self, purpose: str, payload: Any) -> str:
        """An opaque, tamper-evident token: base64url(json) + '.' + HMAC-SHA256 over purpose and body."""
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
        mac = hmac.new(self.hmac_key, purpose.encode() + b"." + body, hashlib.sha256).digest()[:16]
        return body.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def unseal(self, purpose: str, token: str) -> Any:
        """Return the payload, or raise ValueError if the token was not made by ``seal`` for this purpose."""
        body, sep, mac = token.partition(".")
        if not sep:
            raise ValueError("malformed token")
        expected = hmac.new(self.hmac_key, purpose.encode() + b"." + body.encode(), hashlib.sha256).digest()[:16]
        try:
            given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
            if not hmac.compare_digest(given, expected):
                raise ValueError("bad signature")
            return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, TypeError) as exc:
            raise ValueError("invalid token") from exc


def _seal(box: SecretBox, kid: str, material: dict[str, Any]) -> dict[str, Any]:
    return {"sealed": box.encrypt(_PURPOSE, json.dumps(material).encode(), kid)}


def _open(box: SecretBox, row: SigningKey) -> dict[str, Any]:
    if "sealed" in row.material:
        opened: dict[str, Any] = json.loads(box.decrypt(_PURPOSE, row.material["sealed"], row.kid))
        return opened
    return row.material  # written before encryption at rest; sealed below


def load_or_create_keys(sessions: sessionmaker[Session], box: SecretBox) -> ServerKeys:
    with sessions() as session:
        rows = {r.purpose: r for r in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None)))}
    if "jwt" not in rows or "hmac" not in rows:
        try:
            with sessions.begin() as session:
                if "jwt" not in rows:
                    key = RSAKey.generate_key(2048, auto_kid=True)
                    kid = str(key.kid)
                    session.add(SigningKey(kid=kid, purpose="jwt", material=_seal(box, kid, key.as_dict(private=True))))
                if "hmac" not in rows:
                    kid = "hmac-" + secrets.token_hex(8)
                    material = {"k": secrets.token_urlsafe(32)}
                    session.add(SigningKey(kid=kid, purpose="hmac", material=_seal(box, kid, material)))
        except IntegrityError:
            pass  # another process created them first
        return load_or_create_keys(sessions, box)
    legacy = [row for row in rows.values() if "sealed" not in row.material]
    if legacy:
        with sessions.begin() as session:
            for row in legacy:
                stored = session.get(SigningKey, row.kid)
                if stored is not None and "sealed" not in stored.material:
                    stored.material = _seal(box, row.kid, stored.material)
    jwt_key = RSAKey.import_key(_open(box, rows["jwt"]))
    return ServerKeys(jwt_key=jwt_key, hmac_key=_open(box, rows["hmac"])["k"].encode())
