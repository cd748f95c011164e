"""What the composition root (``hospes.asgi``) builds once per process and sets on the app as
``app.state.runtime``: every surface (Graph, OAuth, pages) reads its settings, database, keys and the long-lived
services from here, through its own ``deps.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import SecretBox
from hospes.auth.keys import ServerKeys
from hospes.auth.tokens import TokenIssuer
from hospes.domain.clock import Clock, utcnow
from hospes.provisioning import ProvisioningService
from hospes.services.invitations.batch import InvitationBatcher
from hospes.services.invitations.service import InviteConfig
from hospes.services.oidc.authorizer import Authorizer
from hospes.services.oidc.claims import OidcTokens
from hospes.services.oidc.client_auth import ClientAuthenticator
from hospes.services.oidc.grants import UserTokenGrants
from hospes.services.oidc.logout import EndSession
from hospes.services.sign_in_log import SignInBuffer
from hospes.services.signin import ClientSecretSignIn, PasswordSignIn
from hospes.services.throttle import Throttle
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.workers import Workers


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database: Database
    box: SecretBox
    keys: ServerKeys
    issuer: TokenIssuer
    provisioning: ProvisioningService
    workers: Workers
    invitations: InvitationBatcher = field(default_factory=InvitationBatcher)  # group commit of POST /invitations
    # "Now" for the sign-in pages and the token endpoint (sessions, lockouts); tests pass a clock they move.
    clock: Clock = utcnow

    @property
    def sessions(self) -> sessionmaker[Session]:
        """``database.sessions``: what most services take."""
        return self.database.sessions

    @cached_property
    def throttle(self) -> Throttle:
        return Throttle(self.sessions, self.settings)

    @cached_property
    def passwords(self) -> PasswordSignIn:
        """The one password check of every way in (sign-in page, password grant): one lockout per account."""
        return PasswordSignIn(self.sessions, self.throttle)

    @cached_property
    def client_secrets(self) -> ClientSecretSignIn:
        return ClientSecretSignIn(self.sessions, self.throttle)

    @cached_property
    def invite_config(self) -> InviteConfig:
        """What an invitation takes from the process (public URL, link lifetime, mail settings, the key that signs
        the "block future invitations" link): the same for Graph's ``POST /invitations`` and the portal."""
        return InviteConfig.from_settings(self.settings, self.keys.seal)

    @cached_property
    def oidc_tokens(self) -> OidcTokens:
        """ID tokens, delegated access tokens and pairwise subjects (the tenant keys derived once per process)."""
        return OidcTokens(self.issuer, self.keys.subject_key)  # pairwise subjects outlive HMAC rotations

    @cached_property
    def authorizer(self) -> Authorizer:
        return Authorizer(self.sessions, self.oidc_tokens)

    @cached_property
    def user_grants(self) -> UserTokenGrants:
        """The token endpoint's ``authorization_code`` and ``refresh_token`` grants; certificates stay loaded."""
        clients = ClientAuthenticator(self.sessions, self.client_secrets)
        database = self.database
        return UserTokenGrants(self.sessions, self.oidc_tokens, clients, database.writer_turn, database.writer_turn_now)

    @cached_property
    def sign_ins(self) -> SignInBuffer:
        """The client-credentials grant's sign-in rows, written in batches (stopped, so flushed, at shutdown)."""
        return SignInBuffer(self.database.engine, self.database.writer_turn)

    @cached_property
    def end_session(self) -> EndSession:
        return EndSession(self.sessions, self.oidc_tokens)
