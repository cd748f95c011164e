"""Cross-tenant synchronization topologies as one declaration, and the pure planner that turns a declaration and
the deployment's current state into the list of changes that make it so.

A topology names tenants and a shape: ``mesh`` (every tenant's users synchronized into every other tenant) or
``single-resource-tenant`` (every tenant's users synchronized into one resource tenant). Each synchronized pair
(source -> target) needs, as Graph configures it: in the target a partner for the source allowing inbound user
sync and redeeming automatically inbound; in the source a partner for the target redeeming automatically outbound
and a cross-tenant synchronization configuration (an app with an ``Azure2Azure`` job whose credentials name the
target), started, with the declared scope.

The configurations a topology made carry the tag ``HospesTopology:<name>:<target tenant id>`` on their service
principal: that is how a later plan finds them again, and how a pair that left the declaration (a tenant removed
from the file) is found and removed. Removing a pair removes its configuration and job and the target's
permission for that source to synchronize in; the users it synchronized stay, as in Entra.

Nothing here reads or writes: ``plan`` compares a ``Desired`` with a ``Current`` and answers ``Change``s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hospes.domain.errors import InvalidInputError

MESH = "mesh"
SINGLE_RESOURCE = "single-resource-tenant"
SHAPES = (MESH, SINGLE_RESOURCE)
TAG_PREFIX = "HospesTopology:"
MAX_TENANTS = 100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TopologyError(InvalidInputError):
    """The declaration is not a valid topology (the message names the field)."""


@dataclass(frozen=True)
class Scope:
    """Which users of a source tenant are synchronized: every internal member (``all_users``) or the assigned
    ones (``groups``: display names of groups assigned to the configuration), narrowed by a scoping filter in
    the portal's text form (``Pair.filter`` holds it normalized, as the job shows it)."""

    all_users: bool = True
    groups: tuple[str, ...] = ()
    filter: str = ""


@dataclass(frozen=True)
class TenantEntry:
    key: str  # tenant id or verified domain, as written
    scope: Scope | None = None  # this tenant's users, when it is a source; None: the topology's scope


@dataclass(frozen=True)
class Declaration:
    name: str
    shape: str
    tenants: tuple[TenantEntry, ...]
    resource: str | None
    scope: Scope

    def scope_of(self, key: str) -> Scope:
        for entry in self.tenants:
            if entry.key == key and entry.scope is not None:
                return entry.scope
        return self.scope

    def pairs(self) -> list[tuple[str, str]]:
        """(source key, target key) of every synchronized pair, in declaration order."""
        keys = [t.key for t in self.tenants]
        if self.shape == MESH:
            return [(s, t) for s in keys for t in keys if s != t]
        assert self.resource is not None
        return [(s, self.resource) for s in keys if s != self.resource]


def tag(name: str, target_id: str) -> str:
    return f"{TAG_PREFIX}{name}:{target_id}"


def parse_tag(value: str) -> tuple[str, str] | None:
    """(topology name, target tenant id) of a configuration's tag, or None for another tag."""
    if not value.startswith(TAG_PREFIX):
        return None
    name, _, target = value[len(TAG_PREFIX) :].rpartition(":")
    return (name, target) if name and target else None


def _scope(value: Any, where: str) -> Scope:
    if value is None:
        return Scope()
    if not isinstance(value, Mapping):
        raise TopologyError(f"'{where}' must be a table of users, groups and filter.", target=where)
    unknown = set(value) - {"users", "groups", "filter"}
    if unknown:
        raise TopologyError(f"'{where}' has no '{sorted(unknown)[0]}' (users, groups, filter).", target=where)
    groups = value.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) and g.strip() for g in groups):
        raise TopologyError(f"'{where}.groups' must be a list of group names.", target=where)
    users = value.get("users", "assigned" if groups else "all")
    if users not in ("all", "assigned"):
        raise TopologyError(f"'{where}.users' must be 'all' or 'assigned'.", target=where)
    if users == "all" and groups:
        raise TopologyError(f"'{where}': groups are assigned only with users: assigned.", target=where)
    text = value.get("filter") or ""
    if not isinstance(text, str):
        raise TopologyError(f"'{where}.filter' must be text (one clause per line).", target=where)
    return Scope(users == "all", tuple(sorted({g.strip() for g in groups})), text.strip())


def parse(data: Any) -> Declaration:
    """The declaration from a parsed YAML, TOML or JSON document."""
    if not isinstance(data, Mapping):
        raise TopologyError("A topology file is a table with name, topology and tenants.")
    unknown = set(data) - {"name", "topology", "tenants", "resource_tenant", "scope"}
    if unknown:
        raise TopologyError(f"Unknown key '{sorted(unknown)[0]}' (name, topology, tenants, resource_tenant, scope).")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise TopologyError("'name' is 1 to 64 letters, digits, '.', '_' or '-'.", target="name")
    shape = data.get("topology")
    if shape not in SHAPES:
        raise TopologyError(f"'topology' must be one of {', '.join(SHAPES)}.", target="topology")
    raw = data.get("tenants")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TENANTS:
        raise TopologyError(f"'tenants' lists 1 to {MAX_TENANTS} tenants.", target="tenants")
    entries: list[TenantEntry] = []
    for index, item in enumerate(raw):
        where = f"tenants[{index}]"
        if isinstance(item, str):
            entries.append(TenantEntry(item.strip().lower()))
        elif isinstance(item, Mapping) and isinstance(item.get("tenant"), str) and set(item) <= {"tenant", "scope"}:
            scope = _scope(item["scope"], where + ".scope") if "scope" in item else None
            entries.append(TenantEntry(item["tenant"].strip().lower(), scope))
        else:
            raise TopologyError(f"'{where}' is a tenant id or domain, or a table with tenant and scope.", target=where)
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys) or not all(keys):
        raise TopologyError("'tenants' names each tenant once.", target="tenants")
    resource = data.get("resource_tenant")
    if shape == SINGLE_RESOURCE:
        if not isinstance(resource, str) or resource.strip().lower() not in keys:
            raise TopologyError("'resource_tenant' must be one of the tenants.", target="resource_tenant")
        resource = resource.strip().lower()
    elif resource is not None:
        raise TopologyError("'resource_tenant' is for the single-resource-tenant topology.", target="resource_tenant")
    if len(keys) < 2:
        raise TopologyError("A topology synchronizes between at least two tenants.", target="tenants")
    return Declaration(name, shape, tuple(entries), resource, _scope(data.get("scope"), "scope"))


# --- state, desired and current ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """One synchronized pair as the declaration wants it (tenant ids; groups resolved to their ids)."""

    source: str
    target: str
    all_users: bool
    group_ids: frozenset[str]
    filter: str


@dataclass(frozen=True)
class Desired:
    name: str
    pairs: tuple[Pair, ...]


@dataclass(frozen=True)
class PartnerState:
    inbound_auto_redeem: bool = False
    outbound_auto_redeem: bool = False
    sync_policy: bool = False
    sync_allowed: bool = False


@dataclass(frozen=True)
class ConfigState:
    """A configuration this topology made in ``source`` toward ``target``."""

    source: str
    target: str
    sp_id: str
    job_id: str | None
    job_code: str | None
    company_id: str
    all_users: bool
    group_ids: frozenset[str]
    filter: str


@dataclass
class Current:
    names: dict[str, str]  # tenant id -> display name
    partners: dict[tuple[str, str], PartnerState]  # (tenant, partner) -> settings
    configs: list[ConfigState]  # every configuration tagged with this topology's name
    group_names: dict[str, str] = field(default_factory=dict)  # group id -> display name (for the plan's words)


# --- the plan ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One change: ``verb`` create | change | remove, ``kind`` partner | app | job, in ``tenant``; ``detail``
    says what in words; ``op`` and its arguments are for the applier."""

    verb: str
    kind: str
    tenant: str
    subject: str
    detail: str
    op: str
    args: tuple[Any, ...] = ()


def _partner_changes(desired: Desired, current: Current) -> list[Change]:
    wants: dict[tuple[str, str], dict[str, bool]] = {}
    for pair in desired.pairs:
        wants.setdefault((pair.target, pair.source), {})["inbound"] = True
        wants.setdefault((pair.source, pair.target), {})["outbound"] = True
    out: list[Change] = []
    for (tenant, partner), want in wants.items():
        name = current.names.get(partner, partner)
        state = current.partners.get((tenant, partner))
        if state is None:
            parts = [w for w in ("inbound sync", "inbound auto-redeem") if want.get("inbound")]
            parts += ["outbound auto-redeem"] if want.get("outbound") else []
            out.append(Change("create", "partner", tenant, name, ", ".join(parts), "partner", (tenant, partner, want)))
            continue
        if want.get("inbound") and not (state.sync_policy and state.sync_allowed):
            verb = "change" if state.sync_policy else "create"
            out.append(Change(verb, "partner", tenant, name, "inbound sync allowed", "sync_policy", (tenant, partner)))
        missing = {
            key: True
            for key, have in (("inbound", state.inbound_auto_redeem), ("outbound", state.outbound_auto_redeem))
            if want.get(key) and not have
        }
        if missing:
            words = " and ".join(f"{k} auto-redeem" for k in missing)
            out.append(Change("change", "partner", tenant, name, words, "redeem", (tenant, partner, missing)))
    return out


def _scope_words(all_users: bool, groups: frozenset[str], text: str, current: Current) -> str:
    who = "all members" if all_users else "assigned"
    if groups:
        who += " (" + ", ".join(sorted(current.group_names.get(g, g) for g in groups)) + ")"
    return who + (f"; filter: {text.strip().replace(chr(10), ' / ')}" if text.strip() else "")


def _config_changes(pair: Pair, config: ConfigState, current: Current) -> list[Change]:
    source, target_name = pair.source, current.names.get(pair.target, pair.target)
    out: list[Change] = []
    if config.job_id is None:
        scope = _scope_words(pair.all_users, pair.group_ids, pair.filter, current)
        return [Change("create", "job", source, f"Azure2Azure -> {target_name}", scope, "job", (pair, config.sp_id))]
    if config.company_id != pair.target or config.all_users != pair.all_users:
        detail = "users: " + ("all members" if pair.all_users else "assigned")
        out.append(Change("change", "job", source, target_name, detail, "secrets", (pair, config.sp_id)))
    if config.filter != pair.filter:
        detail = "filter: " + (pair.filter.strip().replace("\n", " / ") or "none")
        out.append(Change("change", "job", source, target_name, detail, "filter", (pair, config.sp_id, config.job_id)))
    for group in sorted(pair.group_ids - config.group_ids):
        detail = "assign group " + current.group_names.get(group, group)
        out.append(Change("change", "app", source, target_name, detail, "assign", (pair, config.sp_id, group)))
    for group in sorted(config.group_ids - pair.group_ids):
        detail = "unassign group " + current.group_names.get(group, group)
        out.append(Change("change", "app", source, target_name, detail, "unassign", (pair, config.sp_id, group)))
    if config.job_code in ("NotRun", "Paused"):
        detail = f"start (now {config.job_code})"
        out.append(Change("change", "job", source, target_name, detail, "start", (config.sp_id, config.job_id)))
    return out


def plan(desired: Desired, current: Current) -> list[Change]:
    """Every change that makes ``current`` what ``desired`` declares; empty when it already is."""
    out = _partner_changes(desired, current)
    by_pair = {(c.source, c.target): c for c in current.configs}
    for pair in desired.pairs:
        config = by_pair.get((pair.source, pair.target))
        target_name = current.names.get(pair.target, pair.target)
        if config is None:
            scope = _scope_words(pair.all_users, pair.group_ids, pair.filter, current)
            out.append(Change("create", "app", pair.source, target_name, "msiam_access", "config", (pair,)))
            out.append(Change("create", "job", pair.source, f"Azure2Azure -> {target_name}", scope, "none"))
            continue
        out += _config_changes(pair, config, current)
    wanted = {(p.source, p.target) for p in desired.pairs}
    for config in current.configs:
        if (config.source, config.target) in wanted:
            continue
        target_name = current.names.get(config.target, config.target)
        out.append(Change("remove", "job", config.source, f"Azure2Azure -> {target_name}", "", "none"))
        out.append(Change("remove", "app", config.source, target_name, "users stay", "drop_config", (config,)))
        state = current.partners.get((config.target, config.source))
        if state is not None and state.sync_policy:
            name = current.names.get(config.source, config.source)
            detail = "inbound sync no longer allowed"
            out.append(
                Change("remove", "partner", config.target, name, detail, "drop_sync", (config.target, config.source))
            )
    return out
