"""A recipient's "block future invitations" from a tenant, and its undoing: the block link of every invitation
email (sealed: it names the tenant and the address), the unsubscribe portal's list of blocked organizations and its
"allow again". A blocked address gets no more invitation emails from that tenant (``is_blocked_by_recipient``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.keys import ServerKeys
from hospes.domain.clock import utcnow
from hospes.services.guest_flows import org_view
from hospes.storage.tables import InvitationBlock, Tenant


def is_blocked_by_recipient(session: Session, tenant_id: str, email: str) -> bool:
    return session.get(InvitationBlock, (tenant_id, email.lower())) is not None


def block_invitations(session: Session, tenant_id: str, email: str) -> None:
    """Record "block future invitations" (idempotent)."""
    if session.get(InvitationBlock, (tenant_id, email.lower())) is None:
        session.add(InvitationBlock(tenant_id=tenant_id, email_key=email.lower(), created_at=utcnow()))


@dataclass(frozen=True)
class BlockLink:
    """What a "Block future invitations" link names: the inviting tenant and the invited address."""

    tenant_id: str
    email: str
    organization: str


def read_block_link(sessions: sessionmaker[Session], keys: ServerKeys, token: str) -> BlockLink | None:
    """The link's target, or None when the token is damaged, forged, or names a tenant that no longer exists."""
    try:
        payload = keys.unseal("invitation-block", token)
        tenant_id, email = str(payload["t"]), str(payload["e"])
    except (ValueError, KeyError, TypeError):
        return None
    with sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        return BlockLink(tenant_id, email, tenant.display_name) if tenant else None


def block_from_link(sessions: sessionmaker[Session], link: BlockLink) -> None:
    with sessions.begin() as session:
        block_invitations(session, link.tenant_id, link.email)


@dataclass(frozen=True)
class BlockedOrg:
    tenant_id: str
    name: str
    domain: str
    blocked_at: datetime


def blocked_organizations(sessions: sessionmaker[Session], email: str) -> list[BlockedOrg]:
    with sessions() as session:
        rows = session.execute(
            select(InvitationBlock, Tenant)
            .join(Tenant, Tenant.id == InvitationBlock.tenant_id)
            .where(InvitationBlock.email_key == email.lower())
            .order_by(Tenant.display_name, Tenant.id)
        )
        return [
            BlockedOrg(tenant.id, tenant.display_name, org_view(session, tenant).domain, block.created_at)
            for block, tenant in rows
        ]


def unblock(sessions: sessionmaker[Session], email: str, tenant_id: str) -> bool:
    with sessions.begin() as session:
        result = session.execute(
            delete(InvitationBlock).where(
                InvitationBlock.email_key == email.lower(), InvitationBlock.tenant_id == tenant_id[:64]
            )
        )
        return bool(getattr(result, "rowcount", 0))
