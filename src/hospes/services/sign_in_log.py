"""The sign-in log: one row per sign-in to an app (OpenID Connect, SAML, the token endpoint's grants), success or
failure, in the resource tenant. Written by the sign-in paths, read by the sign-in log surfaces.

A failure is recorded in its own short transaction, so it survives the rollback of whatever failed; a success is
recorded in the transaction that issues what it grants (``add``), so the log never shows a sign-in that did not
happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.ids import new_id
from hospes.storage.tables import User
from hospes.storage.tables_sso import SignIn

_TEXT = 1024


@dataclass(frozen=True)
class SignInEvent:
    """What happened. ``error_code`` is the AADSTS number of a failure, 0 for a success."""

    tenant_id: str
    at: datetime
    protocol: str  # oidc | saml | password | clientCredentials | refreshToken | authorizationCode
    app_id: str | None = None
    app_display_name: str | None = None
    user: User | None = None
    login_name: str | None = None  # what was typed, when no account matched
    home_tenant_id: str | None = None
    interactive: bool = True
    ip_address: str | None = None
    user_agent: str | None = None
    correlation_id: str | None = None
    error_code: int = 0
    failure_reason: str | None = None
    resource_display_name: str | None = None
    conditional_access_status: str = "notApplied"  # success | failure | notApplied
    details: dict[str, Any] = field(default_factory=dict)


def add(session: Session, event: SignInEvent) -> str:
    """Add the event's row to ``session`` (the caller commits); returns its id."""
    user = event.user
    row = SignIn(
        id=new_id(),
        tenant_id=event.tenant_id,
        created_at=event.at,
        user_id=user.id if user is not None else None,
        user_principal_name=(user.user_principal_name if user is not None else event.login_name or None),
        user_display_name=user.display_name if user is not None else None,
        user_type=user.user_type if user is not None else None,
        home_tenant_id=event.home_tenant_id,
        app_id=event.app_id,
        app_display_name=event.app_display_name,
        resource_display_name=event.resource_display_name,
        protocol=event.protocol,
        is_interactive=event.interactive,
        ip_address=(event.ip_address or "")[:64] or None,
        user_agent=(event.user_agent or "")[:512] or None,
        correlation_id=(event.correlation_id or "")[:64] or None,
        error_code=event.error_code,
        failure_reason=(event.failure_reason or "")[:_TEXT] or None,
        conditional_access_status=event.conditional_access_status,
        details=event.details,
    )
    session.add(row)
    if user is not None and event.error_code == 0 and event.interactive:
        # The portal's "last sign-in" counts a sign-in to an app like one to Hospes's own pages.
        session.execute(update(User).where(User.id == user.id).values(last_sign_in_at=event.at))
    return row.id


def record(sessions: sessionmaker[Session], event: SignInEvent) -> str:
    """Record the event in a transaction of its own (failures, and successes that write nothing else)."""
    with sessions.begin() as session:
        return add(session, event)
