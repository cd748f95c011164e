"""The authorization request: its checks in a fixed order, so that nothing is sent to a redirect URI before that
URI is known to be registered for the client, then the user's checks (session, assignment, consent) and the code.

1. tenant (the page layer), 2. client (AADSTS700016, page), 3. redirect URI, exact, per platform (50011 / 900971,
page), 4. the service principal enabled (7000112, redirected), 5. parameters: response type, response mode, PKCE,
scope (redirected), 6. session, ``prompt``, ``max_age``, 7.-8. the user belongs to the tenant and is enabled,
10. assignment when the app requires it (50105), 11. consent (the consent page, or 90094 for a guest).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hospes.services.oidc.clients import RelyingParty, load_relying_party
from hospes.services.oidc.scopes import RequestedScopes, ScopeError, parse

CODE_LIFETIME = timedelta(seconds=60)
PROMPTS = ("login", "none", "consent", "select_account")
RESPONSE_MODES = ("query", "fragment", "form_post")
_CHALLENGE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_MAX_PARAM = 2048
_MAX_NONCE = 512


class PageError(Exception):
    """A failure shown on Hospes' own page: the redirect URI is not (yet) trusted."""

    def __init__(self, code: int, message: str, client: RelyingParty | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.client = code, message, client


class RedirectError(Exception):
    """A failure returned to the client at its (trusted) redirect URI."""

    def __init__(self, error: str, code: int, message: str) -> None:
        super().__init__(message)
        self.error, self.code, self.message = error, code, message

    @property
    def description(self) -> str:
        return f"AADSTS{self.code}: {self.message}"


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked request (steps 1-5). It travels, sealed, through the sign-in and consent pages and back."""

    tenant_id: str
    client_id: str
    redirect_uri: str
    platform: str
    response_mode: str
    scope: str
    state: str | None = None
    nonce: str | None = None
    code_challenge: str | None = None
    prompt: str | None = None
    login_hint: str | None = None
    domain_hint: str | None = None
    max_age: int | None = None
    requested_at: float = 0.0  # when the client asked (Unix seconds, the server's clock)
    hint_sub: str | None = None  # the ``sub`` of a valid ``id_token_hint``
    consented: bool = False  # the consent page was answered for this request (``prompt=consent`` is satisfied)

    def to_payload(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_payload(cls, payload: Any) -> AuthorizationRequest:
        if not isinstance(payload, dict):
            raise ValueError("not a request")
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in payload.items() if k in names})


@dataclass(frozen=True)
class Target:
    """Where and how answers go once the redirect URI is trusted."""

    redirect_uri: str
    response_mode: str
    state: str | None


def _one(params: dict[str, str], name: str, limit: int = _MAX_PARAM) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise RedirectError("invalid_request", 90014, f"The parameter '{name}' is too long.")
    return value


def check_client(session: Session, tenant_id: str, params: dict[str, str]) -> tuple[RelyingParty, str, str]:
    """Steps 2-3: the client and its redirect URI (and that URI's platform); PageError otherwise."""
    client_id = params.get("client_id", "")
    if not client_id:
        raise PageError(900144, "The request body must contain the following parameter: 'client_id'.")
    rp = load_relying_party(session, tenant_id, client_id)
    if rp is None:
        raise PageError(
            700016,
            f"Application with identifier '{client_id[:64]}' was not found in the directory. This can happen if the "
            "application has not been installed by the administrator of the tenant.",
        )
    redirect_uri = params.get("redirect_uri") or ""
    if not redirect_uri:
        registered = rp.redirect_uris
        if not registered:
            raise PageError(900971, "No reply address provided: the application has no redirect URI registered.")
        if len(registered) > 1:
            raise PageError(900971, "No reply address provided: the application registers several redirect URIs.", rp)
        redirect_uri = registered[0]
    platform = rp.platform_of(redirect_uri)
    if platform is None:
        raise PageError(
            50011,
            f"The redirect URI '{redirect_uri[:512]}' specified in the request does not match the redirect URIs "
            f"configured for the application '{rp.client_id}'.",
            rp,
        )
    return rp, redirect_uri, platform


def target_of(params: dict[str, str], redirect_uri: str) -> Target:
    mode = params.get("response_mode") or "query"
    state = params.get("state") or None
    if state is not None and len(state) > _MAX_PARAM:  # refused for its size: not sent back either
        state = None
    return Target(redirect_uri, mode if mode in RESPONSE_MODES else "query", state)


def check_request(session: Session, tenant_id: str, params: dict[str, str], now: datetime) -> AuthorizationRequest:
    """Steps 2-5. PageError before the redirect URI is trusted, RedirectError after."""
    rp, redirect_uri, platform = check_client(session, tenant_id, params)
    if not rp.account_enabled:
        raise RedirectError("unauthorized_client", 7000112, f"Application '{rp.client_id}' is disabled.")
    response_type = params.get("response_type")
    if not response_type:
        raise RedirectError(
            "invalid_request", 900144, "The request body must contain the following parameter: 'response_type'."
        )
    if response_type != "code":
        raise RedirectError(
            "unsupported_response_type",
            700054,
            f"response_type '{response_type[:64]}' is not enabled for the application; only 'code' is supported.",
        )
    state = _one(params, "state")
    mode = params.get("response_mode") or "query"
    if mode not in RESPONSE_MODES:
        raise RedirectError("invalid_request", 70007, f"The response_mode '{mode[:32]}' is not supported.")
    challenge, method = _one(params, "code_challenge"), _one(params, "code_challenge_method")
    if challenge is not None or method is not None:
        if method != "S256":
            raise RedirectError(
                "invalid_request", 50148, "The code_challenge_method must be 'S256'; 'plain' is not accepted."
            )
        if challenge is None or not _CHALLENGE.match(challenge):
            raise RedirectError("invalid_request", 501491, "The code_challenge is missing or malformed.")
    elif rp.is_public or platform in ("spa", "publicClient"):
        raise RedirectError(
            "invalid_request",
            9002325,
            "Proof Key for Code Exchange is required for public clients and single-page applications.",
        )
    prompt = _one(params, "prompt", 64)
    if prompt is not None and prompt not in PROMPTS:
        raise RedirectError("invalid_request", 90023, f"The prompt value '{prompt}' is not supported.")
    max_age_text = _one(params, "max_age", 12)
    max_age = None
    if max_age_text is not None:
        if not max_age_text.isascii() or not max_age_text.isdigit():
            raise RedirectError("invalid_request", 90014, "max_age must be a number of seconds.")
        max_age = int(max_age_text)
    scope = params.get("scope") or ""
    if not scope.strip():
        raise RedirectError(
            "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
        )
    try:
        scopes = parse(session, tenant_id, scope)
    except ScopeError as exc:
        raise RedirectError(exc.error, exc.code, exc.message) from None
    return AuthorizationRequest(
        tenant_id=tenant_id,
        client_id=rp.client_id,
        redirect_uri=redirect_uri,
        platform=platform,
        response_mode=mode,
        scope=scopes.text,
        state=state,
        nonce=_one(params, "nonce", _MAX_NONCE),
        code_challenge=challenge,
        prompt=prompt,
        login_hint=_one(params, "login_hint", 256) if prompt != "select_account" else None,
        domain_hint=_one(params, "domain_hint", 256),
        max_age=max_age,
        requested_at=now.timestamp(),
    )


def scopes_of(session: Session, request: AuthorizationRequest) -> RequestedScopes:
    return parse(session, request.tenant_id, request.scope)


def new_code() -> str:
    return secrets.token_urlsafe(32)


def needs_login(request: AuthorizationRequest, auth_time: datetime | None, now: datetime) -> bool:
    """``prompt=login``/``select_account`` and ``max_age`` ask for a sign-in newer than the request; a session
    that started after the request was made satisfies them (so ``max_age=1`` cannot loop)."""
    if auth_time is None:
        return True
    fresh = auth_time.timestamp() >= request.requested_at
    if request.prompt in ("login", "select_account") and not fresh:
        return True
    if request.max_age is not None and not fresh:
        return (now - auth_time).total_seconds() > request.max_age
    return False
