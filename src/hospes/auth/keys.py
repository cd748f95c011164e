"""Server keys kept in the database (so every process of a deployment shares them): JWT signing keys (the current
one, the next one, recently retired ones; tokens name theirs in ``kid``) and an HMAC key for opaque tokens (paging,
delta; retired ones still open what they sealed). Created on first use, rotated by ``hospes keys rotate``.

Their material is encrypted with the deployment's SecretBox (``auth/crypto.py``), bound to the key id, so a
database dump alone cannot forge tokens. Rows written before encryption are sealed on first load."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.domain.clock import utcnow
from hospes.storage.tables import SigningKey

_PURPOSE = "server-key"
JWT, NEXT_JWT, HMAC = "jwt", "jwt-next", "hmac"
# Longer than any token the server signs lives (access tokens: at most a day): a token signed just before a
# rotation stays valid to its end.
RETIRED_JWT_VERIFIED_FOR = timedelta(days=2)


@dataclass(frozen=True)
class KeyState:
    """The keys of one moment: ``jwt_key`` signs, ``next_jwt`` is published ahead of its turn (so relying parties
    and every node know it before the first token it signs), ``retired_jwt`` still verify tokens signed before a
    rotation; ``hmac_key`` seals, ``retired_hmac`` still unseal older paging and delta links; ``subject_key`` is the
    first HMAC key ever made, which pairwise subjects stay derived from whatever the rotations."""

    jwt_key: RSAKey
    hmac_key: bytes
    next_jwt: RSAKey | None = None
    retired_jwt: tuple[RSAKey, ...] = ()
    retired_hmac: tuple[bytes, ...] = ()
    subject_key: bytes | None = None

    @cached_property
    def by_kid(self) -> dict[str, RSAKey]:
        keys = [*self.retired_jwt, *([self.next_jwt] if self.next_jwt else []), self.jwt_key]
        return {str(key.kid): key for key in keys}


class ServerKeys:
    """The deployment's server keys as this process knows them, reloaded from the database every
    ``RELOAD_SECONDS`` and, at most every ``UNKNOWN_KID_SECONDS``, when a token names a key id this process has not
    seen: after a rotation on another node, or a rolling restart, every node verifies every other node's tokens."""

    RELOAD_SECONDS = 60.0
    UNKNOWN_KID_SECONDS = 2.0

    def __init__(
        self,
        jwt_key: RSAKey,
        hmac_key: bytes,
        *,
        next_jwt: RSAKey | None = None,
        retired_jwt: tuple[RSAKey, ...] = (),
        retired_hmac: tuple[bytes, ...] = (),
        subject_key: bytes | None = None,
        reload: Callable[[], KeyState] | None = None,
    ) -> None:
        self._state = KeyState(jwt_key, hmac_key, next_jwt, retired_jwt, retired_hmac, subject_key)
        self._reload = reload
        self._lock = threading.Lock()
        self._loaded_at, self._forced_at = time.monotonic(), -1e9

    @classmethod
    def of(cls, state: KeyState, reload: Callable[[], KeyState] | None = None) -> ServerKeys:
        s = state
        return cls(
            s.jwt_key,
            s.hmac_key,
            next_jwt=s.next_jwt,
            retired_jwt=s.retired_jwt,
            retired_hmac=s.retired_hmac,
            subject_key=s.subject_key,
            reload=reload,
        )

    @property
    def state(self) -> KeyState:
        if self._reload is not None and time.monotonic() - self._loaded_at >= self.RELOAD_SECONDS:
            self.refresh()
        return self._state

    def refresh(self) -> None:
        """Read the keys again now (one thread at a time; the others keep using the keys they have)."""
        if self._reload is None or not self._lock.acquire(blocking=False):
            return
        try:
            self._state = self._reload()
            self._loaded_at = time.monotonic()
        finally:
            self._lock.release()

    @property
    def jwt_key(self) -> RSAKey:
        return self.state.jwt_key

    @property
    def hmac_key(self) -> bytes:
        return self.state.hmac_key

    @property
    def subject_key(self) -> bytes:
        state = self.state
        return state.subject_key or state.hmac_key

    def verify_key(self, kid: str | None) -> RSAKey | None:
        """The key that signed a token naming ``kid`` (none named: the current one); None if unknown even after
        a reload."""
        state = self.state
        if kid is None:
            return state.jwt_key
        key = state.by_kid.get(kid)
        if key is None and self._reload is not None and time.monotonic() - self._forced_at >= self.UNKNOWN_KID_SECONDS:
            self._forced_at = time.monotonic()
            self.refresh()
            key = self._state.by_kid.get(kid)
        return key

    def public_jwks(self) -> dict[str, Any]:
        """Current, next and recently retired keys: a relying party that caches this document can verify tokens
        signed before and after the next rotation."""
        state = self.state
        keys = [state.jwt_key, *([state.next_jwt] if state.next_jwt else []), *state.retired_jwt]
        return {"keys": [key.as_dict(private=False) | {"use": "sig", "alg": "RS256"} for key in keys]}

    def seal(self, purpose: str, payload: Any) -> str:
        """An opaque, tamper-evident token: base64url(json) + '.' + HMAC-SHA256 over purpose and body."""
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
        mac = hmac.new(self.hmac_key, purpose.encode() + b"." + body, hashlib.sha256).digest()[:16]
        return body.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def unseal(self, purpose: str, token: str) -> Any:
        """Return the payload, or raise ValueError if the token was not made by ``seal`` for this purpose (with the
        current HMAC key or a retired one: links handed out before a rotation keep working)."""
        body, sep, mac = token.partition(".")
        if not sep:
            raise ValueError("malformed token")
        state = self.state
        try:
            given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
            signed = purpose.encode() + b"." + body.encode()
            for key in (state.hmac_key, *state.retired_hmac):
                if hmac.compare_digest(given, hmac.new(key, signed, hashlib.sha256).digest()[:16]):
                    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            raise ValueError("bad signature")
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
    """The deployment's keys, created on first use (a signing key, the next signing key, an HMAC key), reloaded
    from the database while the process lives."""
    _create_missing(sessions, box)
    return ServerKeys.of(_load(sessions, box), reload=lambda: _load(sessions, box))


def _create_missing(sessions: sessionmaker[Session], box: SecretBox) -> None:
    with sessions() as session:
        live = {r.purpose: r for r in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None)))}
    missing = [purpose for purpose in (JWT, NEXT_JWT, HMAC) if purpose not in live]
    if missing:
        try:
            with sessions.begin() as session:
                for purpose in missing:
                    session.add(_new_key(box, purpose))
        except IntegrityError:
            pass  # another process created them first
    legacy = [row for row in live.values() if "sealed" not in row.material]
    if legacy:
        with sessions.begin() as session:
            for row in legacy:
                stored = session.get(SigningKey, row.kid)
                if stored is not None and "sealed" not in stored.material:
                    stored.material = _seal(box, row.kid, stored.material)


def _new_key(box: SecretBox, purpose: str) -> SigningKey:
    if purpose == HMAC:
        kid = "hmac-" + secrets.token_hex(8)
        return SigningKey(kid=kid, purpose=purpose, material=_seal(box, kid, {"k": secrets.token_urlsafe(32)}))
    key = RSAKey.generate_key(2048, auto_kid=True)
    kid = str(key.kid)
    return SigningKey(kid=kid, purpose=purpose, material=_seal(box, kid, key.as_dict(private=True)))


def _load(sessions: sessionmaker[Session], box: SecretBox) -> KeyState:
    cutoff = utcnow() - RETIRED_JWT_VERIFIED_FOR
    with sessions() as session:
        rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.kid)).all()
    live = {row.purpose: row for row in rows if row.retired_at is None}
    hmac_rows = [row for row in rows if row.purpose == HMAC]
    retired_jwt = [
        row
        for row in rows
        if row.purpose in (JWT, NEXT_JWT) and row.retired_at is not None and _aware(row.retired_at) > cutoff
    ]
    return KeyState(
        jwt_key=RSAKey.import_key(_open(box, live[JWT])),
        hmac_key=_open(box, live[HMAC])["k"].encode(),
        next_jwt=RSAKey.import_key(_open(box, live[NEXT_JWT])) if NEXT_JWT in live else None,
        retired_jwt=tuple(RSAKey.import_key(_open(box, row)) for row in retired_jwt),
        retired_hmac=tuple(_open(box, row)["k"].encode() for row in hmac_rows if row.retired_at is not None),
        subject_key=_open(box, hmac_rows[0])["k"].encode() if hmac_rows else None,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rotate_keys(sessions: sessionmaker[Session], box: SecretBox, *, hmac_key: bool = False) -> dict[str, str]:
    """Rotate the signing key: the published next key starts signing, the current one retires (it still verifies
    for ``RETIRED_JWT_VERIFIED_FOR``), and a new next key is published. With ``hmac_key``, the HMAC key too (the
    retired one still opens the links it sealed). Every node picks the change up within ``RELOAD_SECONDS``, or at
    once on meeting a token of the new key. Returns the new key ids by purpose."""
    _create_missing(sessions, box)
    now = utcnow()
    with sessions.begin() as session:
        live = {
            row.purpose: row
            for row in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None)).with_for_update())
        }
        # Statement by statement, in this order: one live key per purpose at every moment (the unique index).
        live[JWT].retired_at = now
        session.flush()
        live[NEXT_JWT].purpose = JWT
        session.flush()
        fresh = _new_key(box, NEXT_JWT)
        session.add(fresh)
        changed = {JWT: live[NEXT_JWT].kid, NEXT_JWT: fresh.kid}
        if hmac_key:
            live[HMAC].retired_at = now
            session.flush()
            new_hmac = _new_key(box, HMAC)
            session.add(new_hmac)
            changed[HMAC] = new_hmac.kid
    return changed
