"""``/users`` through the ASGI app: CRUD, validation errors in the Graph envelope, OData options, paging."""

from __future__ import annotations

from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle


def test_create_get_update_delete_user(tenant: TenantHandle) -> None:
    user = tenant.new_user("ada", givenName="Ada", surname="Lovelace", jobTitle="Analyst")
    assert user["@odata.context"] == "http://testserver/v1.0/$metadata#users/$entity"
    assert user["userPrincipalName"] == f"ada@{tenant.domain}"
    assert user["businessPhones"] == []
    assert "accountEnabled" not in user  # not a default property

    by_upn = tenant.get(f"/users/ADA@{tenant.domain.upper()}").json()
    assert by_upn["id"] == user["id"]

    assert tenant.patch(f"/users/{user['id']}", json={"jobTitle": "Lead", "department": "R&D"}).status_code == 204
    got = tenant.get(f"/users/{user['id']}?$select=jobTitle,department,accountEnabled").json()
    assert got == {
        "@odata.context": got["@odata.context"],
        "id": user["id"],
        "jobTitle": "Lead",
        "department": "R&D",
        "accountEnabled": True,
    }

    assert tenant.delete(f"/users/{user['id']}").status_code == 204
    assert_graph_error(tenant.get(f"/users/{user['id']}"), 404, "Request_ResourceNotFound")


def test_duplicate_upn_and_foreign_domain_are_refused(tenant: TenantHandle) -> None:
    tenant.new_user("bob")
    body = {
        "accountEnabled": True,
        "displayName": "Bob",
        "mailNickname": "bob",
        "userPrincipalName": f"BOB@{tenant.domain}",
        "passwordProfile": {"password": "Correct-Horse-9"},
    }
    error = assert_graph_error(tenant.post("/users", json=body), 400, "Request_BadRequest")
    assert "userPrincipalName already exists" in error["message"]
    body["userPrincipalName"] = "bob@not-ours.example"
    error = assert_graph_error(tenant.post("/users", json=body), 400, "Request_BadRequest")
    assert "verified domain" in error["message"]


def test_bad_input_gets_graph_errors(tenant: TenantHandle) -> None:
    assert_graph_error(
        tenant.post("/users", content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "Request_BadRequest",
    )
    error = assert_graph_error(
        tenant.post("/users", json={"displayName": "X", "shoeSize": 44}), 400, "Request_BadRequest"
    )
    assert "shoeSize" in error["message"]
    assert_graph_error(tenant.post("/users", json={"displayName": 5}), 400, "Request_BadRequest")
    error = assert_graph_error(tenant.post("/users", json={"displayName": "X"}), 400, "Request_BadRequest")
    assert "accountEnabled" in error["message"]
    assert_graph_error(tenant.post("/users", json=[1, 2]), 400, "Request_BadRequest")
    weak = {
        "accountEnabled": True,
        "displayName": "W",
        "mailNickname": "w",
        "userPrincipalName": f"w@{tenant.domain}",
        "passwordProfile": {"password": "short"},
    }
    assert_graph_error(tenant.post("/users", json=weak), 400, "Request_BadRequest")
    assert_graph_error(tenant.get("/users?$filter=displayName eq"), 400, "Request_BadRequest")
    assert_graph_error(tenant.get("/users?$filter=shoeSize eq 'x'"), 400, "Request_BadRequest")
    assert_graph_error(tenant.get("/users?$select=shoeSize"), 400, "Request_BadRequest")
    assert_graph_error(tenant.get("/users?$top=1000"), 400, "Request_BadRequest")
    assert_graph_error(tenant.get("/users?$skiptoken=forged"), 400, "Request_BadRequest")
    assert_graph_error(tenant.get("/nothing/here"), 404, "Request_ResourceNotFound")


def test_body_too_large(tenant: TenantHandle) -> None:
    huge = b'{"displayName": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    assert_graph_error(
        tenant.post("/users", content=huge, headers={"Content-Type": "application/json"}),
        413,
        "Request_EntityTooLarge",
    )


def test_filter_select_orderby_and_paging(tenant: TenantHandle) -> None:
    for i in range(7):
        tenant.new_user(f"pager{i}", givenName="Pat" if i % 2 else "Sam", otherMails=[f"p{i}@mail.example"])
    seen: list[str] = []
    url = "/users?$filter=startswith(userPrincipalName,'pager')&$top=3&$select=id,userPrincipalName"
    pages = 0
    while url:
        body = tenant.get(url).json()
        pages += 1
        seen.extend(u["userPrincipalName"].split("@")[0] for u in body["value"])
        assert all(set(u) == {"id", "userPrincipalName"} for u in body["value"])
        url = body.get("@odata.nextLink", "")
        if url:
            assert url.startswith("http://testserver/v1.0/users?$skiptoken=")
    assert pages == 3
    assert sorted(seen) == [f"pager{i}" for i in range(7)]

    pats = tenant.get("/users?$filter=givenName eq 'PAT' and startswith(mailNickname,'pager')").json()["value"]
    assert len(pats) == 3
    inlist = tenant.get(f"/users?$filter=userPrincipalName in ('pager1@{tenant.domain}','nobody@x.example')")
    assert [u["userPrincipalName"] for u in inlist.json()["value"]] == [f"pager1@{tenant.domain}"]
    anymail = tenant.get("/users?$filter=otherMails/any(m:m eq 'p4@mail.example')").json()["value"]
    assert [u["userPrincipalName"] for u in anymail] == [f"pager4@{tenant.domain}"]

    eventual = {"ConsistencyLevel": "eventual"}
    assert_graph_error(tenant.get("/users?$filter=givenName ne 'Pat'"), 400, "Request_UnsupportedQuery")
    ordered = tenant.get(
        "/users?$filter=startswith(mailNickname,'pager')&$orderby=displayName desc&$count=true",
        headers=eventual,
    ).json()
    assert ordered["@odata.count"] == 7
    assert [u["displayName"] for u in ordered["value"]] == [f"Pager{i}" for i in range(6, -1, -1)]
    assert_graph_error(tenant.get('/users?$search="displayName:pager"'), 400, "Request_UnsupportedQuery")
    found = tenant.get('/users?$search="displayName:pager"', headers=eventual).json()["value"]
    assert len(found) == 7
    count = tenant.get("/users/$count", headers=eventual)
    assert count.status_code == 200 and count.text == "8"  # 7 + the admin
    assert_graph_error(tenant.get("/users/$count"), 400, "Request_BadRequest")


def test_identities_filter(tenant: TenantHandle) -> None:
    tenant.new_user(
        "idt",
        identities=[
            {
                "signInType": "emailAddress",
                "issuer": "contoso.example",
                "issuerAssignedId": "Ida@Mail.example",
            }
        ],
    )
    query = (
        "/users?$filter=identities/any(c:c/issuerAssignedId eq 'ida@mail.example' and c/issuer eq 'contoso.example')"
    )
    assert [u["userPrincipalName"] for u in tenant.get(query).json()["value"]] == [f"idt@{tenant.domain}"]


def test_double_slash_paths_are_tolerated(tenant: TenantHandle) -> None:
    response = tenant.client.get("/v1.0//users", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["value"][0]["userPrincipalName"] == f"admin@{tenant.domain}"
