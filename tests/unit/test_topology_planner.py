"""The topology planner alone (no database): the declaration's shape, and the changes it plans from a given
state — nothing when the state is what the declaration wants, one precise change for each difference."""

from __future__ import annotations

from typing import Any

import pytest

from hospes.domain import topology as topo

A, B, C = "a" * 8, "b" * 8, "c" * 8
NAMES = {A: "Contoso", B: "Fabrikam", C: "Hub"}


def _pair(source: str, target: str, **kw: Any) -> topo.Pair:
    return topo.Pair(source, target, kw.get("all_users", True), frozenset(kw.get("groups", ())), kw.get("filter", ""))


def _done(pairs: list[topo.Pair], **overrides: Any) -> topo.Current:
    """The state a successful apply of ``pairs`` leaves."""
    partners: dict[tuple[str, str], topo.PartnerState] = {}
    for p in pairs:
        inbound = partners.get((p.target, p.source), topo.PartnerState())
        partners[(p.target, p.source)] = topo.PartnerState(True, inbound.outbound_auto_redeem, True, True)
        outbound = partners.get((p.source, p.target), topo.PartnerState())
        partners[(p.source, p.target)] = topo.PartnerState(
            outbound.inbound_auto_redeem, True, outbound.sync_policy, outbound.sync_allowed
        )
    configs = [
        topo.ConfigState(
            p.source,
            p.target,
            f"sp-{p.source}-{p.target}",
            f"job-{p.source}-{p.target}",
            "Active",
            p.target,
            p.all_users,
            p.group_ids,
            p.filter,
        )  # fmt: skip
        for p in pairs
    ]
    partners.update(overrides.get("partners", {}))
    return topo.Current(dict(NAMES), partners, overrides.get("configs", configs))


def test_parse_mesh_and_single_resource_pairs() -> None:
    mesh = topo.parse({"name": "g", "topology": "mesh", "tenants": ["x.example", {"tenant": "Y.example"}]})
    assert mesh.pairs() == [("x.example", "y.example"), ("y.example", "x.example")]
    hub = topo.parse(
        {
            "name": "h",
            "topology": "single-resource-tenant",
            "resource_tenant": "hub.example",
            "tenants": ["x.example", "hub.example", "y.example"],
        }  # fmt: skip
    )
    assert hub.pairs() == [("x.example", "hub.example"), ("y.example", "hub.example")]


@pytest.mark.parametrize(
    "data",
    [
        {"name": "g", "topology": "mesh", "tenants": ["x", "x"]},
        {"name": "g h", "topology": "mesh", "tenants": ["x", "y"]},
        {"name": "g", "topology": "mesh", "tenants": ["x", "y"], "scope": {"users": "all", "groups": ["G"]}},
        {"name": "g", "topology": "mesh", "tenants": ["x", "y"], "scope": {"who": "all"}},
        {"name": "g", "topology": "mesh", "tenants": ["x", "y"], "extra": 1},
        {"name": "g", "topology": "mesh", "tenants": ["x", "y"], "resource_tenant": "x"},
        ["not", "a", "table"],
    ],
)
def test_bad_declarations_are_refused(data: Any) -> None:
    with pytest.raises(topo.TopologyError):
        topo.parse(data)


def test_nothing_to_do_once_applied() -> None:
    pairs = [_pair(A, B), _pair(B, A, all_users=False, groups={"g1"}, filter="department EQUALS Sales")]
    assert topo.plan(topo.Desired("t", tuple(pairs)), _done(pairs)) == []


def test_each_difference_is_one_change() -> None:
    wanted = [_pair(A, C, all_users=False, groups={"g1", "g2"}, filter="jobTitle EQUALS Buyer")]
    state = _done([_pair(A, C, all_users=True, groups={"g1", "g3"})])
    state.configs = [
        topo.ConfigState(A, C, "sp", "job", "Paused", C, True, frozenset({"g1", "g3"}), ""),
    ]
    state.partners[(C, A)] = topo.PartnerState(True, False, True, False)  # inbound sync switched off
    changes = topo.plan(topo.Desired("t", tuple(wanted)), state)
    assert [(c.verb, c.kind, c.op) for c in changes] == [
        ("change", "partner", "sync_policy"),
        ("change", "job", "secrets"),
        ("change", "job", "filter"),
        ("change", "app", "assign"),
        ("change", "app", "unassign"),
        ("change", "job", "start"),
    ]
    assert changes[3].args[2] == "g2" and changes[4].args[2] == "g3"


def test_a_pair_that_left_is_removed_with_its_permission() -> None:
    before = [_pair(A, B), _pair(B, A), _pair(A, C), _pair(C, A)]
    after = [_pair(A, B), _pair(B, A)]
    changes = topo.plan(topo.Desired("t", tuple(after)), _done(before))
    removed = [(c.kind, c.tenant, c.op) for c in changes]
    assert ("app", A, "drop_config") in removed and ("app", C, "drop_config") in removed
    assert ("partner", C, "drop_sync") in removed and ("partner", A, "drop_sync") in removed
    assert all(c.verb == "remove" for c in changes)


def test_a_new_pair_plans_partners_app_and_job() -> None:
    changes = topo.plan(topo.Desired("t", (_pair(A, B),)), topo.Current(dict(NAMES), {}, []))
    assert [(c.verb, c.kind, c.tenant) for c in changes] == [
        ("create", "partner", B),
        ("create", "partner", A),
        ("create", "app", A),
        ("create", "job", A),
    ]
    assert changes[0].args[2] == {"inbound": True} and changes[1].args[2] == {"outbound": True}


def test_tags_round_trip() -> None:
    assert topo.parse_tag(topo.tag("group.1", B)) == ("group.1", B)
    assert topo.parse_tag("HideApp") is None and topo.parse_tag("HospesTopology:") is None
