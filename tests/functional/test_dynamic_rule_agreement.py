"""Validation (Graph evaluateDynamicMembership), preview (the portal's "validate against these users") and
processing (the group's members) give the same answer for generated valid rules over generated users, and the
answer is the generator's independent predicate; also after the users change (incremental processing)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hospes.domain.principals import system_principal
from hospes.services.dynamic_groups import DynamicGroupService
from tests.helpers.dynamic import dynamic_group, members, process
from tests.helpers.rules import GeneratedRule, graph_body, rules, users
from tests.helpers.tenants import TenantHandle

USERS = 5


def _validation(tenant: TenantHandle, group_id: str, ids: list[str]) -> set[str]:
    chosen = set()
    for user_id in ids:
        answer = tenant.post(f"/groups/{group_id}/evaluateDynamicMembership", json={"memberId": user_id})
        assert answer.status_code == 200, answer.text
        if answer.json()["membershipRuleEvaluationResult"]:
            chosen.add(user_id)
    return chosen


def _preview(tenant: TenantHandle, rule: str, ids: list[str]) -> set[str]:
    runtime = tenant.client.app.state.runtime  # type: ignore[attr-defined]
    service = DynamicGroupService(runtime.sessions, system_principal(tenant.id))
    _, results = service.evaluate(rule, None, ids)
    return {r.user.id for r in results if r.result}


def _expected(rule: GeneratedRule, rows: list[dict[str, Any]], ids: list[str]) -> set[str]:
    return {user_id for user_id, row in zip(ids, rows, strict=True) if rule.expected(row)}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rule=rules,
    before=st.lists(users(), min_size=USERS, max_size=USERS),
    after=st.lists(users(), min_size=USERS, max_size=USERS),
)
def test_validation_preview_and_processing_agree(
    tenant: TenantHandle, rule: GeneratedRule, before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> None:
    ids = [tenant.new_user(**graph_body(row))["id"] for row in before]
    group = dynamic_group(tenant, "Generated", rule.text)
    process(tenant)
    for rows in (before, after):
        expected = _expected(rule, rows, ids)
        assert members(tenant, group["id"]) & set(ids) == expected
        assert _validation(tenant, group["id"], ids) == expected
        assert _preview(tenant, rule.text, ids) == expected
        if rows is before:
            for user_id, row in zip(ids, after, strict=True):
                assert tenant.patch(f"/users/{user_id}", json=graph_body(row)).status_code == 204
            process(tenant)
