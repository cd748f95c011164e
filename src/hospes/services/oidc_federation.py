"""Hospes as an OpenID Connect relying party, for guests whose organization runs an OpenID provider (another Hospes
deployment, Keycloak, ZITADEL...): the authorization code flow with PKCE (S256), ``state`` and ``nonce``.

The provider's discovery document and keys (``jwks_uri``) are fetched over HTTP and kept an hour per process; an
ID token signed by an unknown key id refetches the keys, at most once a minute. An ID token counts only when its
signature verifies with those keys and its ``iss`` (the configured issuer, also the discovery document's), ``aud``
(the configured client id; ``azp`` too when there are several), ``exp``/``iat`` (two minutes of skew) and ``nonce``
(this browser's flow) are right. Failures are AADSTS50027 (invalid external ID token).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from hospes.domain.federation import is_loopback

TOKEN_INVALID = "50027"
CACHE_SECONDS = 3600
KEY_REFETCH_SECONDS = 60
SKEW_SECONDS = 120
MAX_BODY_BYTES = 256 * 1024
READ_SECONDS = 10.0  # the whole answer, however its bytes arrive (each read also has its own timeout)
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]


class FederationError(Exception):
    """A federated sign-in refused: ``code`` the AADSTS number, ``message`` what the page says."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.code, self.message = code, message

    @property
    def text(self) -> str:
        return f"AADSTS{self.code}: {self.message}"


def invalid(detail: str) -> FederationError:
    return FederationError(
        TOKEN_INVALID, f"The ID token of your organization's identity provider is not valid: {detail}"
    )


@dataclass(frozen=True)
class OidcProvider:
    """What the flow needs of a configured provider (the client secret already opened)."""

    id: str
    issuer: str
    client_id: str
    client_secret: str
    well_known: str
    scope: str
    claim_mapping: dict[str, str]


@dataclass(frozen=True)
class PkceStart:
    url: str
    state: str
    nonce: str
    verifier: str


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _check_url(url: Any, what: str) -> str:
    if not isinstance(url, str):
        raise invalid(f"the provider's discovery document has no {what}.")
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        raise invalid(f"the provider's {what} must be an https URL.")
    return url


HttpFactory = Callable[[], httpx.Client]


def _default_http() -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(5.0), follow_redirects=False)


class OidcRelyingParty:
    """One per process: the discovery and key caches live here."""

    def __init__(self, http: HttpFactory = _default_http, clock: Callable[[], float] = time.monotonic) -> None:
        self.http, self.clock = http, clock
        self._lock = threading.Lock()
        self._documents: dict[str, tuple[float, dict[str, Any]]] = {}
        self._keys: dict[str, tuple[float, KeySet]] = {}

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with self.http() as client, client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                body = _read_capped(response, url, self.clock)
        except httpx.HTTPError:
            raise FederationError(
                TOKEN_INVALID, "Your organization's identity provider could not be reached."
            ) from None
        return _json_of(response.status_code, body, url)

    def discovery(self, provider: OidcProvider) -> dict[str, Any]:
        now = self.clock()
        with self._lock:
            cached = self._documents.get(provider.well_known)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            document = cached[1]
        else:
            document = self._get_json(provider.well_known)
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                _check_url(document.get(field), field)
            with self._lock:
                self._documents[provider.well_known] = (now, document)
        # Checked on every use: two tenants may name the same document with different issuers.
        if document.get("issuer") != provider.issuer:
            raise invalid("the discovery document names another issuer than the one configured.")
        return document

    def _key_set(self, jwks_uri: str, *, refresh: bool = False) -> KeySet:
        now = self.clock()
        with self._lock:
            cached = self._keys.get(jwks_uri)
        if cached is not None and (now - cached[0] < (KEY_REFETCH_SECONDS if refresh else CACHE_SECONDS)):
            return cached[1]
        try:
            keys = KeySet.import_key_set(self._get_json(jwks_uri))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise invalid("the provider's keys could not be read.") from None
        with self._lock:
            self._keys[jwks_uri] = (now, keys)
        return keys

    def start(self, provider: OidcProvider, redirect_uri: str, login_hint: str | None) -> PkceStart:
        document = self.discovery(provider)
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        query = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": provider.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
        if login_hint:
            query["login_hint"] = login_hint
        endpoint = str(document["authorization_endpoint"])
        url = endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)
        return PkceStart(url, state, nonce, verifier)

    def redeem_code(
        self, provider: OidcProvider, *, code: str, redirect_uri: str, verifier: str, nonce: str, now: datetime
    ) -> dict[str, Any]:
        """The verified claims of the ID token the code buys."""
        document = self.discovery(provider)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": provider.client_id,
        }
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        auth: httpx.Auth | None = None
        if "client_secret_post" in methods:
            form["client_secret"] = provider.client_secret
        else:
            auth = httpx.BasicAuth(provider.client_id, provider.client_secret)
        try:
            endpoint = str(document["token_endpoint"])
            with (
                self.http() as client,
                client.stream("POST", endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT) as response,
            ):
                raw = _read_capped(response, "the token endpoint", self.clock)
        except httpx.HTTPError:
            raise FederationError(
                TOKEN_INVALID, "Your organization's identity provider could not be reached."
            ) from None
        body = _json_of(response.status_code, raw, "the token endpoint", accept_errors=True)
        if response.status_code != 200:
            error = str(body.get("error", "error"))[:64]
            raise FederationError(TOKEN_INVALID, f"Your organization's identity provider refused the code ({error}).")
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise invalid("the provider answered no ID token.")
        return self.verify_id_token(provider, id_token, nonce=nonce, now=now)

    def verify_id_token(self, provider: OidcProvider, token: str, *, nonce: str, now: datetime) -> dict[str, Any]:
        jwks_uri = str(self.discovery(provider)["jwks_uri"])
        try:
            decoded = jwt.decode(token, self._key_set(jwks_uri), algorithms=ALGORITHMS)
        except InvalidKeyIdError:  # the provider may have rolled its keys
            try:
                decoded = jwt.decode(token, self._key_set(jwks_uri, refresh=True), algorithms=ALGORITHMS)
            except (JoseError, ValueError):
                raise invalid("its signature does not verify with the provider's keys.") from None
        except JoseError:
            raise invalid("its signature does not verify with the provider's keys.") from None
        claims: dict[str, Any] = dict(decoded.claims)
        if claims.get("iss") != provider.issuer:
            raise invalid("it was issued by another issuer.")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if provider.client_id not in audiences:
            raise invalid("it is meant for another audience.")
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise invalid("it is meant for another party (azp).")
        stamp = now.timestamp()
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= stamp - SKEW_SECONDS:
            raise invalid("it has expired.")
        if isinstance(claims.get("iat"), int | float) and claims["iat"] > stamp + SKEW_SECONDS:
            raise invalid("it was issued in the future (check the clocks).")
        if not nonce or claims.get("nonce") != nonce:
            raise invalid("its nonce does not match this browser's sign-in.")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise invalid("it names no subject.")
        return claims


def _read_capped(response: httpx.Response, what: str, clock: Callable[[], float]) -> bytes:
    """The answer's body, refused past ``MAX_BODY_BYTES`` or ``READ_SECONDS`` rather than held whatever its size
    and however slowly it comes."""
    deadline = clock() + READ_SECONDS
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise invalid(f"{what} answered too much.")
        if clock() > deadline:
            raise invalid(f"{what} took too long to answer.")
    return bytes(body)


def _json_of(status: int, raw: bytes, what: str, *, accept_errors: bool = False) -> dict[str, Any]:
    if status != 200 and not accept_errors:
        raise FederationError(TOKEN_INVALID, f"Your organization's identity provider answered {status}.")
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid(f"{what} did not answer JSON.") from None
    if not isinstance(body, dict):
        raise invalid(f"{what} did not answer a JSON object.")
    return body


def mapped(claims: dict[str, Any], mapping: dict[str, str], name: str) -> Any:
    """A claim by its standard name, through the provider's ``inboundClaimMapping``."""
    return claims.get(mapping.get(name, name))
