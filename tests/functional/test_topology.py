"""``hospes topology plan|apply FILE``: a four-tenant mesh and a single-resource-tenant topology declared in one
file, applied through the services Graph uses, then synchronized by the engine; plan after apply shows no change;
a tenant removed from the file loses its jobs while the users it synchronized stay."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from hospes.cli.main import app as cli
from hospes.provisioning.service import ProvisioningService
from hospes.settings import Settings
from hospes.storage.tables import AuditLog, ChangeLog, ServicePrincipal, User
from hospes.storage.tables_cross_tenant import CrossTenantPartner
from hospes.storage.tables_provisioning import ProvisioningJob
from tests.helpers.portal import sign_in_as_admin
from tests.helpers.tenants import TenantHandle

Run = Callable[..., Any]


@pytest.fixture
def run(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``hospes ARGS`` on the test database (a settings file, as an operator would pass with --config)."""
    for name in ("HOSPES_DATABASE_URL", "HOSPES_SECRET_KEY", "HOSPES_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    config = tmp_path / "hospes.env"
    config.write_text(
        f"HOSPES_DATABASE_URL={settings.database_url}\nHOSPES_SECRET_KEY={settings.secret_key}\n"
        f"HOSPES_DATA_DIR={settings.data_dir}\n"
    )

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli, [*args, "--config", str(config)])

    return invoke


def _file(tmp_path: Path, text: str, name: str = "topology.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _toml(name: str, shape: str, tenants: list[TenantHandle], extra: str = "") -> str:
    listed = ", ".join(f'"{t.domain}"' for t in tenants)
    return f'name = "{name}"\ntopology = "{shape}"\ntenants = [{listed}]\n{extra}'


def _jobs(sessions: sessionmaker[Session], tenants: list[TenantHandle]) -> list[ProvisioningJob]:
    with sessions() as session:
        return list(
            session.scalars(select(ProvisioningJob).where(ProvisioningJob.tenant_id.in_([t.id for t in tenants])))
        )


def _settle(service: ProvisioningService, jobs: list[ProvisioningJob]) -> None:
    for _ in range(20):
        if not any([service.engine.step(job.id) for job in jobs]):
            return
    raise AssertionError("the jobs never settled")


def _synced(sessions: sessionmaker[Session], target: TenantHandle, user_id: str) -> User | None:
    with sessions() as session:
        return session.scalar(select(User).where(User.tenant_id == target.id, User.alt_sec_id == f"5::{user_id}"))


def _service(tenant: TenantHandle) -> ProvisioningService:
    service: ProvisioningService = tenant.client.app.state.runtime.provisioning  # type: ignore[attr-defined]
    return service


def test_a_four_tenant_mesh_from_one_file(
    make_tenant: Any, run: Run, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    tenants: list[TenantHandle] = [make_tenant(name) for name in ("Contoso", "Fabrikam", "Tailspin", "Woodgrove")]
    people = {t.id: t.new_user(mail=None, jobTitle="Engineer") for t in tenants}
    path = _file(tmp_path, _toml("group", "mesh", tenants))

    planned = run("topology", "plan", path)
    assert planned.exit_code == 0, planned.output
    # 4 x 3 partners (each both inbound and outbound), 12 configuration apps, 12 jobs; nothing written
    assert "36 to create, 0 to change, 0 to remove" in planned.output, planned.output
    listed = json.loads(run("topology", "plan", path, "--json").output)
    assert len(listed) == 36 and {c["kind"] for c in listed} == {"partner", "app", "job"}
    assert {c["tenantId"] for c in listed} == {t.id for t in tenants}
    assert "Fabrikam" in planned.output and "inbound sync" in planned.output
    with sessions() as session:
        ids = [t.id for t in tenants]
        assert session.scalar(select(func.count()).where(CrossTenantPartner.tenant_id.in_(ids))) == 0
    assert _jobs(sessions, tenants) == []

    applied = run("topology", "apply", path)
    assert applied.exit_code == 0, applied.output
    jobs = _jobs(sessions, tenants)
    assert len(jobs) == 12 and all(job.template_id == "Azure2Azure" and job.code == "Active" for job in jobs)
    with sessions() as session:  # each tenant's changes audited in that tenant, by the topology
        actors = set(session.scalars(select(AuditLog.actor_name).where(AuditLog.tenant_id == tenants[1].id)))
    assert "Topology group" in actors

    _settle(_service(tenants[0]), jobs)
    for source in tenants:
        for target in tenants:
            synced = _synced(sessions, target, people[source.id]["id"])
            if source is target:
                assert synced is None
            else:
                assert synced is not None and synced.job_title == "Engineer" and synced.user_type == "Member"
    # a synchronized user is never synchronized onward: Woodgrove holds Contoso's user once
    with sessions() as session:
        count = session.scalar(
            select(func.count()).where(
                User.tenant_id == tenants[3].id, User.display_name == people[tenants[0].id]["displayName"]
            )
        )
    assert count == 1

    again = run("topology", "plan", path)
    assert again.exit_code == 0 and "no change" in again.output, again.output
    assert json.loads(run("topology", "plan", path, "--json").output) == []
    assert "no change" in run("topology", "apply", path).output

    # Woodgrove leaves the file: its jobs go (both directions), the users synchronized stay everywhere
    removed = tenants[3]
    path = _file(tmp_path, _toml("group", "mesh", tenants[:3]))
    shrink = run("topology", "plan", path)
    # 6 jobs and their 6 apps, and the permission to sync in that each of their 6 targets gave
    assert "0 to create, 0 to change, 18 to remove" in shrink.output, shrink.output
    assert run("topology", "apply", path).exit_code == 0
    left = _jobs(sessions, tenants)
    assert len(left) == 6 and not any(job.tenant_id == removed.id for job in left)
    with sessions() as session:
        configs = session.scalars(select(ServicePrincipal.tags).where(ServicePrincipal.tenant_id.in_(ids)))
        assert not any(removed.id in str(tags) for tags in configs)
        partner = session.get(CrossTenantPartner, (tenants[0].id, removed.id))
        assert partner is not None and not partner.sync_policy  # no longer allowed to sync in
    assert _synced(sessions, removed, people[tenants[0].id]["id"]) is not None
    assert _synced(sessions, tenants[0], people[removed.id]["id"]) is not None
    assert "no change" in run("topology", "plan", path).output


def test_single_resource_tenant_with_a_group_scope(
    make_tenant: Any, run: Run, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    contoso, fabrikam, hub = (make_tenant(name) for name in ("Contoso", "Fabrikam", "Hub"))
    alice = contoso.new_user(jobTitle="Engineer", department="Sales")
    carol = contoso.new_user(department="Legal")
    bob, dave = fabrikam.new_user(), fabrikam.new_user()
    team = fabrikam.new_group("Sync to hub")
    assert (
        fabrikam.post(
            f"/groups/{team['id']}/members/$ref",
            json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{bob['id']}"},
        ).status_code
        == 204
    )
    hub_user = hub.new_user()
    body = {
        "name": "hub",
        "topology": "single-resource-tenant",
        "resource_tenant": hub.domain,
        "scope": {"filter": "department EQUALS Sales"},
        "tenants": [
            contoso.domain,
            {"tenant": fabrikam.domain, "scope": {"users": "assigned", "groups": ["Sync to hub"]}},
            hub.domain,
        ],
    }
    path = _file(tmp_path, json.dumps(body), "hub.json")
    planned = run("topology", "plan", path)
    assert planned.exit_code == 0, planned.output
    assert "Sync to hub" in planned.output and "department EQUALS Sales" in planned.output
    assert run("topology", "apply", path).exit_code == 0, planned.output
    jobs = _jobs(sessions, [contoso, fabrikam, hub])
    assert len(jobs) == 2 and not any(job.tenant_id == hub.id for job in jobs)
    _settle(_service(hub), jobs)

    assert _synced(sessions, hub, alice["id"]) is not None
    assert _synced(sessions, hub, carol["id"]) is None  # outside the filter
    assert _synced(sessions, hub, bob["id"]) is not None  # in the assigned group
    assert _synced(sessions, hub, dave["id"]) is None
    assert _synced(sessions, contoso, bob["id"]) is None  # nothing flows between the other tenants
    assert _synced(sessions, contoso, hub_user["id"]) is None  # nor back from the resource tenant
    assert "no change" in run("topology", "plan", path).output

    # the scope changed in the file: one change on the job, nothing else
    body["scope"] = {"filter": "department EQUALS Legal"}
    changed = run("topology", "plan", _file(tmp_path, json.dumps(body), "hub.json"))
    assert "1 to change" in changed.output and "Legal" in changed.output, changed.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\ntopology = "ring"\ntenants = ["a.example", "b.example"]', "topology"),
        ('name = "x"\ntopology = "mesh"\ntenants = ["a.example"]', "at least two"),
        ('name = "x"\ntopology = "single-resource-tenant"\ntenants = ["a.example", "b.example"]', "resource_tenant"),
        (
            'name = "x"\ntopology = "mesh"\ntenants = ["a.example", "b.example"]\n[scope]\nfilter = "department"',
            "filter",
        ),
        ('name = "x"\ntopology = "mesh"\ntenants = ["nowhere.example", "b.example"]', "No tenant 'nowhere.example'"),
        ("name = [", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_in_words(run: Run, tmp_path: Path, text: str, message: str) -> None:
    result = run("topology", "plan", _file(tmp_path, text))
    assert result.exit_code == 1 and message in result.output, result.output


def test_the_portal_shows_each_pair_and_its_health(
    make_tenant: Any, run: Run, sessions: sessionmaker[Session], tmp_path: Path, web: TestClient
) -> None:
    contoso, fabrikam = make_tenant("Contoso"), make_tenant("Fabrikam")
    contoso.new_user(jobTitle="Engineer")
    mto = "/tenantRelationships/multiTenantOrganization"
    assert contoso.patch(mto, json={"displayName": "Group"}).status_code == 204
    assert contoso.post(f"{mto}/tenants", json={"tenantId": fabrikam.id}).status_code == 201
    assert fabrikam.patch(f"{mto}/joinRequest", json={"addedByTenantId": contoso.id}).status_code == 204
    assert run("topology", "apply", _file(tmp_path, _toml("pair", "mesh", [contoso, fabrikam]))).exit_code == 0
    jobs = _jobs(sessions, [contoso, fabrikam])
    _settle(_service(contoso), jobs)

    sign_in_as_admin(web, contoso)
    page = web.get(f"/{contoso.domain}/admin/topology")
    assert page.status_code == 200, page.text
    outbound = page.text.split('id="outbound"')[1].split("</table>")[0]
    assert f'data-target="{fabrikam.id}"' in outbound and "Declared by topology pair" in outbound
    assert '<span class="tag ok">On</span>' in outbound
    assert f'data-source="{fabrikam.id}"' in page.text.split('id="inbound"')[1]
    assert f'data-tenant="{fabrikam.id}"' in page.text  # the multitenant organization
    assert "Users synchronized into this tenant: 1" in page.text  # Fabrikam's administrator

    # Fabrikam withdraws its permission: Contoso's job goes into quarantine on its next write, and shows it
    partner = f"/policies/crossTenantAccessPolicy/partners/{contoso.id}/identitySynchronization"
    assert fabrikam.patch(partner, json={"userSyncInbound": {"isSyncAllowed": False}}).status_code == 204
    contoso.new_user(jobTitle="Late")
    _settle(_service(contoso), jobs)
    page = web.get(f"/{contoso.domain}/admin/topology", params={"lang": "fr"})
    outbound = page.text.split('id="outbound"')[1].split("</table>")[0]
    assert '<span class="tag bad">Quarantaine</span>' in outbound and "Depuis" in outbound, outbound


def test_a_synchronized_user_costs_the_other_jobs_no_cycle(
    make_tenant: Any, run: Run, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """In a mesh, a user synchronized into Fabrikam is a change in Fabrikam's log that Fabrikam's own job toward
    Contoso reads; it moves that job's watermark without running a cycle (nothing to push: it is external)."""
    contoso, fabrikam = make_tenant("Contoso"), make_tenant("Fabrikam")
    assert run("topology", "apply", _file(tmp_path, _toml("pair", "mesh", [contoso, fabrikam]))).exit_code == 0
    jobs = {job.tenant_id: job for job in _jobs(sessions, [contoso, fabrikam])}
    service = _service(contoso)
    _settle(service, list(jobs.values()))
    back = jobs[fabrikam.id].id
    with sessions() as session:
        before = session.get(ProvisioningJob, back)
        assert before is not None and before.last_execution is not None
        last_cycle = before.last_execution["activityIdentifier"]

    service.engine.echo_marks.persist_seconds = 0  # write every mark (they are written every 2 s at most)
    newcomer = contoso.new_user(jobTitle="Engineer")
    assert service.engine.step(jobs[contoso.id].id)  # Contoso -> Fabrikam: creates the synchronized user
    assert _synced(sessions, fabrikam, newcomer["id"]) is not None
    assert service.engine.step(back)  # Fabrikam -> Contoso sees it: the watermark moves, no cycle runs
    with sessions() as session:
        after = session.get(ProvisioningJob, back)
        head = session.scalar(select(func.max(ChangeLog.seq)).where(ChangeLog.tenant_id == fabrikam.id))
    assert after is not None and after.watermark == head
    assert after.last_execution is not None and after.last_execution["activityIdentifier"] == last_cycle
    assert not service.engine.step(back)
    with sessions() as session:  # and nothing echoed back into Contoso
        echoed = session.scalar(
            select(func.count()).where(User.tenant_id == contoso.id, User.display_name == newcomer["displayName"])
        )
    assert echoed == 1

    # a change of one of Fabrikam's own members still runs a cycle of that job
    fabrikam.new_user(jobTitle="Lead")
    assert service.engine.step(back)
    with sessions() as session:
        ran = session.get(ProvisioningJob, back)
    assert ran is not None and ran.last_execution is not None
    assert ran.last_execution["activityIdentifier"] != last_cycle

    # marks not yet written still count: the next window of echoes is passed over in memory, then written
    service.engine.echo_marks.persist_seconds = 3600
    second = contoso.new_user(jobTitle="Engineer")
    assert service.engine.step(jobs[contoso.id].id)
    assert _synced(sessions, fabrikam, second["id"]) is not None
    assert service.engine.step(back)
    with sessions() as session:
        written = session.get(ProvisioningJob, back)
        head = session.scalar(select(func.max(ChangeLog.seq)).where(ChangeLog.tenant_id == fabrikam.id))
    assert written is not None and written.watermark < head
    assert not service.engine.step(back)  # nothing owed: the pass starts after the mark
    service.engine.echo_marks.persist_seconds = 0
    fabrikam.new_user(jobTitle="Intern")
    assert service.engine.step(back)  # a real pass writes its own watermark, past the mark
    with sessions() as session:
        final = session.get(ProvisioningJob, back)
        head = session.scalar(select(func.max(ChangeLog.seq)).where(ChangeLog.tenant_id == fabrikam.id))
    assert final is not None and final.watermark == head


def test_a_pair_synchronized_by_another_configuration_is_refused(
    make_tenant: Any, run: Run, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    contoso, fabrikam = make_tenant("Contoso"), make_tenant("Fabrikam")
    assert run("topology", "apply", _file(tmp_path, _toml("first", "mesh", [contoso, fabrikam]))).exit_code == 0
    renamed = run("topology", "plan", _file(tmp_path, _toml("second", "mesh", [contoso, fabrikam])))
    assert renamed.exit_code == 1 and "topology 'first'" in renamed.output, renamed.output
    assert len(_jobs(sessions, [contoso, fabrikam])) == 2  # nothing doubled
