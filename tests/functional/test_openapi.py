"""``/openapi.json`` describes the Graph surface as it behaves: request bodies, OData options, response and error
bodies, security; real answers validate against it.

What each route reads is taken from the route itself (its body dependency, the source of its endpoint), not from
the tables that build the document, so a new route without a description fails here.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from hospes.graph.deps import image_body, json_body, optional_body
from tests.helpers.delegated import as_scoped
from tests.helpers.tenants import TenantHandle

ERRORS_EVERYWHERE = ("400", "401", "403")
ODATA = ("$filter", "$select", "$orderby", "$top", "$search", "$count", "$skiptoken")


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def _graph_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    for context in iter_route_contexts(app.routes):  # routes of included routers, with their prefix
        route, path = context.original_route, context.path or ""
        if isinstance(route, APIRoute) and route.include_in_schema and path.startswith("/v1.0/"):
            for method in sorted(route.methods - {"HEAD"}):
                yield method.lower(), path, route


def _calls(dependant: Dependant) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """The document's components travel with the schema, so its ``#/components/...`` references resolve."""
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def _response_schema(doc: dict[str, Any], method: str, path: str, status: str) -> dict[str, Any]:
    response = _resolve(doc, doc["paths"][path][method]["responses"][status])
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "http://testserver"}]
    assert not any(path.startswith(("/{tenant}/login", "/portal", "/healthz")) for path in document["paths"])
    assert "HTTPValidationError" not in document["components"]["schemas"]  # 422 is never answered


def test_every_graph_route_is_described(app: FastAPI, document: dict[str, Any]) -> None:
    routes = list(_graph_routes(app))
    assert len(routes) > 80
    missing = [(m, p) for m, p, _ in routes if m not in document["paths"].get(p, {})]
    assert not missing


def test_every_write_route_describes_its_body(app: FastAPI, document: dict[str, Any]) -> None:
    """FastAPI alone describes none: the routes read their bodies through a dependency, not a model."""
    assert "requestBody" in document["paths"]["/v1.0/users"]["post"]
    for method, path, route in _graph_routes(app):
        if method not in ("post", "put", "patch"):
            continue
        operation = document["paths"][path][method]
        calls = _calls(route.dependant)
        if image_body in calls:
            assert set(operation["requestBody"]["content"]) == {"image/png", "image/jpeg", "image/gif"}, path
        elif json_body in calls or optional_body in calls:
            body = operation.get("requestBody")
            assert body is not None, f"{method} {path} reads a body the document does not describe"
            assert body["required"] is (json_body in calls), f"{method} {path}"
            schema = _resolve(document, body["content"]["application/json"]["schema"])
            assert schema["type"] == "object", f"{method} {path}"
            assert "413" in operation["responses"], f"{method} {path}"
        else:
            assert "requestBody" not in operation, f"{method} {path} reads no body"


def test_collections_describe_their_odata_options(app: FastAPI, document: dict[str, Any]) -> None:
    checked = 0
    for method, path, route in _graph_routes(app):
        source = inspect.getsource(route.endpoint)
        if method != "get" or "QueryOptions(" not in source or path.endswith("/$count"):
            continue  # $count answers a number: only $filter and $search matter there (checked below)
        params = {p["name"]: p for p in document["paths"][path]["get"].get("parameters", [])}
        assert "$select" in params, path
        if "paged(" in source:
            checked += 1
            assert set(ODATA) <= set(params), f"{path}: {sorted(params)}"
            assert params["ConsistencyLevel"]["in"] == "header"
            assert params["ConsistencyLevel"]["schema"]["enum"] == ["eventual"]
            assert params["$top"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 999, "default": 100}
    assert checked >= 6  # users, groups, applications, servicePrincipals, directoryAudits, deletedItems
    users = {p["name"]: p for p in document["paths"]["/v1.0/users"]["get"]["parameters"]}
    assert "userPrincipalName" in users["$select"]["schema"]["items"]["enum"]
    assert "displayName desc" in users["$orderby"]["schema"]["items"]["enum"]
    count = {p["name"]: p for p in document["paths"]["/v1.0/users/$count"]["get"]["parameters"]}
    assert count["ConsistencyLevel"]["required"] is True


def test_every_operation_lists_its_errors_with_the_graph_envelope(app: FastAPI, document: dict[str, Any]) -> None:
    envelope = document["components"]["schemas"]["ODataError"]
    for method, path, _ in _graph_routes(app):
        operation = document["paths"][path][method]
        expected = {*ERRORS_EVERYWHERE, *(("404",) if "{" in path else ())}
        assert expected <= set(operation["responses"]), f"{method} {path}"
        assert "422" not in operation["responses"]
        for status in expected:
            assert _resolve(document, _response_schema(document, method, path, status)) == envelope
        assert operation["security"] == [{"oauth2": ["https://graph.microsoft.com/.default"]}, {"bearer": []}]
    scheme = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert scheme["tokenUrl"] == "http://testserver/{tenant}/oauth2/v2.0/token"


def test_the_token_endpoint_is_described(document: dict[str, Any]) -> None:
    token = document["paths"]["/{tenant}/oauth2/v2.0/token"]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["properties"]["grant_type"]["enum"] == [
        "client_credentials",
        "password",
        "authorization_code",
        "refresh_token",
    ]
    assert {"200", "400", "401", "429"} <= set(token["responses"])


def test_real_answers_validate_against_the_document(
    tenant: TenantHandle, client: TestClient, document: dict[str, Any]
) -> None:
    def check(response: Any, method: str, path: str) -> Any:
        status = str(response.status_code)
        schema = _response_schema(document, method, path, status)
        _validator(document, schema).validate(response.json())
        return response.json()

    user_body = {
        "accountEnabled": True,
        "displayName": "Ada",
        "mailNickname": "ada",
        "userPrincipalName": f"ada@{tenant.domain}",
        "passwordProfile": {"password": "Correct-Horse-9"},
        "otherMails": ["ada@example.com"],
    }
    create_user = _validator(document, {"$ref": "#/components/schemas/user.create"})
    create_user.validate(user_body)
    assert not create_user.is_valid({**user_body, "shoeSize": 44})  # the server refuses it too
    assert not create_user.is_valid({**user_body, "id": "x"})  # read-only
    assert not create_user.is_valid({k: v for k, v in user_body.items() if k != "mailNickname"})

    user = check(tenant.post("/users", json=user_body), "post", "/v1.0/users")
    tenant.new_user("bob")
    group = check(
        tenant.post(
            "/groups",
            json={"displayName": "Team", "mailEnabled": False, "mailNickname": "team", "securityEnabled": True},
        ),
        "post",
        "/v1.0/groups",
    )
    assert tenant.post(f"/groups/{group['id']}/members/$ref", json={"@odata.id": user["id"]}).status_code == 204
    headers = {"ConsistencyLevel": "eventual"}
    page = check(tenant.get("/users?$top=1&$count=true", headers=headers), "get", "/v1.0/users")
    assert page["@odata.count"] >= 3 and "@odata.nextLink" in page
    check(tenant.get(f"/users/{user['id']}?$select=id,accountEnabled,identities"), "get", "/v1.0/users/{key}")
    check(tenant.get("/groups"), "get", "/v1.0/groups")
    check(tenant.get(f"/groups/{group['id']}/members"), "get", "/v1.0/groups/{group_id}/members")
    check(tenant.get(f"/groups/{group['id']}/members/$ref"), "get", "/v1.0/groups/{group_id}/members/$ref")
    check(tenant.get(f"/users/{user['id']}/memberOf"), "get", "/v1.0/users/{key}/memberOf")
    check(tenant.get(f"/users/{user['id']}/transitiveMemberOf"), "get", "/v1.0/users/{key}/transitiveMemberOf")
    me = as_scoped(tenant, user, "User.Read", "GroupMember.Read.All")
    check(me.get("/me?$select=id,userType"), "get", "/v1.0/me")
    check(me.get("/me/memberOf"), "get", "/v1.0/me/memberOf")
    check(me.get("/me/ownedObjects"), "get", "/v1.0/me/ownedObjects")
    check(me.get("/me/appRoleAssignments"), "get", "/v1.0/me/appRoleAssignments")
    check(tenant.get("/applications"), "get", "/v1.0/applications")
    check(tenant.get("/servicePrincipals"), "get", "/v1.0/servicePrincipals")
    check(tenant.get("/auditLogs/directoryAudits?$top=5"), "get", "/v1.0/auditLogs/directoryAudits")
    assert tenant.delete(f"/users/{user['id']}").status_code == 204
    check(tenant.get("/directory/deletedItems/microsoft.graph.user"), "get", "/v1.0/directory/deletedItems/{cast}")

    invitation = {"invitedUserEmailAddress": "guest@example.org", "inviteRedirectUrl": "https://example.org/"}
    _validator(document, {"$ref": "#/components/schemas/invitation"}).validate(invitation)
    check(tenant.post("/invitations", json=invitation), "post", "/v1.0/invitations")
    check(tenant.post("/invitations/bulk", json={"invitations": [invitation, {}]}), "post", "/v1.0/invitations/bulk")
    app_id = tenant.get("/applications").json()["value"][0]["id"]
    added = check(
        tenant.post(f"/applications/{app_id}/addPassword", json={"passwordCredential": {"displayName": "ci"}}),
        "post",
        "/v1.0/applications/{key}/addPassword",
    )
    assert added["secretText"]

    # Failures: the envelope of each documented status.
    check(tenant.post("/users", content=b"{nope", headers={"Content-Type": "application/json"}), "post", "/v1.0/users")
    check(tenant.get("/users/00000000-0000-0000-0000-000000000000"), "get", "/v1.0/users/{key}")
    check(client.get("/v1.0/users"), "get", "/v1.0/users")
