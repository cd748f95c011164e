"""The token endpoint's user grants: ``authorization_code`` and ``refresh_token``.

A code is single use, lives 60 seconds and is bound to its tenant, client, redirect URI and PKCE challenge; a code
presented again is refused (AADSTS54005) and revokes the refresh-token family its first exchange started. Refresh
tokens rotate: each use spends the token and returns a new one of the same family; a spent token presented again
revokes the whole family (the thief's copy and the rightful one alike). A family lives 90 days from its last use,
24 hours in all for single-page apps. Disabling or deleting the user, or revoking their sessions, revokes their
refresh tokens (``web_sessions.revoke_user_sessions``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.oauth import OAuthError, protocol_tenant_id
from hospes.services.oidc.claims import (
    Issuance,
    OidcTokens,
    Subject,
    assigned_roles,
    directory_roles,
    group_claim,
    subject_of,
    transitive_groups,
)
from hospes.services.oidc.client_auth import ClientAuthenticator, ClientProof
from hospes.services.oidc.clients import RelyingParty, load_relying_party
from hospes.services.oidc.consent import consented
from hospes.services.oidc.scopes import RequestedScopes, ScopeError, parse
from hospes.storage.tables import Application, ServicePrincipal, User
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


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    id_token: str | None = None
    client_info: str | None = None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _grant_error(code: int, message: str) -> OAuthError:
    return OAuthError("invalid_grant", message, code=code)


def revoke_family(session: Session, family_id: str, now: datetime) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


class UserTokenGrants:
    def __init__(self, sessions: sessionmaker[Session], tokens: OidcTokens, clients: ClientAuthenticator) -> None:
        self.sessions, self.tokens, self.clients = sessions, tokens, clients

    def _endpoints(self, tenant_id: str, tenant_key: str) -> set[str]:
        base = self.tokens.issuer.public_url
        return {f"{base}/{tenant_id}/oauth2/v2.0/token", f"{base}/{tenant_key}/oauth2/v2.0/token"}

    def _client(self, session: Session, tenant_id: str, client_id: str) -> RelyingParty:
        rp = load_relying_party(session, tenant_id, client_id)
        if rp is None:
            raise OAuthError(
                "unauthorized_client",
                f"Application with identifier '{client_id[:64]}' was not found in the directory.",
                code=700016,
            )
        if not rp.account_enabled:
            raise OAuthError("unauthorized_client", f"Application '{rp.client_id}' is disabled.", code=7000112)
        return rp

    # --- authorization_code ----------------------------------------------------------------------------------------

    def authorization_code(self, request: UserGrantRequest) -> TokenSet:
        proof, now = request.proof, request.proof.now
        tenant_id = protocol_tenant_id(self.sessions, request.tenant_key)
        with self.sessions() as session:
            rp = self._client(session, tenant_id, proof.client_id)
            row = session.get(AuthorizationCode, digest(request.code)) if request.code else None
        if row is None:
            raise _grant_error(70000, "The provided authorization code is not valid.")
        if row.tenant_id != tenant_id:
            raise _grant_error(700005, "Provided authorization code is intended to use against other tenant.")
        if row.client_id != rp.client_id:
            raise _grant_error(70000, "The authorization code was issued to another client.")
        if row.used_at is not None:
            with self.sessions.begin() as session:
                revoke_family(session, row.family_id, now)
            raise _grant_error(54005, "OAuth2 Authorization code was already redeemed; its tokens are revoked.")
        public = rp.platform_of(row.redirect_uri) in ("spa", "publicClient")
        azpacr = self.clients.authenticate(
            rp,
            proof,
            public=public or rp.is_public,
            audiences=self._endpoints(tenant_id, request.tenant_key),
            grant="authorization_code",
        )
        if request.redirect_uri != row.redirect_uri:
            raise _grant_error(50011, "The redirect_uri does not match the one the authorization code was issued for.")
        if row.expires_at <= now:
            raise _grant_error(70008, "The provided authorization code has expired.")
        _check_verifier(row.code_challenge, request.code_verifier)
        spa = rp.platform_of(row.redirect_uri) == "spa"
        with self.sessions.begin() as session:
            spent = session.execute(
                update(AuthorizationCode)
                .where(AuthorizationCode.code_hash == row.code_hash, AuthorizationCode.used_at.is_(None))
                .values(used_at=now)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                revoke_family(session, row.family_id, now)
                raced = True
            else:
                raced = False
                user = _active_user(session, row.user_id, tenant_id)
                scopes = _scopes(session, tenant_id, row.scope)
                refresh = None
                if "offline_access" in scopes.oidc:
                    refresh = self._new_refresh(
                        session,
                        row.family_id,
                        rp,
                        user.id,
                        row.sid,
                        scopes.text,
                        row.auth_time,
                        row.amr,
                        now,
                        now + (SPA_REFRESH_LIFETIME if spa else REFRESH_LIFETIME),
                    )
                grant = self._issuance(session, rp, user, scopes, row.sid, row.nonce, row.auth_time, row.amr, azpacr)
                subject = self._subject(session, rp, user, scopes, id_token="openid" in scopes.oidc)
        if raced:
            raise _grant_error(54005, "OAuth2 Authorization code was already redeemed; its tokens are revoked.")
        return self._token_set(grant, subject, scopes, refresh, request.client_info, id_token="openid" in scopes.oidc)

    # --- refresh_token ---------------------------------------------------------------------------------------------

    def refresh(self, request: UserGrantRequest) -> TokenSet:
        proof, now = request.proof, request.proof.now
        tenant_id = protocol_tenant_id(self.sessions, request.tenant_key)
        with self.sessions() as session:
            rp = self._client(session, tenant_id, proof.client_id)
            row = session.get(RefreshToken, digest(request.refresh_token)) if request.refresh_token else None
        if row is None:
            raise _grant_error(9002313, "Invalid request. The refresh token is malformed or not valid.")
        if row.tenant_id != tenant_id:
            raise _grant_error(700005, "Provided refresh token is intended to use against other tenant.")
        if row.client_id != rp.client_id:
            raise _grant_error(70000, "The refresh token was issued to another client.")
        public = rp.is_public or bool(rp.spa or rp.public)
        azpacr = self.clients.authenticate(
            rp, proof, public=public, audiences=self._endpoints(tenant_id, request.tenant_key), grant="refresh_token"
        )
        if row.revoked_at is not None:
            raise _grant_error(50173, "The provided grant has been revoked. Sign in again.")
        fixed = row.expires_at - row.created_at <= SPA_REFRESH_LIFETIME
        if row.used_at is not None:
            with self.sessions.begin() as session:
                revoke_family(session, row.family_id, now)
            raise _grant_error(50173, "The refresh token was already used; every token of its family is revoked.")
        if row.expires_at <= now:
            if fixed:
                raise _grant_error(
                    700084, "The refresh token was issued to a single page app and has expired (24 hours)."
                )
            raise _grant_error(70008, "The refresh token has expired due to inactivity.")
        with self.sessions.begin() as session:
            spent = session.execute(
                update(RefreshToken)
                .where(
                    RefreshToken.token_hash == row.token_hash,
                    RefreshToken.used_at.is_(None),
                    RefreshToken.revoked_at.is_(None),
                )
                .values(used_at=now)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                revoke_family(session, row.family_id, now)
                raced = True
            else:
                raced = False
                user = _active_user(session, row.user_id, tenant_id)
                scopes = _narrowed(session, tenant_id, row.scope, request.scope)
                refresh = self._new_refresh(
                    session,
                    row.family_id,
                    rp,
                    user.id,
                    row.sid,
                    row.scope,
                    row.auth_time,
                    row.amr,
                    now,
                    row.expires_at if fixed else now + REFRESH_LIFETIME,
                )
                grant = self._issuance(session, rp, user, scopes, row.sid, None, row.auth_time, row.amr, azpacr)
                subject = self._subject(session, rp, user, scopes, id_token=False)
        if raced:
            raise _grant_error(50173, "The refresh token was already used; every token of its family is revoked.")
        return self._token_set(grant, subject, scopes, refresh, request.client_info, id_token=False)

    # --- shared ------------------------------------------------------------------------------------------------------

    def _new_refresh(
        self,
        session: Session,
        family_id: str,
        rp: RelyingParty,
        user_id: str,
        sid: str | None,
        scope: str,
        auth_time: datetime,
        amr: list[str],
        now: datetime,
        expires_at: datetime,
    ) -> str:
        token = secrets.token_urlsafe(48)
        session.add(
            RefreshToken(
                token_hash=digest(token),
                tenant_id=rp.tenant_id,
                family_id=family_id,
                client_id=rp.client_id,
                user_id=user_id,
                sid=sid,
                scope=scope,
                auth_time=auth_time,
                amr=amr,
                created_at=now,
                expires_at=expires_at,
            )
        )
        return token

    def _issuance(
        self,
        session: Session,
        rp: RelyingParty,
        user: User,
        scopes: RequestedScopes,
        sid: str | None,
        nonce: str | None,
        auth_time: datetime,
        amr: list[str],
        azpacr: int,
    ) -> Issuance:
        effective = list(scopes.values)
        if scopes.default:
            granted = consented(session, rp.tenant_id, rp.sp_id, user.id, scopes.resource.sp_id)
            effective += sorted(granted - set(effective) - {"openid", "profile", "email", "offline_access"})
        return Issuance(
            tenant_id=rp.tenant_id,
            client_id=rp.client_id,
            user_id=user.id,
            sid=sid,
            scopes=scopes,
            effective=tuple(effective),
            nonce=nonce,
            auth_time=auth_time,
            amr=tuple(amr),
            azpacr=azpacr,
        )

    def _subject(
        self, session: Session, rp: RelyingParty, user: User, scopes: RequestedScopes, id_token: bool
    ) -> Subject:
        groups: set[str] = set()
        roles: list[str] = []
        group_values: list[str] | None = None
        needs_groups = id_token or scopes.resource.kind == "app"
        if needs_groups:
            groups = transitive_groups(session, rp.tenant_id, user.id)
        if id_token:
            roles = assigned_roles(session, rp.tenant_id, {user.id, *groups}, rp.sp_id, rp.app_roles)
            group_values = group_claim(session, rp.tenant_id, groups, rp.group_membership_claims)
        api_roles: list[str] = []
        if scopes.resource.kind == "app":
            api = session.get(Application, _application_of(session, scopes.resource.sp_id))
            definitions = api.app_roles if api is not None else []
            api_roles = assigned_roles(session, rp.tenant_id, {user.id, *groups}, scopes.resource.sp_id, definitions)
        return subject_of(
            session,
            user,
            self.tokens.issuer.public_url,
            wids=tuple(directory_roles(session, rp.tenant_id, user.id)),
            roles=tuple(roles),
            groups=tuple(group_values) if group_values is not None else None,
            api_roles=tuple(api_roles),
        )

    def _token_set(
        self,
        grant: Issuance,
        subject: Subject,
        scopes: RequestedScopes,
        refresh: str | None,
        client_info: bool,
        id_token: bool,
    ) -> TokenSet:
        access, lifetime = self.tokens.access_token(grant, subject)
        info = None
        if client_info:
            raw = json.dumps({"uid": subject.id, "utid": grant.tenant_id}).encode()
            info = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return TokenSet(
            access_token=access,
            expires_in=lifetime,
            scope=scopes.text,
            refresh_token=refresh,
            id_token=self.tokens.id_token(grant, subject) if id_token else None,
            client_info=info,
        )


def _application_of(session: Session, sp_id: str) -> str:
    sp = session.get(ServicePrincipal, sp_id)
    return sp.application_id if sp is not None and sp.application_id else ""


def _active_user(session: Session, user_id: str, tenant_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id or user.deleted_at is not None:
        raise _grant_error(50034, "The user account does not exist in this tenant.")
    if not user.account_enabled:
        raise _grant_error(50057, "The user account is disabled.")
    return user


def _scopes(session: Session, tenant_id: str, text: str) -> RequestedScopes:
    try:
        return parse(session, tenant_id, text)
    except ScopeError as exc:  # the API's permissions changed since the sign-in
        raise OAuthError(exc.error, exc.message, code=exc.code) from None


def _narrowed(session: Session, tenant_id: str, granted: str, asked: str) -> RequestedScopes:
    """The refresh token's scopes, or the subset the request asks for (never more than the sign-in granted)."""
    have = _scopes(session, tenant_id, granted)
    if not asked.strip():
        return have
    want = _scopes(session, tenant_id, asked)
    if (
        want.resource.sp_id != have.resource.sp_id
        or not set(want.values) <= set(have.values)
        or (want.default and not have.default)
    ):
        raise OAuthError("invalid_grant", "The requested scopes were not granted at sign-in.", code=65001)
    oidc = tuple(s for s in have.oidc if s in want.oidc or s == "offline_access")
    return RequestedScopes(oidc, have.resource, want.values, want.default, have.graph_sp_id)


def _check_verifier(challenge: str | None, verifier: str) -> None:
    if challenge is None:
        if verifier:
            raise _grant_error(501481, "A code_verifier was sent for a code requested without a code_challenge.")
        return
    if not verifier:
        raise OAuthError(
            "invalid_request", "The request body must contain the following parameter: 'code_verifier'.", code=900144
        )
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    if not hmac.compare_digest(computed, challenge):
        raise _grant_error(
            501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."
        )
