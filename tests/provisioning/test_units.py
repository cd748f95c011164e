"""Pure parts of the provisioning engine: the SSRF guard, PATCH shapes (RFC and the reference's compat shape),
schema validation and reset scopes."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import httpx
import pytest

from hospes.domain.errors import InvalidInputError
from hospes.provisioning.connector import Change, PermanentError
from hospes.provisioning.paths import filter_literal, read_path
from hospes.provisioning.runs import DEFAULT_RESTART, parse_reset_scope
from hospes.provisioning.schema import compile_schema, default_schema, merge_schema
from hospes.provisioning.scim import ScimConfig, ScimConnector
from hospes.provisioning.scim_patch import member_operations, patch_operations
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


# IPv6 forms that carry an IPv4 address: judged by the IPv4 address they carry, or refused outright when no
# SCIM target is reached through them.
@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("64:ff9b::7f00:1", False),  # NAT64 well-known prefix -> 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 -> 10.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 -> 169.254.169.254 (cloud metadata)
        ("64:ff9b::808:808", True),  # NAT64 -> 8.8.8.8: a DNS64 answer for a public IPv4-only target
        ("64:ff9b:1::808:808", False),  # local-use NAT64 prefix: the embedding is the operator's choice
        ("64:ff9b:1:ffff::a00:1", False),
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("2002:c0a8:101::", False),  # 6to4 of 192.168.1.1
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
        ("::10.0.0.1", False),
        ("::8.8.8.8", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:169.254.169.254", False),
        ("::ffff:8.8.8.8", True),
        ("::ffff:0:127.0.0.1", False),  # IPv4-translated (SIIT)
        ("::ffff:0:8.8.8.8", False),
        ("2001::1", False),  # Teredo
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
        ("2001:0:5ef5:79fd:0:59d:a0e5:ba1", False),
        ("100::1", False),  # discard-only
        ("2606:4700:4700::1111", True),
        ("2a00:1450:4007:80e::200e", True),
    ],
)
def test_ssrf_ipv6_forms_embedding_ipv4(address: str, public: bool) -> None:
    policy = OutboundPolicy.parse("", resolver({"scim.example.com": [address]}))
    for host in ("scim.example.com", address, f"[{address}]"):  # a DNS answer, or a literal in the URL
        if public:
            assert ipaddress.ip_address(policy.vet(host, 443)) == ipaddress.ip_address(address)
        else:
            with pytest.raises(OutboundBlockedError):
                policy.vet(host, 443)


def test_ssrf_admitted_ranges_cover_the_embedded_ipv4() -> None:
    policy = OutboundPolicy.parse("10.0.0.0/8, 64:ff9b:1::/48", resolver({}))
    for address in (
        "64:ff9b::a00:5",  # NAT64 to an admitted intranet address
        "::ffff:10.0.0.5",
        "64:ff9b:1::a00:5",  # the operator admitted its local NAT64 prefix
    ):
        assert ipaddress.ip_address(policy.vet(address, 443)) == ipaddress.ip_address(address)
    with pytest.raises(OutboundBlockedError):
        policy.vet("64:ff9b::7f00:1", 443)


# Host spellings that an IPv4 parser (inet_aton, browsers, some resolvers) reads as an address, but that are not the
# canonical dotted quad: refused as invalid, whatever they would resolve to.
NON_CANONICAL_IPV4 = [
    "0177.0.0.1",
    "0x7f.1",
    "0x7f.0.0.1",
    "127.1",
    "127.0.1",
    "2130706433",
    "0x7f000001",
    "017700000001",
    "127.0.0.01",
    "08.8.8.8",
    "0x5d.0xb8.0xd8.0x22",
    "93.184.216.034",
    "1.2.3.4.5",
    "256.1.1.1",
    "scim.example.123",
    "127.0.0.1.0x0",
]


@pytest.mark.parametrize("host", NON_CANONICAL_IPV4)
def test_ssrf_refuses_non_canonical_ipv4_hosts(host: str) -> None:
    # The resolver would answer a public address: the refusal must not depend on what it says.
    policy = OutboundPolicy.parse("", resolver({host: ["93.184.216.34"], f"{host}.": ["93.184.216.34"]}))
    for url in (f"https://{host}/scim", f"https://{host}:8443/scim", f"https://{host}./scim"):
        with pytest.raises(OutboundBlockedError):
            policy.check_url(url)
    with pytest.raises(OutboundBlockedError):
        policy.vet(host, 443)


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://scim.example.com/scim", "scim.example.com", 443),
        ("https://SCIM.Example.com./scim?aadOptscim062020", "scim.example.com", 443),
        ("http://scim.example.com:8080/v2", "scim.example.com", 8080),
        ("https://93.184.216.34/scim", "93.184.216.34", 443),
        ("https://[2606:4700::1111]/scim", "2606:4700::1111", 443),
        ("https://1e100.net/scim", "1e100.net", 443),
        ("https://123.example.com/scim", "123.example.com", 443),
    ],
)
def test_ssrf_url_syntax_accepts(url: str, host: str, port: int) -> None:
    parsed = OutboundPolicy.parse("").check_url(url)
    assert (parsed.host, parsed.port or 443) == (host, port)


def test_connector_refuses_invalid_urls_as_a_permanent_error() -> None:
    """Neither the base address nor the OAuth token endpoint reaches httpx unparsed: a bad one is the connector's
    own permanent error (quarantine, or a 400 on validateCredentials), never an exception from httpx."""
    policy = OutboundPolicy.parse("", resolver({"scim.example.com": ["93.184.216.34"]}))
    never = httpx.MockTransport(lambda request: pytest.fail(f"sent {request.url}"))
    for url in ("https://0177.0.0.1/scim", "https://127.1/scim", "https://[64:ff9b::7f00:1/scim", "ftp://x.example"):
        with pytest.raises(PermanentError) as refused:
            ScimConnector(ScimConfig(base_url=url), policy, never)
        assert refused.value.code == "InvalidBaseAddress"
    oauth = ScimConfig(base_url="https://scim.example.com/scim", auth="oauth2", token_url="https://0x7f.1/token")
    with pytest.raises(PermanentError) as refused:
        ScimConnector(oauth, policy, never)
    assert refused.value.code == "InvalidTokenEndpoint"


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
