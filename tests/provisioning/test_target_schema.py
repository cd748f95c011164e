"""The target's attributes for the mapping editor, discovered over SCIM ``/Schemas`` of the live scim2-server
(through the job's connector and the SSRF guard): what is offered before and after "refresh from target", that
discovery changes no mapping and forces no full cycle, a wrong token, a target without ``/Schemas``, and a
discovered attribute mapped and provisioned."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.provisioning.runs import CredentialsRejectedError
from hospes.provisioning.schema_edits import MappingInput
from hospes.provisioning.scim import ScimConfig, ScimConnector
from hospes.provisioning.ssrf import OutboundPolicy
from hospes.provisioning.target_schema import discovered_objects
from hospes.storage.tables_provisioning import ProvisioningJob
from tests.helpers.provisioning import App, make_app, person
from tests.helpers.scimtarget import ENTERPRISE, EXT_8X8
from tests.helpers.tenants import TenantHandle


def _full_pending(sessions: sessionmaker[Session], job_id: str) -> bool:
    with sessions() as s:
        job = s.get(ProvisioningJob, job_id)
        assert job is not None
        return bool(job.full_pending)


def test_refresh_from_target_offers_the_targets_attributes(sync_app: App, sessions: sessionmaker[Session]) -> None:
    app = sync_app
    args = (app.tenant.id, app.sp_id, app.job_id)
    before = app.service.target_attributes(*args, "user")
    assert not before.discovered and "userName" in before.names and "nickName" not in before.names
    schema_before = app.service.get_schema(*args)
    app.settle()  # the new job's first (full) cycle
    assert not _full_pending(sessions, app.job_id)

    assert app.service.discover_target_schema(*args) is True
    users = app.service.target_attributes(*args, "user")
    assert users.discovered and users.discovered_at
    for name in (
        "userName",
        "nickName",
        "name.middleName",
        'emails[type eq "home"].value',
        'addresses[type eq "work"].locality',
        f"{ENTERPRISE}:costCenter",
        f"{ENTERPRISE}:manager",  # a reference, offered whole
        f"{EXT_8X8}:site",  # the target's own extension, listed by its /ResourceTypes
        "externalId",
    ):
        assert name in users.names, name
    assert not {"id", "groups", "meta", f"{ENTERPRISE}:manager.value"} & set(users.names)  # read-only, or a part
    groups = app.service.target_attributes(*args, "group")
    assert groups.discovered and {"displayName", "members", "externalId"} <= set(groups.names)
    assert EXT_8X8 + ":site" not in groups.names

    # Kept in the Graph schema's target directory; the mappings are untouched, so no full cycle follows.
    schema = app.service.get_schema(*args)
    assert schema["synchronizationRules"] == schema_before["synchronizationRules"]
    target_dir = next(d for d in schema["directories"] if d["id"] == "target")
    user_object = next(o for o in target_dir["objects"] if o["name"] == "User")
    by_name = {a["name"]: a for a in user_object["attributes"]}
    assert by_name["active"]["type"] == "Boolean" and by_name["userName"]["anchor"] is True
    assert not _full_pending(sessions, app.job_id)


def test_a_discovered_attribute_is_mapped_and_provisioned(sync_app: App) -> None:
    app = sync_app
    args = (app.tenant.id, app.sp_id, app.job_id)
    app.service.discover_target_schema(*args)
    assert "nickName" in app.service.target_attributes(*args, "user").names
    app.service.set_attribute_mapping(*args, "user", MappingInput("nickName", "Attribute", "mailNickname"))
    someone = person(app.tenant)
    app.assign(someone["id"])
    app.settle()
    [created] = [u for u in app.target.users() if u["userName"] == someone["userPrincipalName"]]
    assert created["nickName"] == someone["mailNickname"]
    assert created["displayName"] == someone["displayName"]  # the default mapping


def test_a_wrong_token_is_said_and_nothing_is_kept(tenant: TenantHandle, service: Any, scim_target: Any) -> None:
    app = make_app(tenant, service, scim_target, token="not-the-token", start=False)
    args = (app.tenant.id, app.sp_id, app.job_id)
    with pytest.raises(CredentialsRejectedError) as refused:
        app.service.discover_target_schema(*args)
    assert "401" in refused.value.message
    assert not app.service.target_attributes(*args, "user").discovered


def test_a_target_without_schemas_keeps_the_default_list() -> None:
    """A target that answers 404 (or something that is not a list) on /Schemas describes nothing."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Schemas"):
            return httpx.Response(404, json={"detail": "not here"})
        return httpx.Response(200, json={"Resources": []})

    policy = OutboundPolicy.parse("127.0.0.1")
    connector = ScimConnector(
        ScimConfig(base_url="http://127.0.0.1:9/scim", token="t"), policy, httpx.MockTransport(answer)
    )
    assert connector.schema_documents() is None
    not_json = ScimConnector(
        ScimConfig(base_url="http://127.0.0.1:9/scim", token="t"),
        policy,
        httpx.MockTransport(lambda request: httpx.Response(200, text="<html>")),
    )
    assert not_json.schema_documents() is None
    assert discovered_objects({"schemas": [], "resourceTypes": []}) == []


def test_paths_of_a_schema_without_resource_types() -> None:
    schemas = [
        {
            "id": "urn:ietf:params:scim:schemas:core:2.0:User",
            "attributes": [
                {"name": "userName", "type": "string"},
                {"name": "id", "type": "string", "mutability": "readOnly"},
                {
                    "name": "emails",
                    "type": "complex",
                    "multiValued": True,
                    "subAttributes": [
                        {"name": "value", "type": "string"},
                        {"name": "type", "type": "string", "canonicalValues": ["work", 'bad"quote']},
                    ],
                },
                {
                    "name": "phoneNumbers",
                    "type": "complex",
                    "multiValued": True,
                    "subAttributes": [
                        {"name": "value", "type": "string"},
                        {"name": "type", "type": "string", "canonicalValues": ["work", "mobile"]},
                        {"name": "primary", "type": "boolean"},
                    ],
                },
            ],
        },
        {"id": "urn:example:extension:acme:1.0:User", "attributes": [{"name": "badge", "type": "integer"}]},
    ]
    [user] = discovered_objects({"schemas": schemas})
    assert [a["name"] for a in user["attributes"]] == [
        "userName",
        "emails",  # a canonical type that cannot be written in a filter: offered whole
        'phoneNumbers[type eq "work"].value',
        'phoneNumbers[type eq "mobile"].value',
        "externalId",
        "urn:example:extension:acme:1.0:User:badge",
    ]
    assert user["attributes"][-1]["type"] == "Integer"
