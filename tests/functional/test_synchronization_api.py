"""Graph synchronization API and ``/auditLogs/provisioning`` over HTTP (in-process app): shapes, error envelopes,
tenant isolation, permissions, and the calls that reach a real ``scim2-server`` target."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import secret_box
from hospes.domain.provisioning import Action, JobCode, Status
from hospes.provisioning.service import ProvisioningService
from hospes.settings import Settings
from tests.helpers.collector import run_collector
from tests.helpers.graph import assert_graph_error
from tests.helpers.provisioning import ROLE_ID
from tests.helpers.scimtarget import Target, run_target
from tests.helpers.tenants import TenantHandle, fetch_token

SUCCESS = "provisioningStatusInfo/status eq 'success'"


def make_sp(tenant: TenantHandle, name: str = "8x8") -> str:
    app = tenant.post(
        "/applications",
        json={
            "displayName": name,
            "appRoles": [{"id": ROLE_ID, "allowedMemberTypes": ["User"], "value": "User", "displayName": "User"}],
        },
    )
    assert app.status_code == 201, app.text
    sp = tenant.post("/servicePrincipals", json={"appId": app.json()["appId"]})
    assert sp.status_code == 201, sp.text
    sp_id: str = sp.json()["id"]
    return sp_id


def make_job(tenant: TenantHandle, sp_id: str) -> str:
    created = tenant.post(f"/servicePrincipals/{sp_id}/synchronization/jobs", json={"templateId": "scim"})
    assert created.status_code == 201, created.text
    job_id: str = created.json()["id"]
    return job_id


def test_fresh_job_secrets_and_lifecycle(tenant: TenantHandle) -> None:
    sp_id = make_sp(tenant)
    base = f"/servicePrincipals/{sp_id}/synchronization"
    root = tenant.get(base).json()
    assert root["jobs"] == [] and root["secrets"] == []
    # A SCIM app offers the SCIM template only (the cross-tenant configuration app offers Azure2Azure).
    (template,) = tenant.get(f"{base}/templates").json()["value"]
    assert template["id"] == "scim"
    assert tenant.get(f"/servicePrincipals/{sp_id}").json()["applicationTemplateId"] is None
    assert template["factoryTag"] == "scim"
    user_mapping = template["schema"]["synchronizationRules"][0]["objectMappings"][0]
    assert user_mapping["sourceObjectName"] == "User"
    assert "userName" in {m["targetAttributeName"] for m in user_mapping["attributeMappings"]}

    created = tenant.post(f"{base}/jobs", json={"templateId": "scim"})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["@odata.context"].endswith(f"#servicePrincipals('{sp_id}')/synchronization/jobs/$entity")
    assert job["id"].startswith("scim.") and job["templateId"] == "scim"
    assert job["schedule"]["expiration"] is None and job["schedule"]["state"] == "Disabled"
    status = job["status"]
    assert status["code"] == JobCode.NOT_CONFIGURED  # no credentials yet
    assert status["lastExecution"] is None and status["quarantine"] is None and status["progress"] == []
    assert status["steadyStateFirstAchievedTime"] == "0001-01-01T00:00:00Z"
    assert {"name": "QuarantineTooManyDeletesThreshold", "value": "500"} in job["synchronizationJobSettings"]
    assert_graph_error(tenant.post(f"{base}/jobs", json={"templateId": "scim"}), 400, "Request_BadRequest")
    job_url = f"{base}/jobs/{job['id']}"

    # Credentials: accepted, never echoed back (only the keys that are set).
    secrets = {
        "value": [
            {"key": "BaseAddress", "value": "https://scim.example.com/scim"},
            {"key": "SecretToken", "value": "tok-9f8e7d"},
        ]
    }
    put = tenant.request("PUT", f"{base}/secrets", json=secrets)
    assert put.status_code == 204, put.text
    root = tenant.get(base)
    assert "tok-9f8e7d" not in root.text
    assert root.json()["secrets"] == [{"key": "BaseAddress", "value": None}, {"key": "SecretToken", "value": None}]
    assert tenant.get(job_url).json()["status"]["code"] == JobCode.NOT_RUN

    settings = {"synchronizationJobSettings": [{"name": "QuarantineTooManyDeletesThreshold", "value": "20"}]}
    assert tenant.patch(job_url, json=settings).status_code == 204
    assert {"name": "QuarantineTooManyDeletesThreshold", "value": "20"} in tenant.get(job_url).json()[
        "synchronizationJobSettings"
    ]
    bad = {"synchronizationJobSettings": [{"name": "NoSuchSetting", "value": "1"}]}
    assert_graph_error(tenant.patch(job_url, json=bad), 400, "Request_BadRequest")
    assert_graph_error(tenant.patch(job_url, json={"schedule": {"interval": "PT1M"}}), 400, "Request_BadRequest")

    assert tenant.post(f"{job_url}/start").status_code == 204
    assert tenant.get(job_url).json()["status"]["code"] == JobCode.ACTIVE
    assert tenant.post(f"{job_url}/pause").status_code == 204
    assert tenant.get(job_url).json()["status"]["code"] == JobCode.PAUSED
    restart = tenant.post(f"{job_url}/restart", json={"criteria": {"resetScope": "Watermark, Escrows"}})
    assert restart.status_code == 204, restart.text
    assert tenant.get(job_url).json()["status"]["code"] == JobCode.ACTIVE
    # What the SDK sends for a list of flags, and no body at all: the default restart.
    assert tenant.post(f"{job_url}/restart", json={"criteria": {}}).status_code == 204
    assert tenant.post(f"{job_url}/restart").status_code == 204
    error = assert_graph_error(
        tenant.post(f"{job_url}/restart", json={"criteria": {"resetScope": "Watermark, Everything"}}),
        400,
        "Request_BadRequest",
    )
    assert "Everything" in error["message"]

    assert tenant.delete(job_url).status_code == 204
    assert_graph_error(tenant.get(job_url), 404, "Request_ResourceNotFound")
    assert tenant.delete(base).status_code == 204
    assert tenant.get(base).json()["secrets"] == []


def test_synchronization_root_put_and_delete(tenant: TenantHandle) -> None:
    sp_id = make_sp(tenant)
    base = f"/servicePrincipals/{sp_id}/synchronization"
    body = {
        "secrets": [
            {"key": "BaseAddress", "value": "https://scim.example.com/v2"},
            {"key": "SecretToken", "value": "t"},
        ],
        "jobs": [{"templateId": "scim"}],
    }
    assert tenant.request("PUT", base, json=body).status_code == 204
    root = tenant.get(base).json()
    assert [j["templateId"] for j in root["jobs"]] == ["scim"] and root["jobs"][0]["status"]["code"] == JobCode.NOT_RUN
    assert [s["key"] for s in root["secrets"]] == ["BaseAddress", "SecretToken"]
    assert tenant.request("PUT", base, json=body).status_code == 204  # idempotent: no second job
    assert len(tenant.get(f"{base}/jobs").json()["value"]) == 1
    # A bad template refuses the whole body: the secrets it carried are not applied.
    bad = {"secrets": [{"key": "SyncAll", "value": "true"}], "jobs": [{"templateId": "Salesforce"}]}
    assert_graph_error(tenant.request("PUT", base, json=bad), 400, "Request_BadRequest")
    assert [s["key"] for s in tenant.get(base).json()["secrets"]] == ["BaseAddress", "SecretToken"]
    assert tenant.delete(base).status_code == 204
    root = tenant.get(base).json()
    assert root["jobs"] == [] and root["secrets"] == []


def test_error_envelopes(tenant: TenantHandle) -> None:
    sp_id = make_sp(tenant)
    base = f"/servicePrincipals/{sp_id}/synchronization"
    error = assert_graph_error(
        tenant.post(f"{base}/jobs", json={"templateId": "salesforce"}), 400, "Request_BadRequest"
    )
    assert error["target"] == "templateId" and "salesforce" in error["message"]
    assert_graph_error(tenant.post(f"{base}/jobs", json={}), 400, "Request_BadRequest")
    assert_graph_error(
        tenant.post(f"{base}/jobs", content=b"{nope", headers={"content-type": "application/json"}),
        400,
        "Request_BadRequest",
    )
    error = assert_graph_error(
        tenant.request("PUT", f"{base}/secrets", json={"value": [{"key": "ApiKey", "value": "x"}]}),
        400,
        "Request_BadRequest",
    )
    assert "ApiKey" in error["message"]
    assert_graph_error(tenant.request("PUT", f"{base}/secrets", json={"value": "x"}), 400, "Request_BadRequest")
    error = assert_graph_error(
        tenant.request("PUT", f"{base}/secrets", json={"value": [{"key": "BaseAddress", "value": "ftp://x.example"}]}),
        400,
        "Request_BadRequest",
    )
    assert "BaseAddress" in error["message"]

    job_url = f"{base}/jobs/{make_job(tenant, sp_id)}"
    assert_graph_error(tenant.get(f"{base}/jobs/scim.doesnotexist"), 404, "Request_ResourceNotFound")
    assert_graph_error(tenant.post(f"{base}/jobs/scim.doesnotexist/start"), 404, "Request_ResourceNotFound")
    # Starting without credentials is refused, not silently accepted.
    assert_graph_error(tenant.post(f"{job_url}/start"), 400, "Request_BadRequest")

    schema = tenant.get(f"{job_url}/schema").json()
    users = schema["synchronizationRules"][0]["objectMappings"][0]
    title = next(m for m in users["attributeMappings"] if m["targetAttributeName"] == "title")
    title["source"] = {"type": "Function", "expression": 'Join(" ", [givenName]', "name": "Join"}
    for method in ("PATCH", "PUT"):
        error = assert_graph_error(tenant.request(method, f"{job_url}/schema", json=schema), 400, "Request_BadRequest")
        assert users["name"] in error["message"] and "(title)" in error["message"]
        assert "position 21" in error["message"]
    # Nothing was stored.
    stored = tenant.get(f"{job_url}/schema").json()["synchronizationRules"][0]["objectMappings"][0]
    assert (
        next(m for m in stored["attributeMappings"] if m["targetAttributeName"] == "title")["source"]["type"]
        == "Attribute"
    )

    parsed = tenant.post(f"{job_url}/schema/parseExpression", json={"expression": 'Join(" ", [givenName]'})
    assert parsed.status_code == 200
    body = parsed.json()
    assert body["parsingSucceeded"] is False and body["error"]["position"] == 21 and body["parsedExpression"] is None
    assert_graph_error(tenant.post(f"{job_url}/schema/parseExpression", json={}), 400, "Request_BadRequest")
    assert_graph_error(tenant.post(f"{job_url}/provisionOnDemand", json={"parameters": []}), 400, "Request_BadRequest")

    logs = "/auditLogs/provisioning"
    for bad_filter in (
        "startswith(jobId,'scim')",
        "jobId ne 'x'",
        "tenantId eq 'x' or jobId eq 'y'",
        "durationInMilliseconds gt 5",
        "modifiedProperties/any(p: p/displayName eq 'x')",
    ):
        assert_graph_error(tenant.get(logs, params={"$filter": bad_filter}), 400, "Request_UnsupportedQuery")
    assert_graph_error(tenant.get(logs, params={"$filter": "jobId eq"}), 400, "Request_BadRequest")
    assert_graph_error(
        tenant.get(logs, params={"$filter": "provisioningAction eq 'explode'"}), 400, "Request_BadRequest"
    )
    assert_graph_error(tenant.get(logs, params={"$orderby": "activityDateTime"}), 400, "Request_UnsupportedQuery")
    assert_graph_error(tenant.get(logs, params={"$top": "0"}), 400, "Request_BadRequest")
    assert_graph_error(tenant.get(logs, params={"$skiptoken": "forged.token"}), 400, "Request_BadRequest")
    assert_graph_error(tenant.get(f"{logs}/not-a-log"), 404, "Request_ResourceNotFound")


def test_schema_round_trip_and_discovery(tenant: TenantHandle) -> None:
    sp_id = make_sp(tenant)
    job_url = f"/servicePrincipals/{sp_id}/synchronization/jobs/{make_job(tenant, sp_id)}"
    schema = tenant.get(f"{job_url}/schema").json()
    users = schema["synchronizationRules"][0]["objectMappings"][0]
    groups = schema["synchronizationRules"][0]["objectMappings"][1]
    # PUT first with a narrower flow, then an SDK-style PATCH without flowTypes: the stored value is kept.
    groups["flowTypes"] = "Add, Update"
    title = next(m for m in users["attributeMappings"] if m["targetAttributeName"] == "title")
    title["source"] = {"type": "Function", "expression": 'Join(" ", [jobTitle], [department])', "name": "Join"}
    assert tenant.request("PUT", f"{job_url}/schema", json=schema).status_code == 204
    for mapping in schema["synchronizationRules"][0]["objectMappings"]:
        del mapping["flowTypes"]
    assert tenant.patch(f"{job_url}/schema", json=schema).status_code == 204
    stored = tenant.get(f"{job_url}/schema").json()
    stored_users, stored_groups = stored["synchronizationRules"][0]["objectMappings"]
    assert stored_groups["flowTypes"] == "Add, Update" and stored_users["flowTypes"] == "Add, Update, Delete"
    stored_title = next(m for m in stored_users["attributeMappings"] if m["targetAttributeName"] == "title")
    assert stored_title["source"]["expression"] == 'Join(" ", [jobTitle], [department])'
    # DELETE restores the template's mappings.
    assert tenant.delete(f"{job_url}/schema").status_code == 204
    restored = tenant.get(f"{job_url}/schema").json()["synchronizationRules"][0]["objectMappings"][1]
    assert restored["flowTypes"] == "Add, Update, Delete"

    functions = tenant.get(f"{job_url}/schema/functions()").json()["value"]
    by_name = {f["name"]: f for f in functions}
    assert {"Join", "IIF", "Switch", "SelectUniqueValue", "NormalizeDiacritics"} <= set(by_name)
    join = by_name["Join"]["parameters"]
    assert join[0] == {"name": "separator", "type": "String", "required": True, "allowMultipleOccurrences": False}
    assert join[-1]["allowMultipleOccurrences"] is True
    operators = {o["name"]: o for o in tenant.get(f"{job_url}/schema/filterOperators()").json()["value"]}
    assert operators["EQUALS"]["arity"] == "Binary" and operators["IS NULL"]["arity"] == "Unary"

    parsed = tenant.post(
        f"{job_url}/schema/parseExpression",
        json={
            "expression": 'Join(".", [givenName], [surname])',
            "testInputObject": {
                "definition": None,
                "properties": [{"key": "givenName", "value": "Ada"}, {"key": "surname", "value": "Lovelace"}],
            },
        },
    ).json()
    assert parsed["parsingSucceeded"] is True and parsed["evaluationSucceeded"] is True
    assert parsed["evaluationResult"] == ["Ada.Lovelace"]
    assert parsed["parsedExpression"]["type"] == "Function" and parsed["parsedExpression"]["name"] == "Join"


def test_other_tenant_sees_nothing(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    sp_id = make_sp(tenant)
    job_id = make_job(tenant, sp_id)
    base = f"/servicePrincipals/{sp_id}/synchronization"
    for method, path, body in (
        ("GET", base, None),
        ("PUT", f"{base}/secrets", {"value": [{"key": "SecretToken", "value": "stolen"}]}),
        ("GET", f"{base}/templates", None),
        ("GET", f"{base}/jobs", None),
        ("POST", f"{base}/jobs", {"templateId": "scim"}),
        ("GET", f"{base}/jobs/{job_id}", None),
        ("GET", f"{base}/jobs/{job_id}/schema", None),
        ("PATCH", f"{base}/jobs/{job_id}/schema", {"synchronizationRules": []}),
        ("POST", f"{base}/jobs/{job_id}/start", None),
        ("POST", f"{base}/jobs/{job_id}/restart", {"criteria": {}}),
        ("POST", f"{base}/jobs/{job_id}/provisionOnDemand", {"parameters": [{"subjects": [{"objectId": "x"}]}]}),
        ("DELETE", f"{base}/jobs/{job_id}", None),
        ("POST", f"{base}/jobs/validateCredentials", {"useSavedCredentials": True}),
    ):
        response = other_tenant.request(method, path, json=body)
        assert_graph_error(response, 404, "Request_ResourceNotFound")
    # The job is untouched.
    assert tenant.get(f"{base}/jobs/{job_id}").json()["status"]["code"] == JobCode.NOT_CONFIGURED
    assert tenant.get(base).json()["secrets"] == []


def test_permissions(tenant: TenantHandle) -> None:
    from hospes.domain.principals import system_principal
    from hospes.services.apps import AppService

    sp_id = make_sp(tenant)
    job_url = f"/servicePrincipals/{sp_id}/synchronization/jobs/{make_job(tenant, sp_id)}"
    sessions = tenant.client.app.state.runtime.sessions  # type: ignore[attr-defined]
    apps = AppService(sessions, system_principal(tenant.id))
    headers = {}
    for perms in (
        ["Synchronization.Read.All"],
        ["Synchronization.ReadWrite.All"],
        ["User.Read.All"],
        ["AuditLog.Read.All"],
    ):
        with apps.write("ApplicationManagement", "Add application") as op:
            application = apps.insert_app(op, {"display_name": "+".join(perms)}, {})
            sp = apps.insert_sp(op, application)
            _, secret = apps.insert_secret(op, application, "t")
            apps.grant_permissions(op, sp, perms)
        token = fetch_token(tenant.client, tenant.domain, application.app_id, secret)
        headers[perms[0]] = {"Authorization": f"Bearer {token}"}
    client = tenant.client
    reader, writer = headers["Synchronization.Read.All"], headers["Synchronization.ReadWrite.All"]
    assert client.get(f"/v1.0{job_url}", headers=reader).status_code == 200
    assert client.get(f"/v1.0{job_url}/schema", headers=reader).status_code == 200
    templates = f"/v1.0/servicePrincipals/{sp_id}/synchronization/templates"
    assert client.get(templates, headers=reader).status_code == 200
    assert_graph_error(client.post(f"/v1.0{job_url}/pause", headers=reader), 403, "Authorization_RequestDenied")
    assert_graph_error(
        client.get(f"/v1.0{job_url}", headers=headers["User.Read.All"]), 403, "Authorization_RequestDenied"
    )
    assert client.post(f"/v1.0{job_url}/pause", headers=writer).status_code == 204
    # Provisioning logs need AuditLog.Read.All, as in Graph.
    assert_graph_error(client.get("/v1.0/auditLogs/provisioning", headers=writer), 403, "Authorization_RequestDenied")
    assert client.get("/v1.0/auditLogs/provisioning", headers=headers["AuditLog.Read.All"]).status_code == 200
    assert_graph_error(client.get(f"/v1.0{job_url}"), 401, "InvalidAuthenticationToken")


# --- against a real SCIM target --------------------------------------------------------------------------------------


@pytest.fixture
def scim(tmp_path: Path) -> Iterator[Target]:
    with run_target(tmp_path / "scim") as target:
        yield target


@pytest.fixture
def loopback_service(
    tenant: TenantHandle, settings: Settings, sessions: sessionmaker[Session]
) -> Iterator[ProvisioningService]:
    """The app's facade, with loopback admitted as an operator would for an intranet target (HOSPES_OUTBOUND_ALLOW)."""
    app = tenant.client.app
    allowed = settings.model_copy(update={"outbound_allow": "127.0.0.1"})
    original = app.state.runtime  # type: ignore[attr-defined]
    service = ProvisioningService(sessions, allowed, secret_box(allowed.secret_key, allowed.data_dir))
    app.state.runtime = dataclasses.replace(original, provisioning=service)  # type: ignore[attr-defined]
    try:
        yield service
    finally:
        app.state.runtime = original  # type: ignore[attr-defined]


def test_loopback_target_refused_without_allow_list(tenant: TenantHandle, scim: Target) -> None:
    sp_id = make_sp(tenant)
    body = {
        "useSavedCredentials": False,
        "templateId": "scim",
        "credentials": [{"key": "BaseAddress", "value": scim.base_url}, {"key": "SecretToken", "value": scim.token}],
    }
    refused = tenant.post(f"/servicePrincipals/{sp_id}/synchronization/jobs/validateCredentials", json=body)
    assert refused.status_code == 400, refused.text
    message = refused.json()["error"]["message"]
    assert "127.0.0.1" in message or "loopback" in message.lower()


# Spellings of loopback that reach 127.0.0.1 through a lenient IPv4 parser, and IPv6 forms carrying it.
REFUSED_BASE_ADDRESSES = [
    "https://0177.0.0.1/scim",
    "https://0x7f.1/scim",
    "https://127.1/scim",
    "https://2130706433/scim",
    "https://127.0.0.01/scim",
    "https://[64:ff9b::7f00:1]/scim",
    "https://[2002:7f00:1::1]/scim",
    "https://[::127.0.0.1]/scim",
    "https://[::ffff:0:127.0.0.1]/scim",
    "https://[::ffff:127.0.0.1]/scim",
]


def test_blocked_and_invalid_base_addresses_are_a_graph_400(tenant: TenantHandle) -> None:
    """validateCredentials answers every refused address with the Graph error envelope and a 400 naming the
    refusal (never a 500, never an attempt to connect); saving a malformed one is a 400 on the property."""
    sp_id = make_sp(tenant)
    base = f"/servicePrincipals/{sp_id}/synchronization"
    for address in REFUSED_BASE_ADDRESSES:
        credentials = [{"key": "BaseAddress", "value": address}, {"key": "SecretToken", "value": "t"}]
        body = {"useSavedCredentials": False, "templateId": "scim", "credentials": credentials}
        error = assert_graph_error(
            tenant.post(f"{base}/jobs/validateCredentials", json=body),
            400,
            "SystemForCrossDomainIdentityManagementInvalidBaseAddress",
        )
        message = error["message"].lower()
        assert any(w in message for w in ("invalid", "not a valid", "hospes_outbound_allow")), (address, error)
    for address in REFUSED_BASE_ADDRESSES[:5]:
        error = assert_graph_error(
            tenant.request("PUT", f"{base}/secrets", json={"value": [{"key": "BaseAddress", "value": address}]}),
            400,
            "Request_BadRequest",
        )
        assert error["target"] == "BaseAddress", (address, error)


def test_saved_credentials_are_tested_as_saved(tenant: TenantHandle, loopback_service: ProvisioningService) -> None:
    """``useSavedCredentials: true`` ignores the credentials given with it (Entra's rule): a saved token is never
    sent to an address the request names."""
    sp_id = make_sp(tenant)
    base = f"/servicePrincipals/{sp_id}/synchronization"
    job_url = f"{base}/jobs/{make_job(tenant, sp_id)}"
    saved = [{"key": "BaseAddress", "value": "http://127.0.0.1:9/scim"}, {"key": "SecretToken", "value": "kept-1"}]
    assert tenant.request("PUT", f"{base}/secrets", json={"value": saved}).status_code == 204
    with run_collector() as collector:
        elsewhere = [{"key": "BaseAddress", "value": f"{collector.url}/scim"}]
        for url in (f"{job_url}/validateCredentials", f"{base}/jobs/validateCredentials"):
            body = {"useSavedCredentials": True, "templateId": "scim", "credentials": elsewhere}
            tested = tenant.post(url, json=body)
            # The saved address was tested (nothing listens there), not the one in the request.
            error = assert_graph_error(tested, 400, "SystemForCrossDomainIdentityManagementWebExceptionProtocolError")
            assert "connection failed" in error["message"]
        assert collector.seen == [] and "kept-1" not in collector.secrets_seen()


def test_against_scim_target(tenant: TenantHandle, scim: Target, loopback_service: ProvisioningService) -> None:
    sp_id = make_sp(tenant)
    base = f"/servicePrincipals/{sp_id}/synchronization"
    good = [{"key": "BaseAddress", "value": scim.base_url}, {"key": "SecretToken", "value": scim.token}]
    wrong = [{"key": "BaseAddress", "value": scim.base_url}, {"key": "SecretToken", "value": "wrong-token"}]
    check = {"useSavedCredentials": False, "templateId": "scim"}
    assert tenant.post(f"{base}/jobs/validateCredentials", json={**check, "credentials": good}).status_code == 204
    refused = tenant.post(f"{base}/jobs/validateCredentials", json={**check, "credentials": wrong})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"].startswith("SystemForCrossDomainIdentityManagement")

    job_id = make_job(tenant, sp_id)
    job_url = f"{base}/jobs/{job_id}"
    assert tenant.request("PUT", f"{base}/secrets", json={"value": good}).status_code == 204
    assert tenant.post(f"{job_url}/validateCredentials", json={"useSavedCredentials": True}).status_code == 204

    ada = tenant.new_user(givenName="Ada", surname="Lovelace", jobTitle="Engineer")
    outsider = tenant.new_user()
    assigned = tenant.post(
        f"/servicePrincipals/{sp_id}/appRoleAssignedTo",
        json={"principalId": ada["id"], "resourceId": sp_id, "appRoleId": ROLE_ID},
    )
    assert assigned.status_code == 201, assigned.text
    rule_id = tenant.get(f"{job_url}/schema").json()["synchronizationRules"][0]["id"]
    demand = tenant.post(
        f"{job_url}/provisionOnDemand",
        json={"parameters": [{"ruleId": rule_id, "subjects": [{"objectId": ada["id"], "objectTypeName": "User"}]}]},
    )
    assert demand.status_code == 200, demand.text
    body = demand.json()
    assert body["@odata.context"].endswith("#microsoft.graph.stringKeyStringValuePair")
    assert body["key"] == "Microsoft.Identity.Health.CPP.Common.DataContracts.SyncFabric.StatusInfo"
    (result,) = json.loads(body["value"])
    steps = result["provisioningSteps"]
    assert [s["type"] for s in steps][:3] == ["Import", "Scoping", "Matching"]
    assert steps[-1]["type"] == "Export" and all(s["status"] == "Success" for s in steps)
    assert result["action"] == Action.CREATE and result["status"] == Status.SUCCESS
    target_user = scim.user_by_name(ada["userPrincipalName"])
    assert target_user is not None and target_user["id"] == result["targetId"]
    bad_rule = {"parameters": [{"ruleId": "nope", "subjects": [{"objectId": ada["id"], "objectTypeName": "User"}]}]}
    assert_graph_error(tenant.post(f"{job_url}/provisionOnDemand", json=bad_rule), 400, "Request_BadRequest")
    skipped = tenant.post(
        f"{job_url}/provisionOnDemand",
        json={
            "parameters": [{"ruleId": rule_id, "subjects": [{"objectId": outsider["id"], "objectTypeName": "User"}]}]
        },
    )
    assert json.loads(skipped.json()["value"])[0]["status"] == Status.SKIPPED

    # Logs through Graph, with filters and keyset paging.
    logs = "/auditLogs/provisioning"
    every = tenant.get(logs, params={"$filter": f"jobId eq '{job_id}'"}).json()["value"]
    assert len(every) == 2
    created = tenant.get(
        logs,
        params={"$filter": f"jobId eq '{job_id}' and provisioningAction eq 'create' and {SUCCESS}"},
    ).json()["value"]
    (entry,) = created
    assert entry["sourceIdentity"] == {
        "id": ada["id"],
        "displayName": ada["displayName"],
        "identityType": "User",
        "details": {},
    }
    assert entry["targetIdentity"]["id"] == result["targetId"]
    assert entry["servicePrincipal"] == {"id": sp_id, "displayName": "8x8"}
    assert entry["initiatedBy"]["initiatorType"] == "system"
    assert {p["displayName"] for p in entry["modifiedProperties"]} >= {"userName", "active"}
    assert [s["provisioningStepType"] for s in entry["provisioningSteps"]][0] == "import"
    by_id = tenant.get(f"{logs}/{entry['id']}").json()
    assert by_id["id"] == entry["id"] and by_id["@odata.context"].endswith("#auditLogs/provisioning/$entity")
    for clause, expected in (
        (f"sourceIdentity/id eq '{ada['id']}'", 1),
        (f"targetIdentity/id eq '{result['targetId']}'", 1),
        (f"sourceIdentity/displayName eq '{ada['displayName'].upper()}'", 1),
        (f"sourceIdentity/displayName eq '{ada['displayName'][:3]}'", 0),
        ("provisioningStatusInfo/status eq 'skipped'", 1),
        (f"activityDateTime ge {entry['activityDateTime']}", 2 if every[0]["id"] != entry["id"] else 1),
        (f"activityDateTime gt {every[0]['activityDateTime']}", 0),
        ("activityDateTime lt 2000-01-01T00:00:00Z", 0),
        (f"cycleId eq '{entry['cycleId']}'", None),
    ):
        found = tenant.get(logs, params={"$filter": f"jobId eq '{job_id}' and {clause}"}).json()["value"]
        if expected is not None:
            assert len(found) == expected, (clause, found)
        else:
            assert entry["id"] in {f["id"] for f in found}
    first = tenant.get(logs, params={"$filter": f"jobId eq '{job_id}'", "$top": "1"}).json()
    assert len(first["value"]) == 1
    link = urlsplit(first["@odata.nextLink"])
    assert link.path == "/v1.0/auditLogs/provisioning" and "$filter" not in link.query
    response = tenant.get(first["@odata.nextLink"])  # absolute, used verbatim as the SDK does
    assert response.status_code == 200, response.text
    second = response.json()
    assert [e["id"] for e in first["value"] + second["value"]] == [e["id"] for e in every]
    assert "@odata.nextLink" not in second
    selected = tenant.get(
        logs, params={"$filter": f"jobId eq '{job_id}'", "$select": "provisioningAction,jobId"}
    ).json()
    assert selected["@odata.context"].endswith("#auditLogs/provisioning(provisioningAction,jobId)")
    assert all(set(e) == {"id", "provisioningAction", "jobId"} for e in selected["value"])
    assert_graph_error(tenant.get(logs, params={"$select": "password"}), 400, "Request_BadRequest")


def test_logs_are_per_tenant(
    tenant: TenantHandle, other_tenant: TenantHandle, scim: Target, loopback_service: ProvisioningService
) -> None:
    sp_id = make_sp(tenant)
    job_id = make_job(tenant, sp_id)
    loopback_service.put_secrets(tenant.id, sp_id, {"BaseAddress": scim.base_url, "SecretToken": scim.token})
    users = [tenant.new_user(), tenant.new_user()]
    for user in users:
        tenant.post(
            f"/servicePrincipals/{sp_id}/appRoleAssignedTo",
            json={"principalId": user["id"], "resourceId": sp_id, "appRoleId": ROLE_ID},
        )
    loopback_service.provision_on_demand(tenant.id, sp_id, job_id, [(u["id"], "User") for u in users])
    mine = tenant.get("/auditLogs/provisioning", params={"$filter": f"jobId eq '{job_id}'"}).json()["value"]
    assert len(mine) == 2
    assert other_tenant.get("/auditLogs/provisioning", params={"$filter": f"jobId eq '{job_id}'"}).json()["value"] == []
    assert other_tenant.get("/auditLogs/provisioning").json()["value"] == []
    assert_graph_error(other_tenant.get(f"/auditLogs/provisioning/{mine[0]['id']}"), 404, "Request_ResourceNotFound")
    # A page token made for one tenant is refused to another.
    first = tenant.get("/auditLogs/provisioning", params={"$top": "1"}).json()
    link = urlsplit(first["@odata.nextLink"])
    assert link.path == "/v1.0/auditLogs/provisioning"
    assert_graph_error(other_tenant.get(first["@odata.nextLink"]), 400, "Request_BadRequest")


GARBAGE: list[Any] = [
    None,
    1,
    "text",
    [],
    [1, "x"],
    {},
    {"value": None},
    {"value": [None]},
    {"criteria": "Full"},
    {"criteria": {"resetScope": 5}},
    {"templateId": 7},
    {"parameters": "x"},
    {"parameters": [{"subjects": "x"}]},
    {"parameters": [{"subjects": [{"objectId": 5}]}]},
    {"synchronizationJobSettings": "x"},
    {"synchronizationJobSettings": [{"name": None}]},
    {"synchronizationRules": "x"},
    {"synchronizationRules": [{"objectMappings": "x"}]},
    {"synchronizationRules": [{"objectMappings": [{"attributeMappings": {"a": 1}}]}]},
    {
        "synchronizationRules": [
            {
                "objectMappings": [
                    {"sourceObjectName": "User", "attributeMappings": [{"targetAttributeName": "x", "source": "y"}]}
                ]
            }
        ]
    },
    {"expression": 5},
    {"expression": "[a]", "testInputObject": []},
    {"credentials": "x"},
    {"useSavedCredentials": "yes"},
    {"jobs": [5]},
    {"secrets": "x"},
]


def test_garbage_bodies_are_400_never_500(tenant: TenantHandle) -> None:
    sp_id = make_sp(tenant)
    job_id = make_job(tenant, sp_id)
    base = f"/servicePrincipals/{sp_id}/synchronization"
    job = f"{base}/jobs/{job_id}"
    targets = [
        ("PUT", base),
        ("PUT", f"{base}/secrets"),
        ("POST", f"{base}/jobs"),
        ("POST", f"{base}/jobs/validateCredentials"),
        ("PATCH", job),
        ("POST", f"{job}/restart"),
        ("POST", f"{job}/provisionOnDemand"),
        ("POST", f"{job}/validateCredentials"),
        ("PUT", f"{job}/schema"),
        ("PATCH", f"{job}/schema"),
        ("POST", f"{job}/schema/parseExpression"),
    ]
    for method, path in targets:
        for body in GARBAGE:
            response = tenant.request(
                method, path, content=json.dumps(body), headers={"content-type": "application/json"}
            )
            assert response.status_code < 500, (method, path, body, response.text)
            if response.status_code >= 400:
                assert response.json()["error"]["code"], (method, path, body)
    # The job survived all of it unchanged.
    assert tenant.get(job).json()["status"]["code"] == JobCode.NOT_CONFIGURED
    schema = tenant.get(f"{job}/schema").json()
    assert len(schema["synchronizationRules"][0]["objectMappings"]) == 2


def test_quarantine_in_job_status(tenant: TenantHandle, scim: Target, loopback_service: ProvisioningService) -> None:
    sp_id = make_sp(tenant)
    base = f"/servicePrincipals/{sp_id}/synchronization"
    job_id = make_job(tenant, sp_id)
    job_url = f"{base}/jobs/{job_id}"
    wrong = [{"key": "BaseAddress", "value": scim.base_url}, {"key": "SecretToken", "value": "wrong-token"}]
    assert tenant.request("PUT", f"{base}/secrets", json={"value": wrong}).status_code == 204
    user = tenant.new_user()
    tenant.post(
        f"/servicePrincipals/{sp_id}/appRoleAssignedTo",
        json={"principalId": user["id"], "resourceId": sp_id, "appRoleId": ROLE_ID},
    )
    assert tenant.post(f"{job_url}/start").status_code == 204
    for _ in range(5):
        if not loopback_service.engine.step(job_id):
            break
    status = tenant.get(job_url).json()["status"]
    assert status["code"] == JobCode.QUARANTINE
    quarantine = status["quarantine"]
    assert quarantine["reason"] in (
        "EncounteredBaseEscrowThreshold",
        "EncounteredTotalEscrowThreshold",
        "EncounteredEscrowProportionThreshold",
        "EncounteredQuarantineException",
        "Unknown",
    )
    assert quarantine["currentBegan"] and quarantine["error"]["code"]
    assert status["lastExecution"]["state"] == "Failed" and status["countSuccessiveCompleteFailures"] >= 1
    assert scim.users() == []

    # The admin fixes the token and lifts the quarantine: the next cycle provisions the user.
    good = [{"key": "BaseAddress", "value": scim.base_url}, {"key": "SecretToken", "value": scim.token}]
    assert tenant.request("PUT", f"{base}/secrets", json={"value": good}).status_code == 204
    restart = tenant.post(f"{job_url}/restart", json={"criteria": {"resetScope": "QuarantineState"}})
    assert restart.status_code == 204
    for _ in range(20):
        if not loopback_service.engine.step(job_id):
            break
    status = tenant.get(job_url).json()["status"]
    assert status["code"] == JobCode.ACTIVE and status["quarantine"] is None
    assert [u["userName"] for u in scim.users()] == [user["userPrincipalName"]]
