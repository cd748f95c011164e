"""Pure parts of the provisioning engine: the SSRF guard, PATCH shapes (RFC and the reference's compat shape),
schema validation and reset scopes."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from hospes.domain.errors import InvalidInputError
from hospes.provisioning.connector import Change
from hospes.provisioning.paths import filter_literal, read_path
from hospes.provisioning.schema import compile_schema, default_schema, merge_schema
from hospes.provisioning.scim_patch import member_operations, patch_operations
from hospes.provisioning.service import DEFAULT_RESTART, parse_reset_scope
from hospes.provisioning.ssrf import GuardedTransport, OutboundBlockedError, OutboundPolicy


def resolver(table: dict[str, list[str]]) -> Any:
    return lambda host, port: table[host]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
    ],
)
def test_ssrf_refuses_private_addresses(address: str) -> None:
    policy = OutboundPolicy.parse("", resolver({"scim.example.com": [address]}))
    with pytest.raises(OutboundBlockedError):
        policy.vet("scim.example.com", 443)


def test_ssrf_checks_every_address_and_admits_configured_ranges() -> None:
    table = {
        "mixed.example.com": ["93.184.216.34", "10.0.0.5"],
        "pub.example.com": ["93.184.216.34"],
        "intranet.corp": ["10.0.0.5"],
        "other.corp": ["192.168.3.3"],
    }
    policy = OutboundPolicy.parse("10.0.0.0/8, other.corp", resolver(table))
    assert policy.vet("pub.example.com", 443) == "93.184.216.34"
    assert policy.vet("intranet.corp", 443) == "10.0.0.5"  # admitted CIDR
    assert policy.vet("other.corp", 443) == "192.168.3.3"  # admitted host name
    strict = OutboundPolicy.parse("", resolver(table))
    with pytest.raises(OutboundBlockedError):
        strict.vet("mixed.example.com", 443)  # one private answer is enough to refuse (rebinding)
    with pytest.raises(OutboundBlockedError):
        strict.vet("169.254.169.254", 80)  # literal metadata address


@pytest.mark.parametrize(
    "url",
    ["ftp://scim.example.com/", "https://user:pw@scim.example.com/", "https:///x", "file:///etc/passwd", "http://[::1"],
)
def test_ssrf_url_syntax(url: str) -> None:
    with pytest.raises(OutboundBlockedError):
        OutboundPolicy.parse("").check_url(url)


def test_guarded_transport_pins_the_vetted_address() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    policy = OutboundPolicy.parse("", resolver({"scim.example.com": ["93.184.216.34"]}))
    with httpx.Client(transport=GuardedTransport(policy, httpx.MockTransport(handler))) as client:
        client.get("https://scim.example.com/scim/Users")
    assert seen[0].url.host == "93.184.216.34"
    assert seen[0].headers["Host"] == "scim.example.com"
    assert seen[0].extensions["sni_hostname"] == "scim.example.com"
    blocked = OutboundPolicy.parse("", resolver({"scim.example.com": ["127.0.0.1"]}))
    with (
        httpx.Client(transport=GuardedTransport(blocked, httpx.MockTransport(handler))) as client,
        pytest.raises(OutboundBlockedError),
    ):
        client.get("https://scim.example.com/scim/Users")
    assert len(seen) == 1


def test_patch_shapes_rfc_and_entra() -> None:
    changes = [
        Change("title", "Engineer", "Director"),
        Change("active", True, False),
        Change('emails[type eq "work"].value', None, "a@x"),
        Change('phoneNumbers[type eq "mobile"].value', "+1", None),
        Change("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "A", None),
    ]
    assert patch_operations(changes) == [
        {"op": "replace", "path": "title", "value": "Director"},
        {"op": "replace", "path": "active", "value": False},
        {"op": "add", "path": "emails", "value": [{"type": "work", "value": "a@x"}]},
        {"op": "remove", "path": 'phoneNumbers[type eq "mobile"]'},
        {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
    ]
    entra = patch_operations(changes[:3], "entra")
    assert entra == [
        {"op": "Replace", "path": "title", "value": "Director"},
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "a@x"},
    ]


def test_member_operations_are_chunked_deltas() -> None:
    ops = list(member_operations(["a", "b", "c"], ["d", 'e"x'], "rfc", 2))
    assert ops == [
        [{"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]}],
        [{"op": "add", "path": "members", "value": [{"value": "c"}]}],
        [{"op": "remove", "path": 'members[value eq "d"]'}, {"op": "remove", "path": 'members[value eq "e\\"x"]'}],
    ]
    assert list(member_operations([], ["d"], "entra", 10)) == [
        [{"op": "Remove", "path": "members", "value": [{"value": "d"}]}]
    ]


def test_paths_and_filter_literals() -> None:
    resource = {
        "userName": "a",
        "emails": [{"type": "Work", "value": "w@x"}],
        "name": {"givenName": "G"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D"},
    }
    assert read_path(resource, 'emails[type eq "work"].value') == "w@x"
    assert read_path(resource, "name.givenName") == "G"
    assert read_path(resource, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department") == "D"
    assert read_path(resource, 'phoneNumbers[type eq "work"].value') is None
    assert filter_literal('O"Brien\\') == '"O\\"Brien\\\\"'


def _user_mapping(schema: dict[str, Any]) -> dict[str, Any]:
    mapping: dict[str, Any] = schema["synchronizationRules"][0]["objectMappings"][0]
    return mapping


def test_schema_validation() -> None:
    schema = default_schema("scim.x")
    compiled = compile_schema(schema)
    assert [a.target for a in compiled.user.matching] == ["userName"]
    assert compiled.group is not None and compiled.group.syncs_members
    assert {a.target: a.flow_type for a in compiled.user.attributes}[
        "urn:ietf:params:scim:schemas:extension:8x8:1.1:User:site"
    ] == "ObjectAddOnly"

    bad = copy.deepcopy(schema)
    _user_mapping(bad)["attributeMappings"][1]["source"] = {"type": "Function", "expression": "Mid([a], 1"}
    with pytest.raises(InvalidInputError, match="mapping 2"):
        compile_schema(bad)
    no_match = copy.deepcopy(schema)
    for item in _user_mapping(no_match)["attributeMappings"]:
        item["matchingPriority"] = 0
    with pytest.raises(InvalidInputError, match="matching attribute"):
        compile_schema(no_match)
    bad_scope = copy.deepcopy(schema)
    _user_mapping(bad_scope)["scope"] = {
        "groups": [
            {
                "name": "g",
                "clauses": [
                    {
                        "operatorName": "SOUNDS LIKE",
                        "sourceOperandName": "department",
                        "targetOperand": {"values": ["x"]},
                    }
                ],
            }
        ]
    }
    with pytest.raises(InvalidInputError, match="scoping filter"):
        compile_schema(bad_scope)


def test_schema_merge_keeps_flow_types_the_sdk_drops() -> None:
    stored = default_schema("scim.x")
    _user_mapping(stored)["flowTypes"] = "Add, Update"
    incoming = copy.deepcopy(stored)
    del _user_mapping(incoming)["flowTypes"]
    merged = merge_schema(stored, incoming)
    assert _user_mapping(merged)["flowTypes"] == "Add, Update"
    assert compile_schema(merged).user.flow_types == {"Add", "Update"}


def test_reset_scope() -> None:
    assert parse_reset_scope(None) == DEFAULT_RESTART
    assert parse_reset_scope("") == DEFAULT_RESTART
    assert parse_reset_scope("Watermark, escrows") == {"Watermark", "Escrows"}
    assert parse_reset_scope(["ForceDeletes"]) == {"ForceDeletes"}
    with pytest.raises(InvalidInputError):
        parse_reset_scope("Everything")
