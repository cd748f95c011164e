"""Topologies of cross-tenant synchronization in one deployment: read the current state a declaration concerns,
resolve the declaration's tenants and groups, and apply a plan (``domain/topology.py`` decides what to change).

Every change goes through the services Graph uses (cross-tenant access settings, apps and assignments, the
provisioning facade), each in its tenant's own transaction and audit log, the actor being "Topology <name>".
Applying twice changes nothing the second time; a plan interrupted half-way is finished by the next apply, as
each step is found again from the state (the configuration app carries its tag from the write that creates it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain import topology as topo
from hospes.domain.cross_tenant import CROSS_TENANT_SYNC_TEMPLATE
from hospes.domain.errors import NotFoundError
from hospes.domain.principals import Principal
from hospes.expressions.errors import ExpressionError
from hospes.expressions.scope_text import scope_from_text, scope_to_text
from hospes.provisioning.credentials import unseal
from hospes.provisioning.schema import CROSS_TENANT_TEMPLATE
from hospes.provisioning.service import ProvisioningService
from hospes.services.apps import AppService
from hospes.services.cross_tenant_policy import CrossTenantPolicyService
from hospes.services.tenants import resolve_tenant
from hospes.storage.tables import AppRoleAssignment, Group, ServicePrincipal, Tenant
from hospes.storage.tables_cross_tenant import CrossTenantPartner
from hospes.storage.tables_provisioning import ProvisioningJob, ProvisioningSecrets

ROLE = "msiam_access"


def topology_actor(tenant_id: str, name: str) -> Principal:
    return Principal(tenant_id=tenant_id, kind="system", id="", display_name=f"Topology {name}"[:256])


def _normal_filter(text: str) -> str:
    """A scoping filter in its one written form, so a plan compares it with the job's without false changes."""
    try:
        return scope_to_text(scope_from_text(text))
    except ExpressionError as exc:
        raise topo.TopologyError(f"'filter': {exc}", target="scope.filter") from None


def _user_scope(schema: dict[str, Any]) -> Any:
    for rule in schema.get("synchronizationRules") or []:
        for item in rule.get("objectMappings") or []:
            if isinstance(item, dict) and str(item.get("sourceObjectName", "")).lower() == "user":
                return item.get("scope")
    return None


@dataclass
class Topologies:
    """Reads, resolves and applies topologies over one deployment's database."""

    sessions: sessionmaker[Session]
    provisioning: ProvisioningService

    # --- the declaration, resolved ---------------------------------------------------------------------------

    def desired(self, declaration: topo.Declaration) -> tuple[topo.Desired, dict[str, str]]:
        """The pairs with tenant and group ids, and the group names (id -> display name) the plan shows."""
        scopes = [declaration.scope, *(t.scope for t in declaration.tenants if t.scope is not None)]
        filters = {scope.filter: _normal_filter(scope.filter) for scope in scopes}
        with self.sessions() as session:
            ids: dict[str, str] = {}
            for entry in declaration.tenants:
                try:
                    ids[entry.key] = resolve_tenant(session, entry.key).id
                except NotFoundError:
                    raise topo.TopologyError(f"No tenant '{entry.key}' in this deployment.", target="tenants") from None
            if len(set(ids.values())) != len(ids):
                raise topo.TopologyError("Two entries of 'tenants' name the same tenant.", target="tenants")
            pairs: list[topo.Pair] = []
            names: dict[str, str] = {}
            for source_key, target_key in declaration.pairs():
                scope = declaration.scope_of(source_key)
                groups = self._groups(session, ids[source_key], scope.groups, source_key)
                names.update(groups)
                text = filters[scope.filter]
                pair = topo.Pair(ids[source_key], ids[target_key], scope.all_users, frozenset(groups), text)
                pairs.append(pair)
        return topo.Desired(declaration.name, tuple(pairs)), names

    @staticmethod
    def _groups(session: Session, tenant_id: str, names: Iterable[str], key: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for name in names:
            rows = list(
                session.scalars(
                    select(Group.id).where(Group.tenant_id == tenant_id, func.lower(Group.display_name) == name.lower())
                )
            )
            if len(rows) != 1:
                what = "No group" if not rows else "Several groups"
                raise topo.TopologyError(f"{what} named '{name}' in tenant {key}.", target="scope.groups")
            found[rows[0]] = name
        return found

    # --- the current state ------------------------------------------------------------------------------------

    def configs(self, session: Session, name: str | None) -> list[topo.ConfigState]:
        """The configurations tagged by the topology ``name`` (every topology's when None)."""
        sps = session.scalars(
            select(ServicePrincipal).where(ServicePrincipal.application_template_id == CROSS_TENANT_SYNC_TEMPLATE)
        )
        out: list[topo.ConfigState] = []
        for sp in sps:
            tagged = [t for t in (topo.parse_tag(v) for v in sp.tags or []) if t and (name is None or t[0] == name)]
            if not tagged:
                continue
            job = session.scalar(
                select(ProvisioningJob).where(
                    ProvisioningJob.sp_id == sp.id, ProvisioningJob.template_id == CROSS_TENANT_TEMPLATE
                )
            )
            sealed = session.get(ProvisioningSecrets, sp.id)
            secrets = unseal(self.provisioning.box, sp.id, sealed.sealed if sealed is not None else None)
            groups = session.scalars(
                select(AppRoleAssignment.principal_id).where(
                    AppRoleAssignment.resource_id == sp.id, AppRoleAssignment.principal_type == "Group"
                )
            )
            out.append(
                topo.ConfigState(
                    source=sp.tenant_id,
                    target=tagged[0][1],
                    sp_id=sp.id,
                    job_id=job.id if job is not None else None,
                    job_code=job.code if job is not None else None,
                    company_id=secrets.get("CompanyId", "").strip().lower(),
                    all_users=secrets.get("SyncAll", "").strip().lower() == "true",
                    group_ids=frozenset(groups),
                    filter=scope_to_text(_user_scope(job.schema)) if job is not None else "",
                )
            )
        return out

    def current(self, name: str, tenant_ids: Iterable[str]) -> topo.Current:
        with self.sessions() as session:
            configs = self.configs(session, name)
            ids = set(tenant_ids) | {c.source for c in configs} | {c.target for c in configs}
            names = {t.id: t.display_name for t in session.scalars(select(Tenant).where(Tenant.id.in_(ids)))}
            partners = {
                (row.tenant_id, row.partner_tenant_id): topo.PartnerState(
                    bool(row.inbound_auto_redeem),
                    bool(row.outbound_auto_redeem),
                    bool(row.sync_policy),
                    bool(row.sync_inbound_allowed),
                )
                for row in session.scalars(
                    select(CrossTenantPartner).where(
                        CrossTenantPartner.tenant_id.in_(ids), CrossTenantPartner.partner_tenant_id.in_(ids)
                    )
                )
            }
            group_ids = {g for c in configs for g in c.group_ids}
            groups = {g.id: g.display_name for g in session.scalars(select(Group).where(Group.id.in_(group_ids)))}
        return topo.Current(names, partners, configs, groups)

    def _others(self, session: Session, name: str, sources: set[str]) -> dict[tuple[str, str], str]:
        """Configurations in ``sources`` this topology did not make: (source, target) -> what made it."""
        out: dict[tuple[str, str], str] = {}
        sps = session.scalars(
            select(ServicePrincipal).where(
                ServicePrincipal.application_template_id == CROSS_TENANT_SYNC_TEMPLATE,
                ServicePrincipal.tenant_id.in_(sources),
            )
        )
        for sp in sps:
            tags = [t for t in (topo.parse_tag(v) for v in sp.tags or []) if t is not None]
            if any(t[0] == name for t in tags):
                continue
            sealed = session.get(ProvisioningSecrets, sp.id)
            target = unseal(self.provisioning.box, sp.id, sealed.sealed if sealed is not None else None).get(
                "CompanyId", ""
            )
            maker = f"topology '{tags[0][0]}'" if tags else "outside any topology"
            out[(sp.tenant_id, target.strip().lower())] = f"the app '{sp.display_name}' ({maker})"
        return out

    def plan(self, declaration: topo.Declaration) -> tuple[list[topo.Change], topo.Current]:
        """The changes, or ``TopologyError`` when a declared pair is already synchronized by a configuration
        this topology did not make (two jobs for one pair would do every write twice)."""
        desired, group_names = self.desired(declaration)
        tenants = {p.source for p in desired.pairs} | {p.target for p in desired.pairs}
        with self.sessions() as session:
            others = self._others(session, declaration.name, {p.source for p in desired.pairs})
            names = {t.id: t.display_name for t in session.scalars(select(Tenant).where(Tenant.id.in_(tenants)))}
        for pair in desired.pairs:
            made = others.get((pair.source, pair.target))
            if made is not None:
                raise topo.TopologyError(
                    f"{names.get(pair.source)} already synchronizes to {names.get(pair.target)} with {made}: "
                    "delete that configuration, or declare the pair there.",
                    target="tenants",
                )
        current = self.current(declaration.name, tenants)
        current.group_names.update(group_names)
        return topo.plan(desired, current), current

    # --- applying ---------------------------------------------------------------------------------------------

    def apply(
        self, name: str, changes: list[topo.Change], current: topo.Current, done: Callable[[topo.Change], None]
    ) -> None:
        """Make each change, in plan order, calling ``done`` after each."""
        applier = _Applier(self.sessions, self.provisioning, name, current.names)
        for change in changes:
            handler = getattr(applier, "op_" + change.op)
            handler(*change.args)
            done(change)


@dataclass
class _Applier:
    sessions: sessionmaker[Session]
    provisioning: ProvisioningService
    name: str
    names: dict[str, str]

    def _actor(self, tenant: str) -> Principal:
        return topology_actor(tenant, self.name)

    def _policies(self, tenant: str) -> CrossTenantPolicyService:
        return CrossTenantPolicyService(self.sessions, self._actor(tenant))

    def _apps(self, tenant: str) -> AppService:
        return AppService(self.sessions, self._actor(tenant))

    def op_none(self) -> None:
        """A line of the plan another change makes (the job of a new configuration)."""

    def op_partner(self, tenant: str, partner: str, want: dict[str, bool]) -> None:
        consent = {"inboundAllowed": want.get("inbound") or None, "outboundAllowed": want.get("outbound") or None}
        policies = self._policies(tenant)
        policies.create_partner({"tenantId": partner, "automaticUserConsentSettings": consent})
        if want.get("inbound"):
            self.op_sync_policy(tenant, partner)

    def op_sync_policy(self, tenant: str, partner: str) -> None:
        body = {"displayName": self.names.get(partner, partner), "userSyncInbound": {"isSyncAllowed": True}}
        self._policies(tenant).put_sync_policy(partner, body)

    def op_redeem(self, tenant: str, partner: str, flags: dict[str, bool]) -> None:
        consent = {f"{key}Allowed": True for key in flags}
        self._policies(tenant).update_partner(partner, {"automaticUserConsentSettings": consent})

    def op_drop_sync(self, tenant: str, partner: str) -> None:
        self._policies(tenant).delete_sync_policy(partner)

    def op_config(self, pair: topo.Pair) -> None:
        sp = self._apps(pair.source).create_enterprise_app(
            self.names.get(pair.target, pair.target),
            [ROLE],
            CROSS_TENANT_SYNC_TEMPLATE,
            tags=[topo.tag(self.name, pair.target)],
        )
        self.op_job(pair, sp.id)

    def op_job(self, pair: topo.Pair, sp_id: str) -> None:
        actor = self._actor(pair.source)
        job = self.provisioning.create_job(pair.source, sp_id, CROSS_TENANT_TEMPLATE, actor=actor)
        self.op_secrets(pair, sp_id)
        if pair.filter:
            self.op_filter(pair, sp_id, job["id"])
        for group in sorted(pair.group_ids):
            self.op_assign(pair, sp_id, group)
        self.op_start(sp_id, job["id"], pair.source)

    def op_secrets(self, pair: topo.Pair, sp_id: str) -> None:
        saved = self.provisioning.saved_secrets(pair.source, sp_id)
        saved.update(CompanyId=pair.target, AuthenticationType="SyncPolicy", SyncAll=str(pair.all_users).lower())
        self.provisioning.put_secrets(pair.source, sp_id, saved, actor=self._actor(pair.source))

    def op_filter(self, pair: topo.Pair, sp_id: str, job_id: str) -> None:
        actor = self._actor(pair.source)
        self.provisioning.set_scope(pair.source, sp_id, job_id, "user", pair.filter, actor=actor)

    def _role(self, tenant: str, sp_id: str) -> str:
        apps = self._apps(tenant)
        with self.sessions() as session:
            roles = apps.sp_roles(session, apps.find_sp(session, sp_id))
        return next(str(r["id"]) for r in roles if r.get("value") == ROLE)

    def op_assign(self, pair: topo.Pair, sp_id: str, group: str) -> None:
        self._apps(pair.source).assign(group, sp_id, self._role(pair.source, sp_id))

    def op_unassign(self, pair: topo.Pair, sp_id: str, group: str) -> None:
        apps = self._apps(pair.source)
        for row in apps.assignments(principal_id=group, resource_id=sp_id):
            apps.unassign(row.id, resource_id=sp_id)

    def op_start(self, sp_id: str, job_id: str, source: str | None = None) -> None:
        tenant = source or self._tenant_of(sp_id)
        self.provisioning.start(tenant, sp_id, job_id, actor=self._actor(tenant))

    def _tenant_of(self, sp_id: str) -> str:
        with self.sessions() as session:
            sp = session.get(ServicePrincipal, sp_id)
            if sp is None:
                raise NotFoundError(sp_id)
            return sp.tenant_id

    def op_drop_config(self, config: topo.ConfigState) -> None:
        """The configuration and its job go; the users it synchronized stay in the target."""
        actor = self._actor(config.source)
        self.provisioning.delete_synchronization(config.source, config.sp_id, actor=actor)
        with self.sessions() as session:
            sp = session.get(ServicePrincipal, config.sp_id)
            application = sp.application_id if sp is not None else None
        if application is not None:
            self._apps(config.source).delete_app(application)
