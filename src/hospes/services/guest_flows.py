"""Guest flows: one browser's way through redemption, guest sign-in or the unsubscribe portal, kept as a row keyed by
the SHA-256 of a random token (the browser holds the token in a cookie) and valid 30 minutes. Every step reads the
flow as a detached ``FlowView`` and records its progress with ``GuestFlows.update``.

Also here: the views of the organizations and guests the pages show, and the checks a redirect URL passes before
the browser is sent there. No HTTP here.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.ids import new_id
from hospes.storage.tables import Domain, Tenant, User
from hospes.storage.tables_redemption import GuestFlow

FLOW_LIFETIME = timedelta(minutes=30)


def flow_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def safe_redirect(url: str | None) -> str | None:
    """``inviteRedirectUrl`` checked again before the browser goes there: absolute http(s), a host, no
    credentials, no control characters or backslashes (``javascript:``, ``data:``, ``//evil`` are refused)."""
    if not url or len(url) > 2048 or any(ord(c) < 33 or c == "\\" for c in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    if not url.lower().startswith(("http://", "https://")):
        return None
    return url


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass(frozen=True)
class OrgView:
    id: str
    name: str
    domain: str
    privacy_url: str | None


def org_view(session: Session, tenant: Tenant) -> OrgView:
    domains = list(session.scalars(select(Domain).where(Domain.tenant_id == tenant.id)))
    default = next((d.name for d in domains if d.is_default), None)
    initial = next((d.name for d in domains if d.is_initial), None)
    return OrgView(tenant.id, tenant.display_name, default or initial or "", tenant.privacy_statement_url)


def home_tenant_of(session: Session, email: str, resource_tenant_id: str | None) -> OrgView | None:
    """The tenant of this deployment owning the address's domain (verified), other than the resource tenant."""
    domain = email.rpartition("@")[2].lower()
    if not domain:
        return None
    owner = session.scalar(select(Domain.tenant_id).where(Domain.name == domain, Domain.is_verified))
    if owner is None or owner == resource_tenant_id:
        return None
    tenant = session.get(Tenant, owner)
    return org_view(session, tenant) if tenant else None


def guest_by_email(session: Session, tenant_id: str, email: str) -> User | None:
    """The tenant's guest (or invited member) with this address, enabled; None for anyone else."""
    key = email.lower()
    if "@" not in key:
        return None
    rows = session.scalars(
        select(User).where(
            User.tenant_id == tenant_id,
            User.deleted_at.is_(None),
            User.account_enabled.is_(True),
            or_(User.user_type == "Guest", User.creation_type == "Invitation"),
            or_(User.mail_key == key, User.upn_key == key),
        )
    )
    return next(iter(rows), None)


@dataclass(frozen=True)
class GuestView:
    """The guest a flow signs in, as the pages and the browser session need it."""

    id: str
    tenant_id: str
    user_principal_name: str
    display_name: str | None


def guest_view(user: User) -> GuestView:
    return GuestView(user.id, user.tenant_id, user.user_principal_name, user.display_name)


@dataclass
class FlowView:
    """A detached copy of a flow row for the pages."""

    token_hash: str
    flow_id: str
    kind: str
    tenant_id: str | None
    user_id: str | None
    email: str
    invitation_id: str | None
    ticket_hash: str | None
    next_url: str | None
    verified_method: str | None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def amr(self) -> list[str]:
        return list(self.data.get("amr", []))


def _view(row: GuestFlow) -> FlowView:
    return FlowView(
        row.token_hash,
        row.flow_id,
        row.kind,
        row.tenant_id,
        row.user_id,
        row.email,
        row.invitation_id,
        row.ticket_hash,
        row.next_url,
        row.verified_method,
        dict(row.data or {}),
    )


class GuestFlows:
    """The flow rows: start one, read it back by its token or its public id, record a step, end it."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @staticmethod
    def start(session: Session, *, now: datetime, **values: Any) -> str:
        """A new flow in the caller's transaction; the clear token (for the cookie) is returned, never stored."""
        token = secrets.token_urlsafe(32)
        # Opportunistic cleanup keeps the table small without a job.
        session.execute(delete(GuestFlow).where(GuestFlow.expires_at <= now))
        session.add(
            GuestFlow(
                token_hash=flow_hash(token),
                flow_id=new_id(),
                data=values.pop("data", None) or {},
                created_at=now,
                expires_at=now + FLOW_LIFETIME,
                **values,
            )
        )
        return token

    def load(self, token: str | None, now: datetime) -> FlowView | None:
        if not token or len(token) > 128:
            return None
        with self.sessions() as session:
            row = session.get(GuestFlow, flow_hash(token))
            if row is None or row.expires_at <= now:
                return None
            return _view(row)

    def by_flow_id(self, flow_id: str, now: datetime) -> FlowView | None:
        with self.sessions() as session:
            row = session.scalar(select(GuestFlow).where(GuestFlow.flow_id == flow_id[:64]))
            if row is None or row.expires_at <= now:
                return None
            return _view(row)

    def update(self, flow: FlowView, **values: Any) -> None:
        with self.sessions.begin() as session:
            row = session.get(GuestFlow, flow.token_hash, with_for_update=True)
            if row is None:
                return
            for key, value in values.items():
                setattr(row, key, value)

    def end(self, flow: FlowView) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(GuestFlow).where(GuestFlow.token_hash == flow.token_hash))
