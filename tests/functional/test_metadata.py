"""``/v1.0/$metadata`` (CSDL, generated from the resource schemas) declares every property the API returns; ``/v1.0``
is the service document; every ``@odata.context`` resolves; unknown segments answer 404 in the Graph envelope."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from hospes.domain.schema import APPLICATION, GROUP, INVITATION, ORGANIZATION, SERVICE_PRINCIPAL, USER, Resource
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle

EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def _declared(client: TestClient) -> tuple[dict[str, set[str]], set[str]]:
    """{entity type: declared property and navigation names}, and the entity set and singleton names."""
    response = client.get("/v1.0/$metadata")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{EDMX}Edmx" and root.get("Version") == "4.0"
    schema = root.find(f"{EDMX}DataServices/{EDM}Schema")
    assert schema is not None and schema.get("Namespace") == "microsoft.graph"
    types: dict[str, set[str]] = {}
    for entity in schema.iter(f"{EDM}EntityType"):
        names = {p.get("Name") for p in entity if p.tag in (f"{EDM}Property", f"{EDM}NavigationProperty")}
        types[entity.get("Name") or ""] = {n for n in names if n}
        for prop in entity.iter(f"{EDM}Property"):
            assert prop.get("Type"), prop.get("Name")
    complex_types = {c.get("Name") for c in schema.iter(f"{EDM}ComplexType")}
    for prop in schema.iter(f"{EDM}Property"):
        type_name = (prop.get("Type") or "").removeprefix("Collection(").removesuffix(")")
        if type_name.startswith("microsoft.graph."):  # every type it names is declared
            assert type_name.removeprefix("microsoft.graph.") in complex_types | set(types), type_name
    sets = {s.get("Name") or "" for s in schema.iter(f"{EDM}EntitySet")}
    for singleton in schema.iter(f"{EDM}Singleton"):
        assert (singleton.get("Type") or "").removeprefix("microsoft.graph.") in types
        sets.add(singleton.get("Name") or "")
    return types, sets


def _assert_declared(types: dict[str, set[str]], resource: Resource, body: dict[str, Any]) -> None:
    returned = {k for k in body if not k.startswith("@")}
    assert returned, body
    assert returned <= types[resource.name], (resource.name, sorted(returned - types[resource.name]))


def _objects(tenant: TenantHandle) -> list[tuple[Resource, str, dict[str, Any]]]:
    user = tenant.new_user()
    group = tenant.new_group()
    app = tenant.post("/applications", json={"displayName": "Payroll"}).json()
    sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    invitation = tenant.post(
        "/invitations",
        json={"invitedUserEmailAddress": "meta@partner.example", "inviteRedirectUrl": "https://app.example"},
    )
    assert invitation.status_code == 201, invitation.text
    org = tenant.get("/organization").json()["value"][0]
    return [
        (USER, f"/users/{user['id']}", user),
        (GROUP, f"/groups/{group['id']}", group),
        (APPLICATION, f"/applications/{app['id']}", app),
        (SERVICE_PRINCIPAL, f"/servicePrincipals/{sp['id']}", sp),
        (INVITATION, "", invitation.json()),
        (ORGANIZATION, f"/organization/{org['id']}", org),
    ]


def test_every_returned_property_is_declared_for_its_type(client: TestClient, tenant: TenantHandle) -> None:
    types, sets = _declared(client)
    assert {"users", "groups", "applications", "servicePrincipals", "invitations", "organization"} <= sets
    for resource, path, created in _objects(tenant):
        _assert_declared(types, resource, created)
        if not path:
            continue  # invitations are created, never read back
        plain = tenant.get(path)
        assert plain.status_code == 200, plain.text
        _assert_declared(types, resource, plain.json())
        every = ",".join(p.name for p in resource.props if p.kind != "nav")
        selected = tenant.get(f"{path}?$select={every}")
        assert selected.status_code == 200, selected.text
        _assert_declared(types, resource, selected.json())
        listed = tenant.get(f"/{resource.collection}?$select={every}&$top=5")
        assert listed.status_code == 200, listed.text
        for item in listed.json()["value"]:
            _assert_declared(types, resource, item)


def test_relations_served_as_segments_are_navigation_properties(client: TestClient, tenant: TenantHandle) -> None:
    """Every ``/users/{id}/<relation>`` and ``/me/<relation>`` the API serves is declared on its type."""
    types, _ = _declared(client)
    user = tenant.new_user()
    relations = ("memberOf", "transitiveMemberOf", "ownedObjects", "sponsors", "appRoleAssignments")
    for relation in relations:
        assert tenant.get(f"/users/{user['id']}/{relation}").status_code == 200, relation
        assert relation in types["user"], relation
    assert {"members", "owners", "appRoleAssignments"} <= types["group"]


def test_odata_context_resolves_to_the_metadata(client: TestClient, tenant: TenantHandle) -> None:
    context = tenant.get("/users").json()["@odata.context"]
    assert context.endswith("/v1.0/$metadata#users")
    document = client.get(context.split("#", 1)[0].removeprefix("http://testserver"))
    assert document.status_code == 200 and document.headers["content-type"].startswith("application/xml")


@pytest.mark.parametrize("path", ["/v1.0", "/v1.0/"])
def test_service_document_lists_the_entity_sets(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata")
    names = {s["name"] for s in body["value"]}
    assert {"users", "groups", "applications", "servicePrincipals", "invitations", "organization"} <= names
    assert all(s["url"] == s["name"] for s in body["value"])
    assert {s["name"] for s in body["value"] if s["kind"] == "Singleton"} == {"me"}
    assert all(s["kind"] == "EntitySet" for s in body["value"] if s["name"] != "me")
    _, sets = _declared(client)
    assert names == sets


def test_unknown_segments_answer_404_in_the_graph_envelope(tenant: TenantHandle) -> None:
    for path in ("/nothing", "/nothing/here", "/users/x/nothing", "/groups/x/members/y/z", "/$nothing"):
        error = assert_graph_error(tenant.get(path), 404, "Request_ResourceNotFound")
        assert "not found" in error["message"]
    assert_graph_error(tenant.get("/users/00000000-0000-0000-0000-000000000000"), 404, "Request_ResourceNotFound")
