"""Input that used to give a 500 on the Graph surface: each is refused with a 400 in the Graph envelope."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from hospes.graph.deps import MAX_JSON_DEPTH
from hospes.graph.errors import error_response
from hospes.odata import MAX_FILTER_DEPTH, MAX_FILTER_TERMS
from tests.functional.test_synchronization_api import make_job, make_sp
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import PASSWORD, TenantHandle

JSON = {"content-type": "application/json"}


def _user(tenant: TenantHandle, nickname: str, **props: object) -> dict[str, object]:
    return {
        "accountEnabled": True,
        "displayName": nickname,
        "mailNickname": nickname,
        "userPrincipalName": f"{nickname}@{tenant.domain}",
        "passwordProfile": {"password": PASSWORD},
        **props,
    }


def _nested(depth: int) -> object:
    """``depth - 1`` objects nested in one another."""
    value: object = "x"
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("body", [b"[" * 990 + b"]" * 990, b'{"a":' * 990 + b"1" + b"}" * 990])
def test_deeply_nested_json_is_refused(tenant: TenantHandle, body: bytes) -> None:
    error = assert_graph_error(tenant.post("/users", content=body, headers=JSON), 400, "Request_BadRequest")
    assert f"deeper than {MAX_JSON_DEPTH}" in error["message"]


def test_json_nesting_limit(tenant: TenantHandle) -> None:
    inside = _user(tenant, "nested", extra=_nested(MAX_JSON_DEPTH))  # with the body itself: 64 levels
    assert "deeper" not in tenant.post("/users", json=inside).text
    beyond = _user(tenant, "nested", extra=_nested(MAX_JSON_DEPTH + 1))
    assert "deeper" in assert_graph_error(tenant.post("/users", json=beyond), 400, "Request_BadRequest")["message"]


@pytest.mark.parametrize("escaped", ["\\ud800", "a\\udfffb", "\\ude00\\ud83d"])
def test_lone_surrogates_are_refused(tenant: TenantHandle, escaped: str) -> None:
    body = json.dumps(_user(tenant, "sur")).replace('"displayName": "sur"', f'"displayName": "{escaped}"')
    response = tenant.post("/users", content=body.encode(), headers=JSON)
    assert "unpaired surrogate" in assert_graph_error(response, 400, "Request_BadRequest")["message"]
    key = json.dumps(_user(tenant, "surkey")).replace('"accountEnabled"', '"\\ud800"')
    assert_graph_error(tenant.post("/users", content=key.encode(), headers=JSON), 400, "Request_BadRequest")


def test_a_surrogate_pair_is_one_character(tenant: TenantHandle) -> None:
    body = json.dumps(_user(tenant, "pair")).replace('"displayName": "pair"', '"displayName": "\\ud83d\\ude00"')
    created = tenant.post("/users", content=body.encode(), headers=JSON)
    assert created.status_code == 201, created.text
    assert created.json()["displayName"] == "\N{GRINNING FACE}"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused(tenant: TenantHandle, number: str) -> None:
    body = json.dumps(_user(tenant, "num", extra="N")).replace('"N"', number)
    assert_graph_error(tenant.post("/users", content=body.encode(), headers=JSON), 400, "Request_BadRequest")


def test_error_envelope_encodes_any_text() -> None:
    response = error_response(400, "Request_BadRequest", "bad \ud800 value", target="\udfff")
    error = json.loads(response.body)["error"]
    assert error["message"] == "bad \ufffd value" and error["target"] == "\ufffd"


@pytest.mark.parametrize("top", ["²", "1²", "٣", "9" * 5000])
def test_top_takes_ascii_digits_only(tenant: TenantHandle, top: str) -> None:
    group = tenant.new_group()
    for path in ("/users", f"/groups/{group['id']}/members", "/auditLogs/provisioning"):
        assert_graph_error(tenant.get(path, params={"$top": top}), 400, "Request_BadRequest")


def test_maxpagesize_takes_ascii_digits_only(tenant: TenantHandle) -> None:
    # Header bytes are read as latin-1: b"\xb2" is '²', for which str.isdigit() is true and int() fails.
    for value in (b"\xb2", b"1\xb2", b"9" * 5000):
        response = tenant.get("/users/delta", headers={"Prefer": b"odata.maxpagesize=" + value})
        assert response.status_code == 200, response.text


def test_job_settings_take_ascii_digits_only(tenant: TenantHandle) -> None:
    sp_id = make_sp(tenant)
    job_url = f"/servicePrincipals/{sp_id}/synchronization/jobs/{make_job(tenant, sp_id)}"
    for value in ("²", "٣"):
        settings = {"synchronizationJobSettings": [{"name": "QuarantineTooManyDeletesThreshold", "value": value}]}
        assert_graph_error(tenant.patch(job_url, json=settings), 400, "Request_BadRequest")


@pytest.mark.parametrize(
    "text",
    [
        "(" * 500 + "displayName eq 'a'" + ")" * 500,
        "not " * 500 + "displayName eq 'a'",
        "(" * MAX_FILTER_DEPTH + "displayName eq 'a'" + ")" * MAX_FILTER_DEPTH,
        " or ".join(["displayName eq 'a'"] * 1000),
        " or ".join(["displayName eq 'a'"] * (MAX_FILTER_TERMS + 1)),
        "id in (" + ",".join(["'a'"] * 1000) + ")",
    ],
)
def test_filter_past_the_limits_is_refused(tenant: TenantHandle, text: str) -> None:
    for path in ("/users", "/groups", "/users/delta", "/auditLogs/provisioning"):
        response = tenant.get(path, params={"$filter": text}, headers={"ConsistencyLevel": "eventual"})
        assert_graph_error(response, 400, "Request_UnsupportedQuery")


def test_filter_at_the_limits_runs_on_the_database(tenant: TenantHandle) -> None:
    """The largest filters accepted reach the database (SQLite's expression depth, PostgreSQL's stack)."""
    tenant.new_user("limits", displayName="n7")
    deep = "(" * (MAX_FILTER_DEPTH - 1) + "displayName eq 'n7'" + ")" * (MAX_FILTER_DEPTH - 1)
    wide = " or ".join(f"displayName eq 'n{i}'" for i in range(MAX_FILTER_TERMS))
    nested = " or ".join(f"(displayName eq 'n{i}' or startswith(displayName, 'n{i}'))" for i in range(50))
    for text in (deep, wide, nested, "id in (" + ",".join(f"'{i}'" for i in range(MAX_FILTER_TERMS)) + ")"):
        response = tenant.get(
            "/users", params={"$filter": text, "$count": "true"}, headers={"ConsistencyLevel": "eventual"}
        )
        assert response.status_code == 200, response.text
    wide_ids = " or ".join("id eq '00000000-0000-0000-0000-000000000000'" for _ in range(MAX_FILTER_TERMS))
    assert tenant.get("/users/delta", params={"$filter": wide_ids}).status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/v1.0/me/mfa", "/v1.0/me/mfa/", "/v1.0/nosuch", "/v1.0/nosuch/thing"])
def test_unknown_graph_paths_answer_in_the_graph_envelope(
    client: TestClient, tenant: TenantHandle, method: str, path: str
) -> None:
    """Not the pages' ``/{tenant}/me``: the answer of every path that names nothing."""
    response = client.request(method, path, headers=tenant.headers, follow_redirects=False)
    segment = path.rstrip("/").rsplit("/", 1)[-1]
    error = assert_graph_error(response, 404, "Request_ResourceNotFound")
    assert error["message"] == f"Resource not found for the segment '{segment}'."


def test_graph_routes_keep_their_405_and_slash_redirect(client: TestClient, tenant: TenantHandle) -> None:
    refused = client.put("/v1.0/users", headers=tenant.headers)
    assert_graph_error(refused, 405, "Request_BadRequest")
    assert refused.headers["allow"] == "GET, HEAD, POST"
    redirect = client.get("/v1.0/users/", headers=tenant.headers, follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "/v1.0/users"


def test_nul_characters_are_refused(tenant: TenantHandle) -> None:
    """PostgreSQL takes no NUL in text: refused before a route reads it, on every backend alike."""
    for path in ("/users/%00", "/users/a%00b/memberOf", "/groups/%00/members"):
        assert_graph_error(tenant.get(path), 400, "Request_BadRequest")
    for params in ({"$filter": "displayName eq 'a\x00'"}, {"$skiptoken": "\x00"}, {"$search": '"displayName:\x00"'}):
        response = tenant.get("/users", params=params, headers={"ConsistencyLevel": "eventual"})
        assert_graph_error(response, 400, "Request_BadRequest")
    body = json.dumps(_user(tenant, "nul", displayName="a\x00b")).encode()
    error = assert_graph_error(tenant.post("/users", content=body, headers=JSON), 400, "Request_BadRequest")
    assert "NUL" in error["message"]
