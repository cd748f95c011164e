"""``alternativeSecurityIds`` on the Graph user: a synchronized user's anchor, selectable, filterable the one way
the reference allows, declared in ``$metadata``, read-only."""

from __future__ import annotations

import base64

from tests.helpers.cross_tenant import allow_sync, make_config
from tests.helpers.graph import assert_graph_error
from tests.helpers.tenants import TenantHandle


def test_the_anchor_of_a_synchronized_user(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    source, target = tenant, other_tenant
    allow_sync(target, source)
    config = make_config(source, target)
    config.create_job()
    config.start()
    member = source.new_user("anchored", mail=f"anchored@{source.domain}")
    config.assign(member["id"])
    config.settle()
    key = base64.b64encode(member["id"].encode()).decode()
    for clause in (f"x/type eq 5 and x/key eq '{key}'", f"x/key eq '{key}'"):
        found = target.get("/users", params={"$filter": f"alternativeSecurityIds/any(x:{clause})"})
        assert found.status_code == 200, found.text
        assert [u["mail"] for u in found.json()["value"]] == [member["mail"]]
    user_id = found.json()["value"][0]["id"]
    selected = target.get(f"/users/{user_id}", params={"$select": "id,alternativeSecurityIds"}).json()
    assert selected["alternativeSecurityIds"] == [{"type": 5, "identityProvider": source.id, "key": key}]
    assert "alternativeSecurityIds" not in target.get(f"/users/{user_id}").json()  # not a default property
    admin = target.get("/users", params={"$filter": "userType eq 'Member'", "$select": "alternativeSecurityIds"})
    assert [] in [u["alternativeSecurityIds"] for u in admin.json()["value"]]  # the target's own members: none
    other_type = target.get(
        "/users", params={"$filter": f"alternativeSecurityIds/any(x:x/type eq 2 and x/key eq '{key}')"}
    )
    assert other_type.status_code == 200 and other_type.json()["value"] == []
    # the other tenant never sees it
    assert (
        source.get("/users", params={"$filter": f"alternativeSecurityIds/any(x:x/key eq '{key}')"}).json()["value"]
        == []
    )
    for bad in (
        "alternativeSecurityIds/any(x:x/identityProvider eq 'a')",
        "alternativeSecurityIds/any(x:x/key eq 'not base64!')",
        "alternativeSecurityIds/any(x:x/type eq 5)",
        "alternativeSecurityIds/any(x:x/key ne 'eA==')",
        "alternativeSecurityIds/any(x:x/key eq 'eA==' or x/key eq 'eQ==')",
    ):
        refused = target.get("/users", params={"$filter": bad})
        assert refused.status_code == 400, (bad, refused.text)
    read_only = target.patch(f"/users/{user_id}", json={"alternativeSecurityIds": []})
    assert_graph_error(read_only, 400, "Request_BadRequest")
    metadata = target.client.get("/v1.0/$metadata").text
    assert 'Name="alternativeSecurityIds" Type="Collection(microsoft.graph.alternativeSecurityId)"' in metadata
