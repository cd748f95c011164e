"""A bounded fuzz of the Graph surface: requests made of the app's own routes with random segments, OData options,
headers and JSON bodies (deep nesting, lone surrogates, huge numbers, wrong types) must never give a 5xx, and every
4xx must be the Graph error envelope.

Derandomized (the same examples on every run, no example database), so CI is deterministic; capped so it runs in
seconds. A failure it finds is fixed at its root and gets a focused test of its own (test_graph_bad_input.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.functional.test_synchronization_api import make_job, make_sp
from tests.helpers.tenants import TenantHandle

EXAMPLES = 1000  # about 12 s per backend on one core

# Property names the routes read, so that bodies reach the validation of each field with a wrong value.
FIELDS = [
    "displayName",
    "accountEnabled",
    "userPrincipalName",
    "mailNickname",
    "passwordProfile",
    "password",
    "mail",
    "otherMails",
    "identities",
    "givenName",
    "usageLocation",
    "userType",
    "members@odata.bind",
    "owners@odata.bind",
    "@odata.id",
    "groupTypes",
    "mailEnabled",
    "securityEnabled",
    "appId",
    "appRoles",
    "appRoleId",
    "principalId",
    "resourceId",
    "passwordCredential",
    "keyId",
    "invitedUserEmailAddress",
    "inviteRedirectUrl",
    "sendInvitationMessage",
    "invitedUserMessageInfo",
    "invitedUserType",
    "templateId",
    "value",
    "key",
    "criteria",
    "resetScope",
    "synchronizationJobSettings",
    "schedule",
    "parameters",
    "subjects",
    "ruleId",
    "objectId",
    "objectTypeName",
    "expression",
    "testInputObject",
    "properties",
    "definition",
    "allowInvitesFrom",
    "technicalNotificationMails",
    "privacyProfile",
    "preferredLanguage",
    "useSavedCredentials",
    "credentials",
    "synchronizationRules",
    "directories",
    "objectMappings",
    "attributeMappings",
    "source",
    "name",
    "type",
    "id",
]
PROPS = [
    "displayName",
    "userPrincipalName",
    "mail",
    "id",
    "accountEnabled",
    "createdDateTime",
    "userType",
    "otherMails",
    "identities",
    "groupTypes",
    "appId",
    "category",
    "activityDateTime",
    "jobId",
    "nosuch",
    "a/b",
]
ODD_TEXT = [
    "²",
    "٣",
    "１",
    "-1",
    "0",
    "1e3",
    "9" * 30,
    "9" * 5000,
    "",
    " ",
    "'",
    "''",
    "\\",
    "%",
    "_",
    "*",
    "null",
    "true",
    "..",
    "$",
    "(",
    ")",
    "\x00",
    "é",
    "\N{GRINNING FACE}",
    "a" * 3000,
]
SURROGATES = ['"\\ud800"', '"a\\udfffb"', '"\\ude00\\ud83d"', '{"\\ud800": 1}']
RAW_BODIES = [
    b"[" * 990 + b"]" * 990,
    b'{"a":' * 500 + b"1" + b"}" * 500,
    b'{"displayName": NaN}',
    b'{"displayName": Infinity}',
    b'{"displayName": 1e999}',
    b'{"displayName": ' + b"9" * 5000 + b"}",
    b'{"accountEnabled": 123456789012345678901234567890}',
    b"\xff\xfe\x00",
    b"{",
    b"null",
    b"[]",
    b'"text"',
    b"",
]


@dataclass
class World:
    ids: list[str]
    routes: list[tuple[str, list[str]]]  # path template, methods


@pytest.fixture
def world(app: FastAPI, tenant: TenantHandle) -> World:
    user = tenant.new_user("fuzz")
    group = tenant.new_group("Fuzz")
    sp_id = make_sp(tenant, "Fuzz app")
    job_id = make_job(tenant, sp_id)
    app_id = tenant.get(f"/servicePrincipals/{sp_id}").json()["appId"]
    routes = [
        (route.path, sorted(route.methods or ["GET"]))
        for route in iter_route_contexts(app.routes)
        if route.path and route.path.startswith("/v1.0")
    ]
    assert len(routes) > 50
    return World([user["id"], group["id"], sp_id, job_id, app_id, user["userPrincipalName"], "scim"], routes)


def _json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(ODD_TEXT),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), children, max_size=5),
        ),
        max_leaves=12,
    )


def _nested(depth: int) -> Any:
    value: Any = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"displayName": value}
    return value


@st.composite
def bodies(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.sampled_from(["none", "fields", "json", "raw", "surrogate", "deep"]))
    if kind == "none":
        return None
    if kind == "raw":
        return draw(st.sampled_from(RAW_BODIES))
    if kind == "deep":
        return json.dumps(_nested(draw(st.sampled_from([63, 64, 65, 200, 900])))).encode()
    if kind == "json":
        return json.dumps(draw(_json_values())).encode()
    body = draw(st.dictionaries(st.sampled_from(FIELDS), _json_values(), max_size=6))
    text = json.dumps(body)
    if kind == "surrogate":
        text = text[:-1] + (", " if body else "") + f'"displayName": {draw(st.sampled_from(SURROGATES))}}}'
    return text.encode()


@st.composite
def filters(draw: st.DrawFn) -> str:
    leaf = st.one_of(
        st.builds(
            "{} {} {}".format,
            st.sampled_from(PROPS),
            st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "xx"]),
            st.sampled_from(["'a'", "''''", "1", "-2.5", "true", "null", "2024-01-01T00:00:00Z", "x", "'\\'"]),
        ),
        st.builds("startswith({}, 'a')".format, st.sampled_from(PROPS)),
        st.builds("{} in ('a', 'b')".format, st.sampled_from(PROPS)),
        st.just("otherMails/any(x:x eq 'a')"),
        st.just("identities/any(c:c/issuer eq 'x' and c/issuerAssignedId eq 'y')"),
    )
    tree = st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds("({})".format, inner),
            st.builds("not {}".format, inner),
            st.builds("{} and {}".format, inner, inner),
            st.builds("{} or {}".format, inner, inner),
        ),
        max_leaves=6,
    )
    kind = draw(st.sampled_from(["tree", "deep", "wide", "text"]))
    if kind == "tree":
        return draw(tree)
    if kind == "deep":
        depth = draw(st.sampled_from([31, 32, 33, 500]))
        return "(" * depth + "displayName eq 'a'" + ")" * depth
    if kind == "wide":
        return " or ".join(["displayName eq 'a'"] * draw(st.sampled_from([100, 101, 1200])))
    return draw(st.text(max_size=40))


@st.composite
def queries(draw: st.DrawFn) -> dict[str, str]:
    options = {
        "$filter": filters(),
        "$top": st.one_of(st.sampled_from(ODD_TEXT), st.integers(-5, 2000).map(str)),
        "$select": st.lists(st.sampled_from(PROPS), max_size=3).map(",".join),
        "$orderby": st.sampled_from(["displayName", "displayName desc,id", "nosuch", ",".join(["id desc"] * 50)]),
        "$search": st.sampled_from(['"displayName:a"', "a", '"x', " OR ".join(['"displayName:a"'] * 150)]),
        "$skiptoken": st.sampled_from(["", "x", "eyJ0IjoxfQ", "a.b.c"]),
        "$count": st.sampled_from(["true", "false", "maybe"]),
        "$expand": st.just("members"),
        "$deltatoken": st.sampled_from(["latest", "x"]),
        "$id": st.sampled_from(["x", "http://testserver/v1.0/users/x"]),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(options)), max_size=4, unique=True))
    return {name: draw(options[name]) for name in chosen}


@st.composite
def requests(draw: st.DrawFn, world: World) -> tuple[str, str, dict[str, str], dict[str, Any], bytes | None]:
    template, methods = draw(st.sampled_from(world.routes))
    segment = st.one_of(st.sampled_from(world.ids), st.sampled_from(ODD_TEXT), st.text(min_size=1, max_size=12))
    path = template
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + quote(draw(segment), safe="") + path[end + 1 :]
    if draw(st.integers(0, 9)) == 0:
        path += "/" + quote(draw(segment), safe="")
    method = draw(st.one_of(st.sampled_from(methods), st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"])))
    headers: dict[str, Any] = {}
    if draw(st.booleans()):
        headers["ConsistencyLevel"] = draw(st.sampled_from(["eventual", "EVENTUAL", "strong"]))
    if draw(st.booleans()):
        prefer = draw(st.sampled_from(["return=minimal", "odata.maxpagesize=2", "odata.maxpagesize=0", "x=y"]))
        headers["Prefer"] = prefer.encode() if draw(st.booleans()) else b"odata.maxpagesize=\xb2"
    if draw(st.integers(0, 7)) == 0:
        headers["Authorization"] = draw(st.sampled_from(["", "Bearer", "Bearer x.y.z", "Basic abc"]))
    body = draw(bodies())
    if body is not None:
        headers["content-type"] = draw(st.sampled_from(["application/json", "text/plain", "application/json"]))
    return method, path, draw(queries()), headers, body


def _assert_graph_answer(response: Any, request: str) -> None:
    assert response.status_code < 500, f"{request} -> {response.status_code} {response.text[:500]}"
    if 400 <= response.status_code < 500:
        assert response.headers["content-type"].startswith("application/json"), request
        error = response.json()["error"]
        assert isinstance(error["code"], str) and error["code"], request
        assert isinstance(error["message"], str) and error["message"], request
        assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}, request


def test_graph_surface_never_fails(tenant: TenantHandle, world: World) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data: st.DataObject) -> None:
        method, path, params, headers, body = data.draw(requests(world))
        headers = {**tenant.headers, **headers}
        response = tenant.client.request(
            method, path, params=params, headers=headers, content=body, follow_redirects=False
        )
        _assert_graph_answer(response, f"{method} {path} {params} {headers.get('Prefer')} {body!r:.300}")

    one()
