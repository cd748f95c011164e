"""How a client proves itself at the token endpoint: a confidential client by its secret (form or Basic, checked
by ``services/signin.py`` only, with its lockout) or by a certificate (``private_key_jwt``: a JWT signed with the
key of one of the app's uploaded certificates, for the token endpoint, used once); a public client by PKCE alone,
and then it must send no credential at all."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.oauth import OAuthError, check_client_secret
from hospes.services.oidc.clients import RelyingParty, Secrets
from hospes.services.signin import ClientIdentity, ClientSecretSignIn
from hospes.storage.engine import RawReads, WouldWaitError
from hospes.storage.tables import ClientSecret
from hospes.storage.tables_redemption import UsedAssertion
from hospes.storage.tables_sso import KeyCredential

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# A client assertion may not promise to live longer than this (MSAL makes ten-minute ones).
MAX_ASSERTION_LIFETIME = timedelta(hours=1)
CLOCK_SKEW = timedelta(minutes=5)

PUBLIC, SECRET, CERTIFICATE = 0, 1, 2  # the ``azpacr`` values


@dataclass(frozen=True)
class ClientProof:
    client_id: str
    secret: str
    assertion_type: str
    assertion: str
    address: str
    now: datetime

    @property
    def presents_credential(self) -> bool:
        return bool(self.secret or self.assertion or self.assertion_type)


def _invalid(code: int, message: str) -> OAuthError:
    return OAuthError("invalid_client", message, 401, code=code)


class ClientAuthenticator:
    def __init__(self, sessions: sessionmaker[Session], secrets: ClientSecretSignIn) -> None:
        self.sessions, self.secrets = sessions, secrets
        # certificate (key id, thumbprint) -> its public key, parsed once per process: parsing per request is the
        # slow path (a PEM is re-validated on every load).
        self._keys: dict[tuple[str, str], RSAKey] = {}

    def authenticate(
        self,
        rp: RelyingParty,
        proof: ClientProof,
        *,
        public: bool,
        audiences: set[str],
        grant: str,
        secrets: Secrets | None = None,
        reads: RawReads | None = None,
        quiet: bool = False,
    ) -> int:
        """The ``azpacr`` of the authenticated client. ``public``: this grant may come from a public client.
        ``secrets`` and ``reads``: the app's secrets and a connection, when the caller already read them raw.
        ``quiet``: WouldWaitError rather than write anything (a used assertion id, failure counters, an audit
        row), for a caller on the event loop."""
        if public and (rp.is_public or not proof.presents_credential):
            if proof.presents_credential:
                raise _invalid(
                    700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."
                )
            return PUBLIC
        if proof.assertion or proof.assertion_type:
            if proof.assertion_type != ASSERTION_TYPE or not proof.assertion:
                raise OAuthError(
                    "invalid_request",
                    f"client_assertion_type must be '{ASSERTION_TYPE}', with a client_assertion.",
                    code=7000218,
                )
            if quiet:
                raise WouldWaitError("a client assertion's id to record")
            self._assertion(rp, proof, audiences)
            return CERTIFICATE
        if not proof.secret:
            raise _invalid(
                7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
            )
        if secrets is None:
            with self.sessions() as session:
                rows = session.scalars(select(ClientSecret).where(ClientSecret.application_id == rp.application_id))
                secrets = tuple((r.secret_hash, r.start_at, r.end_at) for r in rows)
        identity = ClientIdentity(rp.tenant_id, rp.client_id, rp.display_name, rp.sp_id, secrets)
        if quiet:
            if not self.secrets.accepted_quietly(identity, proof.secret, proof.address, proof.now, reads):
                raise WouldWaitError("a secret check with something to record")
            return SECRET
        check_client_secret(self.secrets, identity, proof.secret, proof.address, proof.now, grant, reads)
        return SECRET

    # --- private_key_jwt ---------------------------------------------------------------------------------------

    def _assertion(self, rp: RelyingParty, proof: ClientProof, audiences: set[str]) -> None:
        token = proof.assertion[:16384]
        header = _header(token)
        # base64url of the certificate's SHA-1; MSAL Python keeps the '=' padding, RFC 7515 drops it: accept both.
        x5t = header["x5t"].rstrip("=") if isinstance(header.get("x5t"), str) else None
        claims: dict[str, Any] | None = None
        for key in self._candidates(rp, proof.now, x5t):
            try:
                claims = jwt.decode(token, key, algorithms=["RS256", "PS256"]).claims
                break
            except (JoseError, ValueError):
                continue
        if claims is None:
            raise _invalid(700027, "Client assertion failed signature validation.")
        aud = claims.get("aud")
        auds = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        if not auds & audiences:
            raise _invalid(700021, "The client assertion's audience is not this token endpoint.")
        if claims.get("iss") != rp.client_id or claims.get("sub") != rp.client_id:
            raise _invalid(700023, "The client assertion's 'iss' and 'sub' must both be the client id.")
        exp, nbf, jti = _seconds(claims.get("exp")), _seconds(claims.get("nbf")), claims.get("jti")
        now = proof.now
        if exp is None or _at(exp) <= now - CLOCK_SKEW or _at(exp) > now + MAX_ASSERTION_LIFETIME:
            raise _invalid(700024, "Client assertion is not within its valid time range.")
        if nbf is not None and _at(nbf) > now + CLOCK_SKEW:
            raise _invalid(700024, "Client assertion is not within its valid time range.")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise _invalid(700023, "The client assertion must carry a 'jti'.")
        used = hashlib.sha256(f"client_assertion\x00{rp.tenant_id}\x00{rp.client_id}\x00{jti}".encode()).hexdigest()
        try:
            with self.sessions.begin() as session:
                session.add(UsedAssertion(jti=used, expires_at=_at(exp) + CLOCK_SKEW))
        except IntegrityError:
            raise _invalid(700023, "The client assertion was already used (its 'jti' must be unique).") from None

    def _candidates(self, rp: RelyingParty, now: datetime, x5t: str | None) -> list[RSAKey]:
        with self.sessions() as session:
            rows = list(
                session.scalars(
                    select(KeyCredential).where(
                        KeyCredential.application_id == rp.application_id,
                        KeyCredential.tenant_id == rp.tenant_id,
                        KeyCredential.purpose == "client_assertion",
                    )
                )
            )
        found: list[RSAKey] = []
        for row in rows:
            if not (row.start_at <= now < row.end_at):
                continue
            if x5t is not None and _x5t(row.thumbprint) != x5t:
                continue
            key = self._keys.get((row.key_id, row.thumbprint))
            if key is None:
                try:
                    cert = x509.load_der_x509_certificate(base64.b64decode(row.certificate))
                    pem = cert.public_key().public_bytes(
                        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                    )
                    key = RSAKey.import_key(pem)
                except (ValueError, TypeError):
                    continue
                self._keys[(row.key_id, row.thumbprint)] = key
            found.append(key)
        return found


def _seconds(value: Any) -> float | None:
    """A NumericDate, whole or not (RFC 7519 section 2; MSAL Python signs fractional ones), within datetime's
    range; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value < _YEAR_10000 else None


_YEAR_10000 = 253402300800


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _x5t(thumbprint_hex: str) -> str:
    try:
        raw = bytes.fromhex(thumbprint_hex)
    except ValueError:
        return ""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _header(token: str) -> dict[str, Any]:
    first = token.split(".", 1)[0]
    try:
        parsed = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    except (ValueError, TypeError):
        raise _invalid(700027, "The client assertion is not a JWT.") from None
    return parsed if isinstance(parsed, dict) else {}
