"""What the token endpoint's user grants share: lifetimes, the request and answer shapes, token digests, the
family revocation, the user and scope checks, PKCE."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import Update, delete, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.ca_evaluation import Decision
from hospes.services.oauth import OAuthError
from hospes.services.oidc.client_auth import ClientProof
from hospes.services.oidc.scopes import RequestedScopes, ScopeError, parse
from hospes.storage.tables_redemption import UsedAssertion
from hospes.storage.tables_sso import AuthorizationCode, RefreshToken

REFRESH_LIFETIME = timedelta(days=90)
SPA_REFRESH_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class UserGrantRequest:
    tenant_key: str
    proof: ClientProof
    code: str = ""
    redirect_uri: str = ""
    code_verifier: str = ""
    refresh_token: str = ""
    scope: str = ""
    client_info: bool = False  # MSAL asks for ``client_info`` (the account's ids) with ``client_info=1``


@dataclass
class GrantTrail:
    """What a user grant has learnt so far, for the sign-in row of its failure: the tenant (none: nothing to
    record in), the app's name, the user; ``recorded`` once the failure's row was written with the grant's own
    write (a reuse revoking its family)."""

    tenant_id: str | None = None
    app_display_name: str | None = None
    user_id: str | None = None
    recorded: bool = False
    access: Decision | None = None  # conditional access, once evaluated


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    id_token: str | None = None
    client_info: str | None = None


def secrets_token() -> str:
    return secrets.token_urlsafe(48)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def unknown_client(client_id: str) -> OAuthError:
    return OAuthError(
        "unauthorized_client",
        f"Application with identifier '{client_id[:64]}' was not found in the directory.",
        code=700016,
    )


def grant_error(code: int, message: str) -> OAuthError:
    return OAuthError("invalid_grant", message, code=code)


def revoke_family_statement(family_id: str, now: datetime) -> Update:
    return (
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_family(session: Session, family_id: str, now: datetime) -> None:
    session.execute(revoke_family_statement(family_id, now))


class _Account(Protocol):
    @property
    def tenant_id(self) -> str: ...
    @property
    def deleted_at(self) -> datetime | None: ...
    @property
    def account_enabled(self) -> bool: ...


AccountT = TypeVar("AccountT", bound=_Account)


def active(user: AccountT | None, tenant_id: str) -> AccountT:
    if user is None or user.tenant_id != tenant_id or user.deleted_at is not None:
        raise grant_error(50034, "The user account does not exist in this tenant.")
    if not user.account_enabled:
        raise grant_error(50057, "The user account is disabled.")
    return user


def scopes_of(session: Session | None, tenant_id: str, text: str, graph_sp: str | None = None) -> RequestedScopes:
    try:
        return parse(session, tenant_id, text, graph_sp)
    except ScopeError as exc:  # the API's permissions changed since the sign-in
        raise OAuthError(exc.error, exc.message, code=exc.code) from None


def narrowed(
    session: Session | None, tenant_id: str, granted: str, asked: str, graph_sp: str | None = None
) -> RequestedScopes:
    """The refresh token's scopes, or the subset the request asks for (never more than the sign-in granted)."""
    have = scopes_of(session, tenant_id, granted, graph_sp)
    if not asked.strip():
        return have
    want = scopes_of(session, tenant_id, asked, graph_sp)
    if (
        want.resource.sp_id != have.resource.sp_id
        or not set(want.values) <= set(have.values)
        or (want.default and not have.default)
    ):
        raise OAuthError("invalid_grant", "The requested scopes were not granted at sign-in.", code=65001)
    oidc = tuple(s for s in have.oidc if s in want.oidc or s == "offline_access")
    return RequestedScopes(oidc, have.resource, want.values, want.default, have.graph_sp_id)


def check_verifier(challenge: str | None, verifier: str) -> None:
    if challenge is None:
        if verifier:
            raise grant_error(501481, "A code_verifier was sent for a code requested without a code_challenge.")
        return
    if not verifier:
        raise OAuthError(
            "invalid_request", "The request body must contain the following parameter: 'code_verifier'.", code=900144
        )
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    if not hmac.compare_digest(computed, challenge):
        raise grant_error(
            501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."
        )


# Codes and refresh tokens stay this long past their end, so a late replay still meets reuse detection.
SPENT_KEPT = timedelta(days=1)


def prune_expired_grants(sessions: sessionmaker[Session], now: datetime) -> None:
    """Housekeeping: authorization codes, refresh tokens and client-assertion ids past their end."""
    with sessions.begin() as session:
        session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at <= now - SPENT_KEPT))
        session.execute(delete(RefreshToken).where(RefreshToken.expires_at <= now - SPENT_KEPT))
        session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at <= now))
