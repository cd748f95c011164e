"""The token endpoint's user grants: ``authorization_code`` and ``refresh_token``.

A code is single use, lives 60 seconds and is bound to its tenant, client, redirect URI and PKCE challenge; a code
presented again is refused (AADSTS54005) and revokes the refresh-token family its first exchange started. Refresh
tokens rotate: each use spends the token and returns a new one of the same family; a spent token presented again
revokes the whole family (the thief's copy and the rightful one alike). A family lives 90 days from its last use,
24 hours in all for single-page apps. Disabling or deleting the user, or revoking their sessions, revokes their
refresh tokens (``web_sessions.revoke_user_sessions``).

Each redemption, code or refresh token, is a non-interactive sign-in of the user in the sign-in log: a success
written in the transaction that issues the tokens, a failure in its own (or in the one that revokes a family).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from hospes.services import sign_in_log
from hospes.services.memberships import transitive_groups
from hospes.services.oauth import OAuthError, protocol_tenant_id_in
from hospes.services.oidc.claims import (
    Issuance,
    OidcTokens,
    Person,
    Subject,
    assigned_roles,
    directory_roles,
    group_claim,
    subject_of,
)
from hospes.services.oidc.client_auth import PUBLIC, ClientAuthenticator, ClientProof
from hospes.services.oidc.clients import RelyingParty, read_relying_party
from hospes.services.oidc.consent import consented
from hospes.services.oidc.grant_rules import (
    REFRESH_LIFETIME,
    SPA_REFRESH_LIFETIME,
    GrantTrail,
    TokenSet,
    UserGrantRequest,
    active,
    check_verifier,
    digest,
    grant_error,
    revoke_family,
    scopes_of,
    secrets_token,
    unknown_client,
)
from hospes.services.oidc.refresh import (
    INSERT_REFRESH,
    REFRESH_DETAILS,
    REVOKE_FAMILY,
    USER_ROW,
    RawPerson,
    graph_principal_of,
    refresh_grant,
)
from hospes.services.oidc.scopes import RequestedScopes
from hospes.services.token_access import token_log
from hospes.storage.engine import RawReads, WouldWaitError, raw_reads, raw_write_on
from hospes.storage.tables import Application, ServicePrincipal, User
from hospes.storage.tables_sso import AuthorizationCode

# The code redemption's raw read and write.
_CODE = select(
    AuthorizationCode.code_hash,
    AuthorizationCode.tenant_id,
    AuthorizationCode.client_id,
    AuthorizationCode.user_id,
    AuthorizationCode.sid,
    AuthorizationCode.redirect_uri,
    AuthorizationCode.scope,
    AuthorizationCode.nonce,
    AuthorizationCode.code_challenge,
    AuthorizationCode.auth_time,
    AuthorizationCode.amr,
    AuthorizationCode.family_id,
    AuthorizationCode.expires_at,
    AuthorizationCode.used_at,
).where(AuthorizationCode.code_hash == bindparam("hash"))
_SPEND_CODE = (
    update(AuthorizationCode)
    .where(AuthorizationCode.code_hash == bindparam("hash"), AuthorizationCode.used_at.is_(None))
    .values(used_at=bindparam("now"))
)


@dataclass(frozen=True)
class _Code:
    code_hash: str
    tenant_id: str
    client_id: str
    user_id: str
    sid: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    auth_time: datetime
    amr: list[str]
    family_id: str
    expires_at: datetime
    used_at: datetime | None


class UserTokenGrants:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tokens: OidcTokens,
        clients: ClientAuthenticator,
        writer_turn: Callable[[], AbstractContextManager[None]] = nullcontext,
        writer_turn_now: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        """``writer_turn``: ``Database.writer_turn``, so refreshes arriving together queue for SQLite's one write
        lock instead of sleeping in its busy handler; ``writer_turn_now`` (``Database.writer_turn_now``) the same
        without waiting, for ``refresh_now``."""
        self.sessions, self.tokens, self.clients, self.writer_turn = sessions, tokens, clients, writer_turn
        self.writer_turn_now = writer_turn_now
        self.engine: Engine = sessions.kw["bind"]
        self._graph_sps: dict[str, str] = {}

    def _endpoints(self, tenant_id: str, tenant_key: str) -> set[str]:
        base = self.tokens.issuer.public_url
        return {f"{base}/{tenant_id}/oauth2/v2.0/token", f"{base}/{tenant_key}/oauth2/v2.0/token"}

    # --- authorization_code ----------------------------------------------------------------------------------------

    def authorization_code(self, request: UserGrantRequest) -> TokenSet:
        trail = GrantTrail()
        try:
            return self._authorization_code(request, trail)
        except OAuthError as exc:
            self._failed(request.proof, "authorizationCode", trail, exc)
            raise

    def _authorization_code(self, request: UserGrantRequest, trail: GrantTrail) -> TokenSet:
        with raw_reads(self.engine) as reads:  # one pool checkout for the reads and the write
            return self._redeem(request, trail, reads)

    def _redeem(self, request: UserGrantRequest, trail: GrantTrail, reads: RawReads) -> TokenSet:
        """The code's redemption: raw reads and one raw write (spend the code, insert the refresh token and the
        sign-in row), as the refresh grant does; a session only for the claims the tokens carry."""
        proof, now = request.proof, request.proof.now
        tenant_id = trail.tenant_id = protocol_tenant_id_in(reads, request.tenant_key)
        found = read_relying_party(reads, tenant_id, proof.client_id)
        if found is None:
            raise unknown_client(proof.client_id)
        rp, secrets = found
        if not rp.account_enabled:
            raise OAuthError("unauthorized_client", f"Application '{rp.client_id}' is disabled.", code=7000112)
        trail.app_display_name = rp.display_name
        rows = reads.rows(_CODE, {"hash": digest(request.code)}) if request.code else []
        if not rows:
            raise grant_error(70000, "The provided authorization code is not valid.")
        row = _Code(*rows[0])
        if row.tenant_id != tenant_id:
            raise grant_error(700005, "Provided authorization code is intended to use against other tenant.")
        if row.client_id != rp.client_id:
            raise grant_error(70000, "The authorization code was issued to another client.")
        trail.user_id = row.user_id
        reused = grant_error(54005, "OAuth2 Authorization code was already redeemed; its tokens are revoked.")
        public = rp.platform_of(row.redirect_uri) in ("spa", "publicClient")
        azpacr = self.clients.authenticate(
            rp,
            proof,
            public=public or rp.is_public,
            audiences=self._endpoints(tenant_id, request.tenant_key),
            grant="authorization_code",
            secrets=secrets,
            reads=reads,
        )
        if row.used_at is not None:  # after authentication: a leaked code alone must not revoke anything
            with self.sessions.begin() as session:
                revoke_family(session, row.family_id, now)
                self.record_failure(session, trail, proof, "authorizationCode", reused)
            raise reused
        if request.redirect_uri != row.redirect_uri:
            raise grant_error(50011, "The redirect_uri does not match the one the authorization code was issued for.")
        if row.expires_at <= now:
            raise grant_error(70008, "The provided authorization code has expired.")
        check_verifier(row.code_challenge, request.code_verifier)
        spa = rp.platform_of(row.redirect_uri) == "spa"
        user_rows = reads.rows(USER_ROW, {"id": row.user_id})
        user = active(RawPerson(*user_rows[0]) if user_rows else None, tenant_id)
        graph_sp = graph_principal_of(self, reads, tenant_id)
        try:
            scopes = scopes_of(None, tenant_id, row.scope, graph_sp)
        except LookupError:  # an API's scopes: read its registration
            with self.sessions() as session:
                scopes = scopes_of(session, tenant_id, row.scope, graph_sp)
        refresh = secrets_token() if "offline_access" in scopes.oidc else None
        with self.writer_turn(), raw_write_on(reads) as write:
            spent = write.execute(_SPEND_CODE, {"hash": row.code_hash, "now": now})
            if spent != 1:  # another request redeemed it first
                write.execute(REVOKE_FAMILY, {"family": row.family_id, "now": now})
                error: tuple[int, str] | None = (reused.code or sign_in_log.TOKEN_ERROR, str(reused))
            else:
                error = None
                if refresh is not None:
                    write.execute(
                        INSERT_REFRESH,
                        {
                            "token_hash": digest(refresh),
                            "tenant_id": tenant_id,
                            "family_id": row.family_id,
                            "client_id": rp.client_id,
                            "user_id": user.id,
                            "sid": row.sid,
                            "scope": scopes.text,
                            "auth_time": row.auth_time,
                            "amr": row.amr,
                            "created_at": now,
                            "expires_at": now + (SPA_REFRESH_LIFETIME if spa else REFRESH_LIFETIME),
                            "used_at": None,
                            "revoked_at": None,
                            # Without a client credential: a confidential client's token is refreshed only with
                            # its credential, so a stolen one is useless without the secret or key.
                            "public_client": azpacr == PUBLIC,
                        },
                    )
            event = sign_in_log.token_event(
                tenant_id, now, "authorizationCode", proof.address, app_id=rp.client_id,
                app_display_name=rp.display_name, user=user, error=error, details=_CODE_DETAILS,
            )  # fmt: skip
            sign_in_log.add_raw(write, event)
        if spent != 1:
            trail.recorded = True
            raise reused
        id_token = "openid" in scopes.oidc
        with self.sessions() as session:
            grant = self._issuance(session, rp, user, scopes, row.sid, row.nonce, row.auth_time, row.amr, azpacr)
            subject = self._subject(session, rp, user, scopes, id_token=id_token)
        return self._token_set(grant, subject, scopes, refresh, request.client_info, id_token=id_token)

    # --- refresh_token ---------------------------------------------------------------------------------------------

    def refresh(self, request: UserGrantRequest) -> TokenSet:
        trail = GrantTrail()
        try:
            return refresh_grant(self, request, trail)
        except OAuthError as exc:
            self._failed(request.proof, "refreshToken", trail, exc)
            raise

    def refresh_now(self, request: UserGrantRequest) -> TokenSet | None:
        """``refresh`` when it needs no waiting (for the event loop, on SQLite); None when it would: then call
        ``refresh`` in a thread. Nothing was written when it answers None."""
        try:
            return refresh_grant(self, request, GrantTrail(), now_only=True)
        except WouldWaitError:
            return None

    # --- the sign-in log -------------------------------------------------------------------------------------------

    def _failed(self, proof: ClientProof, protocol: str, trail: GrantTrail, exc: OAuthError) -> None:
        if trail.recorded or trail.tenant_id is None:  # recorded already, or no tenant to record it in
            return
        with self.sessions.begin() as session:
            self.record_failure(session, trail, proof, protocol, exc)

    def record_failure(
        self, session: Session, trail: GrantTrail, proof: ClientProof, protocol: str, exc: OAuthError
    ) -> None:
        """Add the failed grant's sign-in row to ``session`` (the caller commits)."""
        assert trail.tenant_id is not None
        user = session.get(User, trail.user_id) if trail.user_id else None
        access_status, access_details = token_log(trail.access)
        event = sign_in_log.token_event(
            trail.tenant_id,
            proof.now,
            protocol,
            proof.address,
            app_id=proof.client_id,
            app_display_name=trail.app_display_name,
            user=user if user is not None and user.tenant_id == trail.tenant_id else None,
            error=(exc.code or sign_in_log.TOKEN_ERROR, str(exc)),
            details={**(_CODE_DETAILS if protocol == "authorizationCode" else REFRESH_DETAILS), **access_details},
            conditional_access_status=access_status,
        )
        sign_in_log.add(session, event)
        trail.recorded = True

    # --- shared ------------------------------------------------------------------------------------------------------

    def _issuance(
        self,
        session: Session,
        rp: RelyingParty,
        user: Person,
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
        self, session: Session, rp: RelyingParty, user: Person, scopes: RequestedScopes, id_token: bool
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


_CODE_DETAILS = {"grantType": "authorization_code"}


def _application_of(session: Session, sp_id: str) -> str:
    sp = session.get(ServicePrincipal, sp_id)
    return sp.application_id if sp is not None and sp.application_id else ""
