"""The engine against the independent ``scim2-server`` target: test connection, initial cycle, each action,
group memberships, on-demand, dry run, restart, deletion threshold. The target's final state is read back over
its own SCIM API and checked attribute by attribute against seed 002's mappings."""

from __future__ import annotations

from typing import Any

import pytest

from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.domain.principals import DEFAULT_ACCESS_ROLE_ID
from hospes.domain.provisioning import Action, CycleKind, JobCode, Status, StopReason
from hospes.provisioning.runs import CredentialsRejectedError
from tests.helpers.provisioning import App, make_app, person
from tests.helpers.scimtarget import ENTERPRISE, EXT_8X8
from tests.helpers.tenants import TenantHandle


def _by_name(app: App) -> dict[str, dict[str, Any]]:
    return {u["userName"]: u for u in app.target.users()}


def _typed(items: list[dict[str, Any]] | None, kind: str) -> str | None:
    for item in items or []:
        if item.get("type") == kind:
            value: str = item["value"]
            return value
    return None


def assert_mapped(target: dict[str, Any], source: dict[str, Any], *, active: bool = True) -> None:
    """Seed 002's table, row by row."""
    assert target["userName"] == source["userPrincipalName"]
    assert target["displayName"] == source["displayName"]
    assert target["externalId"] == source["mailNickname"]
    assert target["active"] is active
    assert target.get("title") == source.get("jobTitle")
    assert _typed(target.get("emails"), "work") == source.get("mail")
    assert target["name"]["givenName"] == source["givenName"]
    assert target["name"]["familyName"] == source["surname"]
    assert _typed(target.get("phoneNumbers"), "mobile") == source.get("mobilePhone")
    work_phones = source.get("businessPhones") or []
    assert _typed(target.get("phoneNumbers"), "work") == (work_phones[0] if work_phones else None)
    assert target.get(ENTERPRISE, {}).get("department") == source.get("department")


def test_a_new_jobs_default_user_mappings_include_display_name(sync_app: App) -> None:
    """The generic SCIM app's defaults map displayName; the 8x8 table alone does not, so it is added."""
    app = sync_app
    schema = app.service.get_schema(app.tenant.id, app.sp_id, app.job_id)
    [rule] = schema["synchronizationRules"]
    users = next(m for m in rule["objectMappings"] if m["sourceObjectName"] == "User")
    by_target = {m["targetAttributeName"]: m for m in users["attributeMappings"]}
    display = by_target["displayName"]
    assert display["source"]["type"] == "Attribute" and display["source"]["expression"] == "[displayName]"
    assert (display["flowType"], display["matchingPriority"]) == ("Always", 0)
    assert by_target["userName"]["matchingPriority"] == 1  # still the only matching attribute
    assert sum(1 for m in users["attributeMappings"] if m["targetAttributeName"] == "displayName") == 1


def test_validate_credentials(sync_app: App) -> None:
    app = sync_app
    app.service.validate_credentials(app.tenant.id, app.sp_id, app.job_id)
    with pytest.raises(CredentialsRejectedError) as wrong:
        app.service.validate_credentials(
            app.tenant.id,
            app.sp_id,
            credentials={"BaseAddress": app.target.base_url, "SecretToken": "wrong"},
            use_saved=False,
        )
    # With the saved credentials, those given are ignored (as Entra does): the saved token is tested, and passes.
    app.service.validate_credentials(app.tenant.id, app.sp_id, credentials={"SecretToken": "wrong"})
    assert "401" in wrong.value.message
    with pytest.raises(CredentialsRejectedError) as ssrf:
        # A private address that the operator did not admit is refused before any connection.
        app.service.validate_credentials(
            app.tenant.id, app.sp_id, credentials={"BaseAddress": "http://10.20.30.40/scim"}, use_saved=False
        )
    assert "HOSPES_OUTBOUND_ALLOW" in ssrf.value.message
    with pytest.raises(InvalidInputError):
        app.service.put_secrets(app.tenant.id, app.sp_id, {"BaseAddress": "ftp://example.com/scim"})
    with pytest.raises(InvalidInputError):
        app.service.put_secrets(app.tenant.id, app.sp_id, {"NotASecret": "x"})


def test_secrets_are_encrypted_and_never_returned(sync_app: App) -> None:
    app = sync_app
    from sqlalchemy import select

    from hospes.storage.tables_provisioning import ProvisioningSecrets

    with app.service.sessions() as session:
        sealed = session.scalar(select(ProvisioningSecrets.sealed).where(ProvisioningSecrets.sp_id == app.sp_id))
    assert sealed is not None and app.target.token not in sealed
    job = app.service.get_job(app.tenant.id, app.sp_id, app.job_id)
    assert app.target.token not in repr(job)
    assert app.service.secret_keys(app.tenant.id, app.sp_id) == ["BaseAddress", "SecretToken"]


def test_initial_cycle_scope_and_attributes(sync_app: App) -> None:
    app = sync_app
    tenant = app.tenant
    assigned = person(tenant)
    default_only = person(tenant)
    unassigned = person(tenant)
    disabled = person(tenant, accountEnabled=False)
    via_group = person(tenant, jobTitle=None, mobilePhone=None, businessPhones=[])
    team = tenant.new_group("Sales Team")
    assert (
        tenant.post(
            f"/groups/{team['id']}/members/$ref",
            json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{via_group['id']}"},
        ).status_code
        == 204
    )
    app.assign(assigned["id"])
    app.assign(default_only["id"], DEFAULT_ACCESS_ROLE_ID)
    app.assign(disabled["id"])
    app.assign(team["id"])
    app.settle()

    users = _by_name(app)
    assert set(users) == {assigned["userPrincipalName"], via_group["userPrincipalName"]}
    assert_mapped(users[assigned["userPrincipalName"]], assigned)
    assert_mapped(users[via_group["userPrincipalName"]], via_group)
    assert users[assigned["userPrincipalName"]][EXT_8X8]["site"] == "Paris"  # custom extension, on creation
    assert unassigned["userPrincipalName"] not in users and default_only["userPrincipalName"] not in users

    groups = app.target.groups()
    assert [g["displayName"] for g in groups] == ["Sales Team"]
    assert groups[0]["externalId"] == team["id"]
    assert [m["value"] for m in groups[0]["members"]] == [users[via_group["userPrincipalName"]]["id"]]

    status = app.status()
    assert status["code"] == JobCode.ACTIVE
    assert status["lastExecution"]["state"] == "Succeeded"
    assert status["synchronizedEntryCountByType"] == [{"key": "User", "value": 2}, {"key": "Group", "value": 1}]
    assert status["progress"][0]["completedUnits"] == status["progress"][0]["totalUnits"] == 3
    creates = app.logs(action=Action.CREATE)
    assert {r["sourceIdentity"]["id"] for r in creates} == {assigned["id"], via_group["id"], team["id"]}
    steps = [s["provisioningStepType"] for s in creates[0]["provisioningSteps"]]
    assert steps[:2] == ["import", "scoping"] and "matching" in steps and steps[-1] == "export"
    # A second pass finds nothing to do: no request, no log.
    assert app.settle() == 0


def test_update_patches_only_changed_attributes_and_site_is_add_only(sync_app: App) -> None:
    app = sync_app
    user = person(app.tenant)
    app.assign(user["id"])
    app.settle()
    assert (
        app.tenant.patch(
            f"/users/{user['id']}", json={"jobTitle": "Director", "officeLocation": "Lyon", "mobilePhone": None}
        ).status_code
        == 204
    )
    app.settle()
    target = _by_name(app)[user["userPrincipalName"]]
    assert target["title"] == "Director"
    assert _typed(target.get("phoneNumbers"), "mobile") is None  # cleared on the target
    assert target[EXT_8X8]["site"] == "Paris"  # "cannot be updated after user creation"
    update = app.logs(action=Action.UPDATE)[0]
    assert sorted(p["displayName"] for p in update["modifiedProperties"]) == [
        'phoneNumbers[type eq "mobile"].value',
        "title",
    ]
    assert {"displayName": "title", "oldValue": "Engineer", "newValue": "Director"} in update["modifiedProperties"]


def test_disable_on_unassign_disable_soft_delete_and_delete_on_hard_delete(sync_app: App) -> None:
    app = sync_app
    tenant = app.tenant
    leaver, blocked, removed, purged = (person(tenant) for _ in range(4))
    assignment = app.assign(leaver["id"])
    for u in (blocked, removed, purged):
        app.assign(u["id"])
    app.settle()
    assert len(app.target.users()) == 4

    app.unassign(assignment)
    assert tenant.patch(f"/users/{blocked['id']}", json={"accountEnabled": False}).status_code == 204
    assert tenant.delete(f"/users/{removed['id']}").status_code == 204
    assert tenant.delete(f"/users/{purged['id']}").status_code == 204
    assert tenant.delete(f"/directory/deletedItems/{purged['id']}").status_code == 204
    app.settle()

    users = _by_name(app)
    assert users[leaver["userPrincipalName"]]["active"] is False
    assert users[blocked["userPrincipalName"]]["active"] is False
    assert users[removed["userPrincipalName"]]["active"] is False
    assert purged["userPrincipalName"] not in users  # DELETE on hard delete
    assert {r["sourceIdentity"]["id"] for r in app.logs(action=Action.DISABLE)} == {
        leaver["id"],
        blocked["id"],
        removed["id"],
    }
    assert [r["sourceIdentity"]["id"] for r in app.logs(action=Action.DELETE)] == [purged["id"]]

    # Re-enabling brings the user back to active=true.
    assert tenant.patch(f"/users/{blocked['id']}", json={"accountEnabled": True}).status_code == 204
    app.settle()
    assert _by_name(app)[blocked["userPrincipalName"]]["active"] is True


def test_skip_out_of_scope_deletions(tenant: TenantHandle, service: Any, scim_target: Any) -> None:
    app = make_app(tenant, service, scim_target, extra_secrets={"SkipOutOfScopeDeletions": "True"})
    user = person(tenant)
    assignment = app.assign(user["id"])
    app.settle()
    app.unassign(assignment)
    app.settle()
    assert _by_name(app)[user["userPrincipalName"]]["active"] is True
    skipped = app.logs(status=Status.SKIPPED)
    assert skipped and "SkipOutOfScopeDeletions" in skipped[0]["provisioningSteps"][1]["description"]


def test_group_membership_changes_are_sent_as_deltas(sync_app: App) -> None:
    app = sync_app
    tenant = app.tenant
    a, b, c = (person(tenant) for _ in range(3))
    group = tenant.new_group("Engineering")
    for u in (a, b):
        tenant.post(
            f"/groups/{group['id']}/members/$ref",
            json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{u['id']}"},
        )
    app.assign(group["id"])
    app.settle()

    def members() -> set[str]:
        ids = {u["id"]: u["userName"] for u in app.target.users()}
        (found,) = [g for g in app.target.groups() if g["displayName"] == "Engineering"]
        return {ids[m["value"]] for m in found.get("members") or []}

    assert members() == {a["userPrincipalName"], b["userPrincipalName"]}
    tenant.post(
        f"/groups/{group['id']}/members/$ref",
        json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{c['id']}"},
    )
    assert tenant.delete(f"/groups/{group['id']}/members/{a['id']}/$ref").status_code == 204
    assert tenant.patch(f"/groups/{group['id']}", json={"displayName": "Engineering"}).status_code == 204
    app.settle()
    assert members() == {b["userPrincipalName"], c["userPrincipalName"]}
    # a left the only assigned group: disabled in the target, not deleted.
    assert _by_name(app)[a["userPrincipalName"]]["active"] is False
    # Reconciliation repairs drift made directly in the target.
    with app.target.client() as client:
        (found,) = [g for g in app.target.groups() if g["displayName"] == "Engineering"]
        b_target = _by_name(app)[b["userPrincipalName"]]["id"]
        client.patch(
            f"/Groups/{found['id']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "remove", "path": f'members[value eq "{b_target}"]'}],
            },
        )
    assert members() == {c["userPrincipalName"]}
    app.service.engine.open_cycle(app.job_id, CycleKind.RECONCILE).full(reconcile=True)
    assert members() == {b["userPrincipalName"], c["userPrincipalName"]}


def test_matching_links_an_existing_target_user(sync_app: App) -> None:
    app = sync_app
    user = person(app.tenant)
    with app.target.client() as client:
        response = client.post(
            "/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user["userPrincipalName"].upper(),
                "title": "Old title",
            },
        )
        assert response.status_code == 201
    app.assign(user["id"])
    app.settle()
    users = app.target.users()
    assert len(users) == 1 and users[0]["id"] == response.json()["id"]
    assert users[0]["title"] == "Engineer"
    assert app.logs(action=Action.UPDATE)[0]["provisioningSteps"][2]["name"] == "EntryMatch"


def test_provision_on_demand_steps(sync_app: App) -> None:
    app = sync_app
    user = person(app.tenant)
    outsider = person(app.tenant)
    app.assign(user["id"])
    (result,) = app.service.provision_on_demand(app.tenant.id, app.sp_id, app.job_id, [(user["id"], "User")])
    assert result["action"] == Action.CREATE and result["status"] == Status.SUCCESS
    assert [s["provisioningStepType"] for s in result["provisioningSteps"]] == [
        "import",
        "scoping",
        "matching",
        "export",
    ]
    assert app.target.user_by_name(user["userPrincipalName"]) is not None
    (skipped,) = app.service.provision_on_demand(app.tenant.id, app.sp_id, app.job_id, [(outsider["id"], "User")])
    assert skipped["status"] == Status.SKIPPED
    assert "not assigned" in skipped["provisioningSteps"][1]["description"]
    assert app.target.user_by_name(outsider["userPrincipalName"]) is None
    with pytest.raises(NotFoundError):
        app.service.provision_on_demand(
            app.tenant.id, app.sp_id, app.job_id, [("00000000-0000-0000-0000-0000000000aa", "User")]
        )
    # A group brings its in-scope members along.
    member = person(app.tenant)
    group = app.tenant.new_group("On Demand")
    app.tenant.post(
        f"/groups/{group['id']}/members/$ref",
        json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{member['id']}"},
    )
    app.assign(group["id"])
    (group_result,) = app.service.provision_on_demand(app.tenant.id, app.sp_id, app.job_id, [(group["id"], "Group")])
    assert group_result["action"] == Action.CREATE
    (target_group,) = [g for g in app.target.groups() if g["displayName"] == "On Demand"]
    assert [m["value"] for m in target_group["members"]] == [app.target.user_by_name(member["userPrincipalName"])["id"]]  # type: ignore[index]


def test_dry_run_writes_nothing(sync_app: App) -> None:
    app = sync_app
    new = person(app.tenant)
    app.assign(new["id"])
    plan = app.service.dry_run(app.tenant.id, app.sp_id, app.job_id)
    assert plan["summary"] == {"create": 1, "update": 0, "disable": 0, "delete": 0}
    assert plan["actions"][0]["sourceId"] == new["id"] and plan["actions"][0]["action"] == Action.CREATE
    assert app.target.users() == []
    app.settle()
    app.tenant.patch(f"/users/{new['id']}", json={"jobTitle": "CTO"})
    plan = app.service.dry_run(app.tenant.id, app.sp_id, app.job_id)
    assert plan["summary"]["update"] == 1
    assert plan["actions"][0]["modifiedProperties"] == [
        {"displayName": "title", "oldValue": "Engineer", "newValue": "CTO"}
    ]
    assert app.target.users()[0]["title"] == "Engineer"


def test_restart_full_rematches_without_duplicates(sync_app: App) -> None:
    app = sync_app
    users = [person(app.tenant) for _ in range(3)]
    for u in users:
        app.assign(u["id"])
    app.settle()
    ids = sorted(u["id"] for u in app.target.users())
    app.service.restart(app.tenant.id, app.sp_id, app.job_id, "Full")
    assert (
        app.service.get_job(app.tenant.id, app.sp_id, app.job_id)["status"]["synchronizedEntryCountByType"][0]["value"]
        == 0
    )
    app.settle()
    assert sorted(u["id"] for u in app.target.users()) == ids
    assert app.status()["synchronizedEntryCountByType"][0]["value"] == 3
    with pytest.raises(InvalidInputError):
        app.service.restart(app.tenant.id, app.sp_id, app.job_id, "Everything")


def test_pause_stops_and_start_resumes(sync_app: App) -> None:
    app = sync_app
    user = person(app.tenant)
    app.assign(user["id"])
    app.service.pause(app.tenant.id, app.sp_id, app.job_id)
    assert app.settle() == 0 and app.target.users() == []
    assert app.status()["code"] == JobCode.PAUSED
    app.service.start(app.tenant.id, app.sp_id, app.job_id)
    app.settle()
    assert len(app.target.users()) == 1


def test_accidental_deletion_threshold(sync_app: App) -> None:
    app = sync_app
    app.service.update_job_settings(
        app.tenant.id, app.sp_id, app.job_id, [{"name": "QuarantineTooManyDeletesThreshold", "value": "2"}]
    )
    users = [person(app.tenant) for _ in range(3)]
    assignments = [app.assign(u["id"]) for u in users]
    app.settle()
    for assignment in assignments:
        app.unassign(assignment)
    app.settle()
    status = app.status()
    assert status["code"] == JobCode.QUARANTINE and status["quarantine"]["reason"] == StopReason.TOO_MANY_DELETES
    assert all(u["active"] for u in app.target.users())  # nothing applied
    assert len(app.logs(action=Action.STAGED_DELETE)) == 3
    app.service.restart(app.tenant.id, app.sp_id, app.job_id, "ForceDeletes")
    app.settle()
    assert not any(u["active"] for u in app.target.users())
    assert app.status()["code"] == JobCode.ACTIVE


def test_tenant_isolation(sync_app: App, other_tenant: TenantHandle) -> None:
    app = sync_app
    with pytest.raises(NotFoundError):
        app.service.get_job(other_tenant.id, app.sp_id, app.job_id)
    with pytest.raises(NotFoundError):
        app.service.put_secrets(other_tenant.id, app.sp_id, {"SecretToken": "x"})
    person_ = person(app.tenant)
    app.assign(person_["id"])
    app.settle()
    from hospes.provisioning.logs import LogQuery

    assert app.service.logs(other_tenant.id, LogQuery()).items == []
    assert app.service.logs(app.tenant.id, LogQuery(identity_id=person_["id"])).items


def test_initial_cycle_matches_existing_users_by_listing_the_target(sync_app: App) -> None:
    """Many creates: the engine lists the target once (paged) and links what already exists, creating the rest."""
    app = sync_app
    users = [person(app.tenant) for _ in range(60)]
    existing = users[:40]
    with app.target.client() as client:
        for u in existing:
            response = client.post(
                "/Users",
                json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": u["userPrincipalName"]},
            )
            assert response.status_code == 201
    before = {u["userName"]: u["id"] for u in app.target.users()}
    for u in users:
        app.assign(u["id"])
    app.settle()
    after = app.target.users()
    assert len(after) == 60
    assert {u["userName"]: u["id"] for u in after if u["userName"] in before} == before  # linked, not recreated
    assert all(u.get("title") == "Engineer" for u in after)  # and brought to the mapped values
    assert len(app.logs(action=Action.CREATE)) == 20 and len(app.logs(action=Action.UPDATE)) == 40


def test_etag_conflict_is_retried_on_the_current_version(sync_app: App) -> None:
    app = sync_app
    user = person(app.tenant)
    app.assign(user["id"])
    app.settle()
    target = app.target.user_by_name(user["userPrincipalName"])
    assert target is not None and target["meta"]["version"]
    with app.target.client() as client:  # someone changes the user in the target: its ETag moves on
        client.patch(
            f"/Users/{target['id']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "nickName", "value": "x"}],
            },
        )
    assert app.tenant.patch(f"/users/{user['id']}", json={"jobTitle": "After 412"}).status_code == 204
    app.settle()
    assert app.target.user_by_name(user["userPrincipalName"])["title"] == "After 412"  # type: ignore[index]
    assert app.logs(action=Action.UPDATE)[0]["provisioningStatusInfo"]["status"] == Status.SUCCESS


def test_oauth_client_credentials(tenant: TenantHandle, service: Any, scim_target: Any) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    seen: list[dict[str, list[str]]] = []

    class TokenEndpoint(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            seen.append(form)
            ok = form.get("client_secret") == ["s3cret"]
            body = json.dumps(
                {"access_token": scim_target.token, "expires_in": 3600} if ok else {"error": "invalid_client"}
            ).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        oauth = {
            "AuthenticationType": "OAuth2ClientCredentials",
            "Oauth2ClientId": "hospes",
            "Oauth2ClientSecret": "s3cret",
            "Oauth2TokenExchangeUri": f"http://127.0.0.1:{server.server_address[1]}/token",
        }
        app = make_app(tenant, service, scim_target, token="", extra_secrets=oauth)
        app.service.validate_credentials(tenant.id, app.sp_id, app.job_id)
        app.assign(person(tenant)["id"])
        app.settle()
        assert len(scim_target.users()) == 1
        assert seen[0]["grant_type"] == ["client_credentials"] and seen[0]["client_id"] == ["hospes"]
        with pytest.raises(CredentialsRejectedError):
            app.service.validate_credentials(
                tenant.id,
                app.sp_id,
                credentials={"BaseAddress": scim_target.base_url, **oauth, "Oauth2ClientSecret": "wrong"},
                use_saved=False,
            )
    finally:
        server.shutdown()
        server.server_close()


def test_job_lifecycle_and_settings(sync_app: App) -> None:
    app = sync_app
    from hospes.domain.errors import ConflictError

    assert [j["id"] for j in app.service.list_jobs(app.tenant.id, app.sp_id)] == [app.job_id]
    with pytest.raises(ConflictError):
        app.service.create_job(app.tenant.id, app.sp_id, "scim")
    with pytest.raises(InvalidInputError):
        app.service.create_job(app.tenant.id, app.sp_id, "Azure2Azure-unknown")
    job = app.service.update_job_settings(
        app.tenant.id, app.sp_id, app.job_id, [{"name": "PatchCompatibility", "value": "entra"}]
    )
    assert {"name": "PatchCompatibility", "value": "entra"} in job["synchronizationJobSettings"]
    with pytest.raises(InvalidInputError):
        app.service.update_job_settings(app.tenant.id, app.sp_id, app.job_id, [{"name": "Bogus", "value": "1"}])
    user = person(app.tenant)
    app.assign(user["id"])
    app.settle()
    app.service.delete_job(app.tenant.id, app.sp_id, app.job_id)
    assert app.service.list_jobs(app.tenant.id, app.sp_id) == []
    with pytest.raises(NotFoundError):
        app.service.status(app.tenant.id, app.sp_id, app.job_id)
    assert len(app.target.users()) == 1  # deleting the job leaves the target's objects alone


def test_log_retention(sync_app: App) -> None:
    from datetime import datetime, timedelta

    from sqlalchemy import func, select

    from hospes.domain.clock import utcnow
    from hospes.provisioning.journal import prune_logs
    from hospes.storage.tables_provisioning import ProvisioningLog

    def older_than(cutoff: datetime) -> int:
        with app.service.sessions() as session:
            return int(session.scalar(select(func.count()).where(ProvisioningLog.at < cutoff)) or 0)

    app = sync_app
    app.assign(person(app.tenant)["id"])
    app.settle()
    assert len(app.logs()) == 1
    # The log table is shared by the session's tests: count what each prune must remove, then compare.
    now = utcnow()
    expected = older_than(now - timedelta(days=30))
    assert prune_logs(app.service.sessions, 30, now=now) == expected and len(app.logs()) == 1  # young rows stay
    later = now + timedelta(days=31)
    expected = older_than(later - timedelta(days=30))
    assert expected >= 1
    assert prune_logs(app.service.sessions, 30, now=later) == expected
    assert app.logs() == []
