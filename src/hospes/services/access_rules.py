"""Each tenant's conditional-access rules (policies and named locations), compiled once per process into
``hospes.domain.ca_rules.Rules`` and kept until the tenant's rules version moves.

The version (``access_rules_versions``) changes in the transaction of every policy or named-location write, in
whichever process makes it, so a sign-in reads one small row instead of every policy and stays correct when
another server process (or the CLI) changed the rules. The version is read before the rules: rules loaded after
a concurrent write are newer than the version they are kept under, which costs one extra compile, never a stale
decision.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hospes.domain import ca_evaluation as ca
from hospes.storage.tables_access import AccessRulesVersion, ConditionalAccessPolicy, NamedLocation

_TENANTS_KEPT = 2048  # per database; the least recently used tenant's rules are dropped first


def load_rules(session: Session, tenant_id: str) -> tuple[list[ca.Policy], dict[str, ca.Location]]:
    policies = [
        ca.compile_policy(r.id, r.display_name, r.state, r.conditions, r.grant_controls, r.session_controls)
        for r in session.scalars(
            select(ConditionalAccessPolicy)
            .where(ConditionalAccessPolicy.tenant_id == tenant_id)
            .order_by(ConditionalAccessPolicy.created_at, ConditionalAccessPolicy.id)
        )
    ]
    locations = {
        r.id: ca.compile_location({**r.definition, "isTrusted": r.is_trusted}, r.id)
        for r in session.scalars(select(NamedLocation).where(NamedLocation.tenant_id == tenant_id))
    }
    return policies, locations


def rules_version(session: Session, tenant_id: str) -> int:
    version = session.scalar(select(AccessRulesVersion.version).where(AccessRulesVersion.tenant_id == tenant_id))
    return int(version or 0)


class _Kept:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: OrderedDict[str, tuple[int, ca.Rules]] = OrderedDict()

    def get(self, tenant_id: str, version: int) -> ca.Rules | None:
        with self.lock:
            found = self.rules.get(tenant_id)
            if found is None or found[0] != version:
                return None
            self.rules.move_to_end(tenant_id)
            return found[1]

    def put(self, tenant_id: str, version: int, rules: ca.Rules) -> None:
        with self.lock:
            self.rules[tenant_id] = (version, rules)
            self.rules.move_to_end(tenant_id)
            while len(self.rules) > _TENANTS_KEPT:
                self.rules.popitem(last=False)


# Keyed by engine: one process may open several databases (tests, the CLI), and tenants don't share rules.
_KEPT: weakref.WeakKeyDictionary[Engine, _Kept] = weakref.WeakKeyDictionary()
_KEPT_LOCK = threading.Lock()


def _kept(session: Session) -> _Kept:
    bind = session.get_bind()
    return _kept_for(bind if isinstance(bind, Engine) else bind.engine)


def _kept_for(engine: Engine) -> _Kept:
    with _KEPT_LOCK:
        kept = _KEPT.get(engine)
        if kept is None:
            kept = _KEPT[engine] = _Kept()
        return kept


def kept_rules(engine: Engine, tenant_id: str, version: int) -> ca.Rules | None:
    """The rules this process compiled for the tenant at ``version`` (a raw read's), if it still has them."""
    return _kept_for(engine).get(tenant_id, version)


def rules_of(session: Session, tenant_id: str) -> ca.Rules:
    """The tenant's compiled rules, current as of this read."""
    version = rules_version(session, tenant_id)
    kept = _kept(session)
    rules = kept.get(tenant_id, version)
    if rules is None:
        rules = ca.compile_rules(*load_rules(session, tenant_id))
        kept.put(tenant_id, version, rules)
    return rules
