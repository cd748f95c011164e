"""The portal's topology view of one tenant: the tenants it synchronizes with, each outbound pair's job health
(state, quarantine, last cycle) and each inbound partner's permission, from this tenant's own data only.

Outbound pairs are this tenant's cross-tenant synchronization configurations (``Azure2Azure`` jobs), whichever
way they were made (Graph, the portal, ``hospes topology apply``). Inbound pairs are the partners this tenant lets
synchronize in; the state of their jobs belongs to the source tenant and is not shown here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain import topology as topo
from hospes.provisioning.credentials import unseal
from hospes.provisioning.schema import CROSS_TENANT_TEMPLATE
from hospes.provisioning.service import ProvisioningService
from hospes.services.cross_tenant_policy import mto_peers
from hospes.storage.tables import ServicePrincipal, Tenant, User
from hospes.storage.tables_cross_tenant import CrossTenantPartner
from hospes.storage.tables_provisioning import ProvisioningJob, ProvisioningSecrets


@dataclass(frozen=True)
class OutboundPair:
    target_id: str
    target_name: str
    sp_id: str
    app_name: str
    job_id: str
    topology: str | None  # the topology that made it, if any
    status: dict[str, Any]  # Graph synchronizationStatus


@dataclass(frozen=True)
class InboundPartner:
    source_id: str
    source_name: str
    sync_allowed: bool
    auto_redeem: bool
    in_organization: bool


@dataclass(frozen=True)
class TopologyPage:
    outbound: list[OutboundPair]
    inbound: list[InboundPartner]
    organization: list[tuple[str, str]]  # (id, name) of the other active tenants of its multitenant organization
    synchronized_users: int  # users synchronized into this tenant, from every source


def _names(session: Session, ids: set[str]) -> dict[str, str]:
    return {t.id: t.display_name for t in session.scalars(select(Tenant).where(Tenant.id.in_(ids)))}


def topology_page(sessions: sessionmaker[Session], provisioning: ProvisioningService, tenant_id: str) -> TopologyPage:
    with sessions() as session:
        rows = session.execute(
            select(ProvisioningJob.id, ServicePrincipal)
            .join(ServicePrincipal, ServicePrincipal.id == ProvisioningJob.sp_id)
            .where(ProvisioningJob.tenant_id == tenant_id, ProvisioningJob.template_id == CROSS_TENANT_TEMPLATE)
        )
        jobs: list[tuple[str, ServicePrincipal]] = [(job_id, sp) for job_id, sp in rows]
        targets: dict[str, str] = {}
        for _job, sp in jobs:
            sealed = session.get(ProvisioningSecrets, sp.id)
            secrets = unseal(provisioning.box, sp.id, sealed.sealed if sealed is not None else None)
            targets[sp.id] = secrets.get("CompanyId", "").strip().lower()
        partners = list(
            session.scalars(
                select(CrossTenantPartner)
                .where(CrossTenantPartner.tenant_id == tenant_id, CrossTenantPartner.sync_inbound_allowed.is_(True))
                .order_by(CrossTenantPartner.partner_tenant_id)
            )
        )
        peers = mto_peers(session, tenant_id)
        names = _names(session, set(targets.values()) | {p.partner_tenant_id for p in partners} | peers)
        synchronized = session.scalar(
            select(func.count()).where(
                User.tenant_id == tenant_id, User.alt_sec_id.is_not(None), User.deleted_at.is_(None)
            )
        )
    outbound = []
    for job_id, sp in jobs:
        target = targets[sp.id]
        tags = [t for t in (topo.parse_tag(v) for v in sp.tags or []) if t is not None]
        outbound.append(
            OutboundPair(
                target_id=target,
                target_name=names.get(target, target or "—"),
                sp_id=sp.id,
                app_name=sp.display_name,
                job_id=job_id,
                topology=tags[0][0] if tags else None,
                status=provisioning.status(tenant_id, sp.id, job_id),
            )
        )
    outbound.sort(key=lambda pair: (pair.target_name.lower(), pair.sp_id))
    inbound = [
        InboundPartner(
            source_id=p.partner_tenant_id,
            source_name=names.get(p.partner_tenant_id, p.partner_tenant_id),
            sync_allowed=bool(p.sync_policy and p.sync_inbound_allowed),
            auto_redeem=bool(p.inbound_auto_redeem),
            in_organization=p.partner_tenant_id in peers,
        )
        for p in partners
    ]
    organization = sorted(((p, names.get(p, p)) for p in peers), key=lambda item: item[1].lower())
    return TopologyPage(outbound, inbound, organization, int(synchronized or 0))
