"""What the composition root hands to the HTTP surfaces: settings, sessions, keys, token issuer."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.keys import ServerKeys
from hospes.auth.tokens import TokenIssuer
from hospes.services.invitation_batch import InvitationBatcher
from hospes.settings import Settings


@dataclass(frozen=True)
class AppState:
    settings: Settings
    sessions: sessionmaker[Session]
    keys: ServerKeys
    issuer: TokenIssuer
    invitations: InvitationBatcher = field(default_factory=InvitationBatcher)  # group commit of POST /invitations
