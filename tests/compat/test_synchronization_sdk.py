"""Seed 002's flow driven by the official msgraph-sdk against a real ``hospes serve`` (with its provisioning runner)
and a real ``scim2-server`` target: app + service principal, Test connection, job from the ``scim`` template,
secrets, schema GET-modify-PATCH (the SDK drops ``flowTypes``), assignment, provision on demand, start, status until
steady, provisioning logs with ``$filter``, restart with reset scopes (the SDK drops list values)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.audit_logs.provisioning.provisioning_request_builder import ProvisioningRequestBuilder
from msgraph.generated.models.app_role import AppRole
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application
from msgraph.generated.models.attribute_mapping_source_type import AttributeMappingSourceType
from msgraph.generated.models.key_value_pair import KeyValuePair
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.provisioning_action import ProvisioningAction
from msgraph.generated.models.provisioning_result import ProvisioningResult
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.synchronization_job import SynchronizationJob
from msgraph.generated.models.synchronization_job_application_parameters import (
    SynchronizationJobApplicationParameters,
)
from msgraph.generated.models.synchronization_job_restart_criteria import SynchronizationJobRestartCriteria
from msgraph.generated.models.synchronization_job_restart_scope import SynchronizationJobRestartScope
from msgraph.generated.models.synchronization_job_subject import SynchronizationJobSubject
from msgraph.generated.models.synchronization_secret import SynchronizationSecret
from msgraph.generated.models.synchronization_secret_key_string_value_pair import (
    SynchronizationSecretKeyStringValuePair,
)
from msgraph.generated.models.synchronization_status_code import SynchronizationStatusCode
from msgraph.generated.models.user import User
from msgraph.generated.service_principals.item.synchronization.jobs.item.provision_on_demand.provision_on_demand_post_request_body import (  # noqa: E501
    ProvisionOnDemandPostRequestBody,
)
from msgraph.generated.service_principals.item.synchronization.jobs.item.restart.restart_post_request_body import (
    RestartPostRequestBody,
)
from msgraph.generated.service_principals.item.synchronization.jobs.item.schema.parse_expression.parse_expression_post_request_body import (  # noqa: E501
    ParseExpressionPostRequestBody,
)
from msgraph.generated.service_principals.item.synchronization.jobs.validate_credentials.validate_credentials_post_request_body import (  # noqa: E501
    ValidateCredentialsPostRequestBody,
)
from msgraph.generated.service_principals.item.synchronization.secrets.secrets_put_request_body import (
    SecretsPutRequestBody,
)
from sqlalchemy.orm import Session, sessionmaker

from hospes.services.tenants import TenantBootstrap, create_tenant
from hospes.settings import Settings
from tests.helpers.live import LiveServer, graph_client, run_server, sdk_user
from tests.helpers.scimtarget import Target, run_target

pytestmark = pytest.mark.live
ROLE_ID = uuid.UUID("6b7a3f3e-1b1c-4c55-8a7e-3b0b7d2b9c11")


@pytest.fixture(scope="module")
def sync_server(database_url: str, settings: Settings) -> Iterator[LiveServer]:
    """A server whose provisioning runner may reach loopback targets (an operator's HOSPES_OUTBOUND_ALLOW). It
    shares the in-process app's data directory, hence its key file: the signing keys and secrets stored in the
    common database stay readable by the other tests of the session."""
    env = {
        "HOSPES_OUTBOUND_ALLOW": "127.0.0.1",
        "HOSPES_PROVISIONING_POLL_SECONDS": "0.1",
        "HOSPES_PROVISIONING_RUNNER": "true",
    }
    with run_server(database_url, str(settings.data_dir), env) as server:
        yield server


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    with run_target(tmp_path / "scim") as scim:
        yield scim


def secrets(target: Target, token: str | None = None) -> list[SynchronizationSecretKeyStringValuePair]:
    return [
        SynchronizationSecretKeyStringValuePair(key=SynchronizationSecret.BaseAddress, value=target.base_url),
        SynchronizationSecretKeyStringValuePair(key=SynchronizationSecret.SecretToken, value=token or target.token),
    ]


def test_seed_002_flow_through_the_sdk(
    sync_server: LiveServer, sessions: sessionmaker[Session], target: Target
) -> None:
    boot: TenantBootstrap = create_tenant(sessions, "Contoso", f"contoso-{uuid.uuid4().hex[:8]}.example")
    sdk: Any = graph_client(sync_server, boot.domain, boot.client_id, boot.client_secret)

    async def scenario() -> None:
        app = await sdk.applications.post(
            Application(
                display_name="8x8",
                app_roles=[
                    AppRole(
                        id=ROLE_ID, allowed_member_types=["User"], value="User", display_name="User", is_enabled=True
                    )
                ],
            )
        )
        sp = await sdk.service_principals.post(ServicePrincipal(app_id=app.app_id))
        sync = sdk.service_principals.by_service_principal_id(sp.id).synchronization

        # Test connection before any job, with the credentials typed in the form.
        await sync.jobs.validate_credentials.post(
            ValidateCredentialsPostRequestBody(
                use_saved_credentials=False, template_id="scim", credentials=secrets(target)
            )
        )
        with pytest.raises(ODataError) as refused:
            await sync.jobs.validate_credentials.post(
                ValidateCredentialsPostRequestBody(
                    use_saved_credentials=False, template_id="scim", credentials=secrets(target, "wrong-token")
                )
            )
        assert refused.value.response_status_code == 400
        assert str(getattr(refused.value.error, "code", "")).startswith("SystemForCrossDomainIdentityManagement")

        with pytest.raises(ODataError) as unknown:
            await sync.jobs.post(SynchronizationJob(template_id="salesforce"))
        assert unknown.value.response_status_code == 400
        assert "salesforce" in str(getattr(unknown.value.error, "message", ""))

        templates = await sync.templates.get()
        (template,) = templates.value
        assert template.id == "scim" and str(template.application_id) == app.app_id
        assert template.schema.synchronization_rules[0].object_mappings[0].source_object_name == "User"

        job = await sync.jobs.post(SynchronizationJob(template_id="scim"))
        assert job.template_id == "scim" and job.status.code == SynchronizationStatusCode.NotConfigured
        assert job.status.quarantine is None and job.status.last_execution is None
        await sync.secrets.put(SecretsPutRequestBody(value=secrets(target)))
        await sync.jobs.by_synchronization_job_id(job.id).patch(
            SynchronizationJob(
                synchronization_job_settings=[KeyValuePair(name="QuarantineTooManyDeletesThreshold", value="50")]
            )
        )
        root = await sync.get()
        assert [j.id for j in root.jobs] == [job.id]
        assert sorted(p.key.value for p in root.secrets) == ["BaseAddress", "SecretToken"]
        assert all(p.value is None for p in root.secrets)  # write-only
        settings = {p.name: p.value for p in root.jobs[0].synchronization_job_settings}
        assert settings["QuarantineTooManyDeletesThreshold"] == "50"
        jobs = sync.jobs.by_synchronization_job_id(job.id)
        assert (await jobs.get()).status.code == SynchronizationStatusCode.NotRun

        # Schema: GET, modify one mapping, PATCH back (the SDK serializes no flowTypes).
        schema = await jobs.schema.get()
        rule = schema.synchronization_rules[0]
        users_mapping = next(m for m in rule.object_mappings if m.source_object_name == "User")
        title = next(a for a in users_mapping.attribute_mappings if a.target_attribute_name == "title")
        title.source.type = AttributeMappingSourceType.Function
        title.source.expression = 'Join(" - ", [jobTitle], [department])'
        title.source.name = "Join"
        title.source.parameters = []
        await jobs.schema.patch(schema)
        raw = await asyncio.to_thread(
            httpx.get,
            f"{sync_server.graph_url}/servicePrincipals/{sp.id}/synchronization/jobs/{job.id}/schema",
            headers={"Authorization": f"Bearer {await token_of(sdk)}"},
        )
        stored_rule = raw.json()["synchronizationRules"][0]
        assert all(m["flowTypes"] == "Add, Update, Delete" for m in stored_rule["objectMappings"])
        stored_title = next(
            a for a in stored_rule["objectMappings"][0]["attributeMappings"] if a["targetAttributeName"] == "title"
        )
        assert stored_title["source"]["expression"] == 'Join(" - ", [jobTitle], [department])'

        # The expression tools the mapping editor uses, through the SDK.
        operators = await jobs.schema.filter_operators.get()
        assert "EQUALS" in {o.id for o in operators.value}
        functions = await jobs.schema.functions.get()
        assert {"Join", "Switch"} <= {f.id for f in functions.value}
        parsed = await jobs.schema.parse_expression.post(
            ParseExpressionPostRequestBody(expression='Join(" - ", [jobTitle]')
        )
        assert parsed.parsing_succeeded is False and parsed.error.code

        # Assigned users are in scope; Ada is provisioned on demand, Grace by the first cycle.
        ada = await sdk.users.post(sdk_user(boot, "ada"))
        grace = await sdk.users.post(sdk_user(boot, "grace"))
        await sdk.users.by_user_id(ada.id).patch(User(job_title="Engineer", department="R&D"))
        for user in (ada, grace):
            await sdk.service_principals.by_service_principal_id(sp.id).app_role_assigned_to.post(
                AppRoleAssignment(principal_id=uuid.UUID(user.id), resource_id=uuid.UUID(sp.id), app_role_id=ROLE_ID)
            )
        pair = await jobs.provision_on_demand.post(
            ProvisionOnDemandPostRequestBody(
                parameters=[
                    SynchronizationJobApplicationParameters(
                        rule_id=rule.id,
                        subjects=[SynchronizationJobSubject(object_id=ada.id, object_type_name="User")],
                    )
                ]
            )
        )
        assert pair.key == "Microsoft.Identity.Health.CPP.Common.DataContracts.SyncFabric.StatusInfo"
        (outcome,) = json.loads(pair.value)
        assert [s["type"] for s in outcome["provisioningSteps"]][0] == "Import"
        assert outcome["provisioningSteps"][-1]["status"] == "Success"
        on_target = await asyncio.to_thread(target.user_by_name, ada.user_principal_name)
        assert on_target is not None and on_target["title"] == "Engineer - R&D"  # the PATCHed mapping

        await jobs.start.post()
        status = await wait_steady(jobs)
        assert status.code == SynchronizationStatusCode.Active and status.quarantine is None
        assert status.last_execution is not None
        counts = {p.key: p.value for p in status.synchronized_entry_count_by_type}
        assert counts["User"] == 2
        assert await asyncio.to_thread(target.user_by_name, grace.user_principal_name) is not None

        # Provisioning logs through the SDK, filtered.
        params = ProvisioningRequestBuilder.ProvisioningRequestBuilderGetQueryParameters(
            filter=f"jobId eq '{job.id}' and provisioningAction eq 'create'", top=1
        )
        page = await sdk.audit_logs.provisioning.get(RequestConfiguration(query_parameters=params))
        entries = list(page.value)
        while page.odata_next_link:
            page = await sdk.audit_logs.provisioning.with_url(page.odata_next_link).get()
            entries.extend(page.value)
        assert {e.source_identity.id for e in entries} == {ada.id, grace.id}
        assert all(e.provisioning_action == ProvisioningAction.Create for e in entries)
        assert all(e.provisioning_status_info.status == ProvisioningResult.Success for e in entries)
        one = await sdk.audit_logs.provisioning.by_provisioning_object_summary_id(entries[0].id).get()
        assert one.job_id == job.id and one.service_principal.display_name == "8x8"

        # Restart: a list of flags reaches the server as {"criteria": {}} (the default restart); one flag is sent.
        await jobs.restart.post(
            RestartPostRequestBody(
                criteria=SynchronizationJobRestartCriteria(
                    # The model is typed for one flag, yet its parser produces lists: what a GET-modify-POST sends.
                    reset_scope=[  # type: ignore[arg-type]
                        SynchronizationJobRestartScope.Watermark,
                        SynchronizationJobRestartScope.Escrows,
                    ]
                )
            )
        )
        await jobs.restart.post(
            RestartPostRequestBody(
                criteria=SynchronizationJobRestartCriteria(reset_scope=SynchronizationJobRestartScope.Full)
            )
        )
        status = await wait_steady(jobs)
        assert status.code == SynchronizationStatusCode.Active
        users_on_target = await asyncio.to_thread(target.users)
        assert sorted(u["userName"] for u in users_on_target) == sorted(
            [ada.user_principal_name, grace.user_principal_name]
        )  # a full restart re-matches: no duplicate

        await jobs.pause.post()
        assert (await jobs.get()).status.code == SynchronizationStatusCode.Paused

    asyncio.run(scenario())


async def token_of(sdk: Any) -> str:
    provider = sdk.request_adapter._authentication_provider.access_token_provider
    token: str = await provider.get_authorization_token(sdk.request_adapter.base_url)
    return token


async def wait_steady(jobs: Any, timeout: float = 60) -> Any:
    """Poll the job like a monitoring script: until no cycle is in progress and steady state was reached since."""
    began = time.time()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = (await jobs.get()).status
        running = any(p.completed_units < p.total_units for p in status.progress or [])
        steady = status.steady_state_last_achieved_time
        if not running and steady is not None and steady.timestamp() >= began - 1:
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"the job did not reach a steady state within {timeout} s: {status}")
