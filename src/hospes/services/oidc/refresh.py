"""The refresh grant: the hot path of long-running apps. Its reads are raw (one pooled connection, no ORM session),
its write one small Core transaction (spend the token, insert its successor), then one RSA signature.

Rotation with reuse detection: each use spends the token and returns a new one of the same family; a spent token
presented again revokes the whole family. A family lives 90 days from its last use, a single-page app's 24 hours
from the sign-in (a family that short keeps its end).

Each refresh is a non-interactive sign-in of the user: its success row is written in the transaction that rotates
the token, a reuse's failure row in the one that revokes the family (other failures by ``UserTokenGrants``).

On SQLite the token endpoint runs the grant on the event loop (``now=True``): the thread hop and the lock handoffs
between threads cost more CPU than the grant's own work. Nothing there may wait, so that run raises
WouldWaitError, before anything is written, whenever it would have to (the writer's turn or SQLite's write lock
taken, a failure to record, a secret check with counters to update): the caller runs it again in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update

from hospes.services import sign_in_log
from hospes.services.graph_permissions import GRAPH_APP_ID
from hospes.services.memberships import transitive_groups
from hospes.services.oauth import OAuthError, protocol_tenant_id_in
from hospes.services.oidc.claims import Issuance, is_assigned, subject_of
from hospes.services.oidc.clients import read_relying_party
from hospes.services.oidc.consent import ALL_PRINCIPALS
from hospes.services.oidc.grant_rules import (
    REFRESH_LIFETIME,
    SPA_REFRESH_LIFETIME,
    GrantTrail,
    TokenSet,
    UserGrantRequest,
    active,
    digest,
    grant_error,
    narrowed,
    revoke_family,
    secrets_token,
    unknown_client,
)
from hospes.services.token_access import refusal, token_decision, token_log, token_rules
from hospes.storage.engine import RawReads, WouldWaitError, raw_reads, raw_write_on
from hospes.storage.tables import DirectoryRoleMember, ServicePrincipal, User
from hospes.storage.tables_sso import OAuth2PermissionGrant, RefreshToken

if TYPE_CHECKING:
    from hospes.services.oidc.grants import UserTokenGrants

# The refresh grant's raw reads.
_TOKEN = select(
    RefreshToken.tenant_id,
    RefreshToken.family_id,
    RefreshToken.client_id,
    RefreshToken.user_id,
    RefreshToken.sid,
    RefreshToken.scope,
    RefreshToken.auth_time,
    RefreshToken.amr,
    RefreshToken.created_at,
    RefreshToken.expires_at,
    RefreshToken.used_at,
    RefreshToken.revoked_at,
    RefreshToken.public_client,
).where(RefreshToken.token_hash == bindparam("hash"))
USER_ROW = select(
    User.id,
    User.tenant_id,
    User.user_principal_name,
    User.display_name,
    User.given_name,
    User.surname,
    User.mail,
    User.user_type,
    User.identities,
    User.account_enabled,
    User.deleted_at,
    User.creation_type,
).where(User.id == bindparam("id"))


@dataclass(frozen=True)
class RawPerson:
    """The user as the refresh grant reads it (``claims.Person``; what ``grant_rules.active`` checks)."""

    id: str
    tenant_id: str
    user_principal_name: str
    display_name: str | None
    given_name: str | None
    surname: str | None
    mail: str | None
    user_type: str
    identities: list[dict[str, Any]]
    account_enabled: bool
    deleted_at: datetime | None
    creation_type: str | None


_WIDS = select(DirectoryRoleMember.role_template_id).where(
    DirectoryRoleMember.tenant_id == bindparam("tenant_id"), DirectoryRoleMember.principal_id == bindparam("id")
)
# The write, compiled once: spend the token (only if still unspent and unrevoked), insert its successor; or, when
# another request spent it first, revoke the family.
_SPEND = (
    update(RefreshToken)
    .where(
        RefreshToken.token_hash == bindparam("hash"),
        RefreshToken.used_at.is_(None),
        RefreshToken.revoked_at.is_(None),
    )
    .values(used_at=bindparam("now"))
)
REVOKE_FAMILY = (
    update(RefreshToken)
    .where(RefreshToken.family_id == bindparam("family"), RefreshToken.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
INSERT_REFRESH = insert(RefreshToken)
_GRANTS = select(
    OAuth2PermissionGrant.resource_id,
    OAuth2PermissionGrant.consent_type,
    OAuth2PermissionGrant.principal_id,
    OAuth2PermissionGrant.scope,
).where(
    OAuth2PermissionGrant.tenant_id == bindparam("tenant_id"), OAuth2PermissionGrant.client_id == bindparam("client")
)
_GRAPH_SP = select(ServicePrincipal.id).where(
    ServicePrincipal.tenant_id == bindparam("tenant_id"), ServicePrincipal.app_id == bindparam("app_id")
)


@dataclass(frozen=True)
class _Token:
    tenant_id: str
    family_id: str
    client_id: str
    user_id: str
    sid: str | None
    scope: str
    auth_time: datetime
    amr: list[str]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    public_client: bool


def refresh_grant(
    self: UserTokenGrants, request: UserGrantRequest, trail: GrantTrail, now_only: bool = False
) -> TokenSet:
    """The hot path of long-running apps: its reads are raw (one pooled connection, no ORM session), its write
    one small transaction (spend the token, insert its successor and the sign-in row), then one RSA signature.
    ``trail``: what a failure's sign-in row needs, filled as it is learnt. ``now_only``: never wait (see the
    module's docstring)."""
    if not now_only:
        return _refresh(self, request, trail, False)
    try:
        return _refresh(self, request, trail, True)
    except OAuthError:
        if trail.recorded:  # a reuse found by the write itself: revoked and recorded in its transaction
            raise
        raise WouldWaitError("a failure to record") from None


def _refresh(self: UserTokenGrants, request: UserGrantRequest, trail: GrantTrail, now_only: bool) -> TokenSet:
    with raw_reads(self.engine) as reads:  # one pool checkout for the reads and the write
        return _refresh_on(self, request, trail, now_only, reads)


def _refresh_on(
    self: UserTokenGrants, request: UserGrantRequest, trail: GrantTrail, now_only: bool, reads: RawReads
) -> TokenSet:
    proof, now = request.proof, request.proof.now
    tenant_id = protocol_tenant_id_in(reads, request.tenant_key)
    trail.tenant_id = tenant_id
    found = read_relying_party(reads, tenant_id, proof.client_id)
    if found is None:
        raise unknown_client(proof.client_id)
    rp, secrets = found
    trail.app_display_name = rp.display_name
    if not rp.account_enabled:
        raise OAuthError("unauthorized_client", f"Application '{rp.client_id}' is disabled.", code=7000112)
    rows = reads.rows(_TOKEN, {"hash": digest(request.refresh_token)}) if request.refresh_token else []
    if not rows:
        raise grant_error(9002313, "Invalid request. The refresh token is malformed or not valid.")
    token = _Token(*rows[0])
    if token.tenant_id != tenant_id:
        raise grant_error(700005, "Provided refresh token is intended to use against other tenant.")
    if token.client_id != rp.client_id:
        raise grant_error(70000, "The refresh token was issued to another client.")
    trail.user_id = token.user_id
    azpacr = self.clients.authenticate(
        rp,
        proof,
        # A token a confidential client obtained needs that client's credential again, even when the app also
        # has public-client redirect URIs.
        public=rp.is_public or bool(token.public_client),
        audiences=self._endpoints(tenant_id, request.tenant_key),
        grant="refresh_token",
        secrets=secrets,
        reads=reads,
        quiet=now_only,
    )
    user_rows = reads.rows(USER_ROW, {"id": token.user_id})
    wids = tuple(sorted(r for (r,) in reads.all(_WIDS, {"tenant_id": tenant_id, "id": token.user_id})))
    graph_sp = graph_principal_of(self, reads, tenant_id)
    grants = reads.all(_GRANTS, {"tenant_id": tenant_id, "client": rp.sp_id})
    if token.revoked_at is not None:
        raise grant_error(50173, "The provided grant has been revoked. Sign in again.")
    fixed = token.expires_at - token.created_at <= SPA_REFRESH_LIFETIME
    if token.used_at is not None:
        if now_only:
            raise WouldWaitError("a family to revoke")
        reused = grant_error(50173, "The refresh token was already used; every token of its family is revoked.")
        with self.sessions.begin() as session:
            revoke_family(session, token.family_id, now)
            self.record_failure(session, trail, proof, "refreshToken", reused)
        raise reused
    if token.expires_at <= now:
        if fixed:
            raise grant_error(700084, "The refresh token was issued to a single page app and has expired (24 hours).")
        raise grant_error(70008, "The refresh token has expired due to inactivity.")
    user = active(RawPerson(*user_rows[0]) if user_rows else None, tenant_id)
    if rp.assignment_required:  # an assignment taken away ends the user's tokens, not only their next sign-in
        with self.sessions() as session:
            principals = {user.id, *transitive_groups(session, tenant_id, user.id)}
            if not is_assigned(session, tenant_id, principals, rp.sp_id):
                raise grant_error(
                    50105, "The signed in user is not assigned to a role for the application; sign in again."
                )
    try:
        scopes = narrowed(None, tenant_id, token.scope, request.scope, graph_sp)
    except LookupError:  # an API's scopes: read its registration
        with self.sessions() as session:
            scopes = narrowed(session, tenant_id, token.scope, request.scope, graph_sp)
    _check_consent(grants, user.id, scopes.consent_needed())
    access = trail.access = token_decision(
        token_rules(reads, self.sessions, tenant_id),
        self.sessions,
        tenant_id=tenant_id,
        user_id=user.id,
        person=user,
        roles=wids,
        app_id=rp.client_id,
        client_app_type="mobileAppsAndDesktopClients" if rp.is_public or token.public_client else "browser",
        amr=token.amr,
        authenticated_at=token.auth_time,
        now=now,
        address=proof.address,
    )
    refused = refusal(access)
    if refused is not None:
        raise OAuthError(refused[0], refused[2], code=refused[1])
    access_status, access_details = token_log(access)
    successor = secrets_token()
    turn = self.writer_turn_now if now_only else self.writer_turn
    reused = grant_error(50173, "The refresh token was already used; every token of its family is revoked.")
    with turn(), raw_write_on(reads, wait=not now_only) as write:
        spent = write.execute(_SPEND, {"hash": digest(request.refresh_token), "now": now})
        if spent != 1:
            write.execute(REVOKE_FAMILY, {"family": token.family_id, "now": now})
            error = (reused.code or sign_in_log.TOKEN_ERROR, str(reused))
        else:
            write.execute(
                INSERT_REFRESH,
                {
                    "token_hash": digest(successor),
                    "tenant_id": tenant_id,
                    "family_id": token.family_id,
                    "client_id": rp.client_id,
                    "user_id": user.id,
                    "sid": token.sid,
                    "scope": token.scope,
                    "auth_time": token.auth_time,
                    "amr": token.amr,
                    "created_at": now,
                    "expires_at": token.expires_at if fixed else now + REFRESH_LIFETIME,
                    "used_at": None,
                    "revoked_at": None,
                    "public_client": bool(token.public_client),
                },
            )
            error = None
        event = sign_in_log.token_event(
            tenant_id, now, "refreshToken", proof.address, app_id=rp.client_id, app_display_name=rp.display_name,
            user=user, error=error, details={**REFRESH_DETAILS, **access_details},
            conditional_access_status=access_status,
        )  # fmt: skip
        sign_in_log.add_raw(write, event)
    if spent != 1:
        trail.recorded = True
        raise reused
    if scopes.default or scopes.resource.kind == "app":  # consent or the API's roles to read
        with self.sessions() as session:
            grant = self._issuance(session, rp, user, scopes, token.sid, None, token.auth_time, token.amr, azpacr)
            subject = self._subject(session, rp, user, scopes, id_token=False)
    else:
        grant = Issuance(
            rp.tenant_id, rp.client_id, user.id, token.sid, scopes, scopes.values, None, token.auth_time,
            tuple(token.amr), azpacr,
        )  # fmt: skip
        subject = subject_of(user, self.tokens.issuer.public_url, wids=wids)
    return self._token_set(grant, subject, scopes, successor, request.client_info, id_token=False)


def _check_consent(grants: list[tuple[Any, ...]], user_id: str, needed: dict[str, frozenset[str]]) -> None:
    """The permissions the token carries are still consented to (for everyone or for this user): a grant an
    administrator removed or narrowed ends what refresh tokens may renew."""
    held: dict[str, set[str]] = {}
    for resource_id, consent_type, principal_id, scope in grants:
        if consent_type == ALL_PRINCIPALS or principal_id == user_id:
            held.setdefault(str(resource_id), set()).update(str(scope or "").split())
    for resource_id, values in needed.items():
        if not values <= held.get(resource_id, set()):
            raise grant_error(
                65001, "The user or administrator has not consented to use the application; sign in again."
            )


REFRESH_DETAILS = {"grantType": "refresh_token", "incomingTokenType": "refreshToken"}


def graph_principal_of(self: UserTokenGrants, reads: RawReads, tenant_id: str) -> str:
    """The tenant's Microsoft Graph principal: made with the tenant, never deleted, so kept once read."""
    found = self._graph_sps.get(tenant_id)
    if found is None:
        row = reads.one(_GRAPH_SP, {"tenant_id": tenant_id, "app_id": GRAPH_APP_ID})
        if row is None:
            raise OAuthError("invalid_resource", "The tenant has no Microsoft Graph principal.", code=500011)
        found = self._graph_sps[tenant_id] = str(row[0])
    return found
