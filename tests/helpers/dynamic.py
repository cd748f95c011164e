"""Dynamic groups in tests: run the processing of one tenant to completion, as the background worker would."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hospes.domain.clock import utcnow
from hospes.services.dynamic_processing import MembershipProcessor
from tests.helpers.tenants import TenantHandle

RULE_GROUP = {"groupTypes": ["DynamicMembership"], "membershipRuleProcessingState": "On"}


def processor_for(tenant: TenantHandle, owner: str = "test", clock: Any = utcnow) -> MembershipProcessor:
    return MembershipProcessor(tenant.client.app.state.runtime.sessions, owner, clock)  # type: ignore[attr-defined]


def process(tenant: TenantHandle, processor: MembershipProcessor | None = None) -> None:
    """Everything due for the tenant: full passes, then the change log up to its head."""
    processor = processor or processor_for(tenant)
    assert processor.claim(tenant.id), "another processor holds the tenant's lease"
    while processor.run_tenant(tenant.id):
        pass


def members(tenant: TenantHandle, group_id: str) -> set[str]:
    response = tenant.get(f"/groups/{group_id}/members?$top=999")
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["value"]}


def dynamic_group(tenant: TenantHandle, name: str, rule: str, **props: Any) -> dict[str, Any]:
    return tenant.new_group(name, **RULE_GROUP, membershipRule=rule, **props)


def later(seconds: float) -> Any:
    from datetime import timedelta

    def clock() -> datetime:
        return utcnow() + timedelta(seconds=seconds)

    return clock
