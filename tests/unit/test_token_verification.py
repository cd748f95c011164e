"""Access-token verification: the cached signature check must not outlive the token's lifetime, nor accept a
token that differs from a verified one by a single character."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from hospes.auth.keys import ServerKeys
from hospes.auth.tokens import VERIFIED_CACHE_SIZE, TokenIssuer
from hospes.domain.errors import AuthenticationError


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    keys = ServerKeys(jwt_key=RSAKey.generate_key(2048, auto_kid=True), hmac_key=b"k" * 32)
    return TokenIssuer(keys, "https://hospes.example", 3600)


def _app_token(issuer: TokenIssuer, tenant: str = "t1") -> str:
    token, _ = issuer.issue_app_token(tenant, "app", "sp", "App", ["User.Invite.All"], "https://graph.microsoft.com")
    return token


def test_a_verified_token_still_expires(issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    token = _app_token(issuer)
    principal = issuer.verify(token)
    assert principal.tenant_id == "t1" and principal.roles == frozenset({"User.Invite.All"})
    assert issuer.verify(token) == principal  # from the cache
    later = time.time() + 3601
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(AuthenticationError, match="expired"):
        issuer.verify(token)


def test_a_tampered_copy_of_a_verified_token_is_refused(issuer: TokenIssuer) -> None:
    token = _app_token(issuer)
    issuer.verify(token)
    head, body, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(AuthenticationError):
        issuer.verify(f"{head}.{body}.{flipped}")
    with pytest.raises(AuthenticationError):
        issuer.verify(token + "x")


def test_refused_tokens_are_not_cached_and_the_cache_is_bounded(issuer: TokenIssuer) -> None:
    other = TokenIssuer(
        ServerKeys(jwt_key=RSAKey.generate_key(2048, auto_kid=True), hmac_key=b"o" * 32), "https://hospes.example", 60
    )
    foreign = _app_token(other)
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            issuer.verify(foreign)
    assert foreign not in issuer._verified
    issuer._verified.update((f"filler{i}", {}) for i in range(VERIFIED_CACHE_SIZE))
    token = _app_token(issuer)
    issuer.verify(token)  # a full cache is emptied before the new entry
    assert list(issuer._verified) == [token]


def test_a_user_token_acts_only_with_its_scopes(issuer: TokenIssuer) -> None:
    """Its ``roles`` claim (the user's app roles, as an authorization-code token may carry) grants nothing, with or
    without ``idtyp``: only an app-only token's roles are Graph permissions."""
    now = int(time.time())
    claims = {
        "iss": issuer.issuer("t1"),
        "aud": "https://graph.microsoft.com",
        "tid": "t1",
        "oid": "u1",
        "scp": "User.Read",
        "roles": ["User.ReadWrite.All"],
        "iat": now,
        "exp": now + 60,
    }
    for extra in ({}, {"idtyp": "user"}):
        token = jwt.encode({"alg": "RS256", "kid": issuer.keys.jwt_key.kid}, {**claims, **extra}, issuer.keys.jwt_key)
        principal = issuer.verify(token)
        assert (principal.kind, principal.roles) == ("user", frozenset({"User.Read"}))
    app = issuer.verify(_app_token(issuer))
    assert (app.kind, app.roles) == ("app", frozenset({"User.Invite.All"}))
