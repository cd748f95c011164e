"""Drift repair between two live deployments (two ``hospes serve`` on loopback): an administrator of the target
tenant edits a synchronized user over the target's own Graph; the source's runner reads the target's
``/users/delta`` from the position it keeps with the job and puts the source's values back within seconds, with a
provisioning log entry, and never loops on its own writes. The same through the connector into a tenant of the
source's own deployment (``remote=False``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from hospes.domain.changes import ObjectType
from hospes.storage.tables import ChangeLog
from hospes.storage.tables_provisioning import ProvisioningJob
from tests.helpers.cross_deployment import (
    SOURCE_ENV,
    Deployment,
    RemoteSync,
    allow_sync,
    deployment,
    eventually,
    make_remote_sync,
)

REPAIRED = "drift repaired"


@pytest.fixture(scope="module")
def deployments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Deployment]]:
    tmp = Path(tmp_path_factory.mktemp("xdrift"))
    with deployment("target", tmp) as target, deployment("source", tmp, SOURCE_ENV) as source:
        yield source, target


def _sync(deployments: tuple[Deployment, Deployment], remote: bool = True) -> RemoteSync:
    source_deployment, target_deployment = deployments
    source = source_deployment.tenant("Contoso")
    target = (target_deployment if remote else source_deployment).tenant("Fabrikam")
    allow_sync(target, source)
    made = make_remote_sync(source, target, remote=remote)
    assert made.validate().status_code == 204
    made.create_job()
    return made


def _where(sync: RemoteSync, user_id: str, **expected: Any) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        found = sync.find(user_id)
        return found if found and all(found.get(k) == v for k, v in expected.items()) else None

    return eventually(check, what=f"{user_id} with {expected}")


def _repairs(sync: RemoteSync) -> list[dict[str, Any]]:
    answer = sync.source.get("/auditLogs/provisioning", params={"$top": "500"})
    assert answer.status_code == 200, answer.text
    return [
        row
        for row in answer.json()["value"]
        if row["jobId"] == sync.job_id
        and row["provisioningAction"] == "update"
        and any(REPAIRED in (step["description"] or "") for step in row["provisioningSteps"])
    ]


def _writes(sync: RemoteSync, target_id: str) -> int:
    """Changes the target's own log holds for the user: every write anyone made to it."""
    with sync.target.deployment.sessions() as session:
        count = session.scalar(
            select(func.count()).where(
                ChangeLog.tenant_id == sync.target.id,
                ChangeLog.object_type == ObjectType.USER,
                ChangeLog.object_id == target_id,
            )
        )
    return int(count or 0)


def _position(sync: RemoteSync) -> str | None:
    with sync.source.deployment.sessions() as session:
        return session.scalar(select(ProvisioningJob.drift_position).where(ProvisioningJob.id == sync.job_id))


@pytest.mark.parametrize("remote", [True, False], ids=["another-deployment", "same-deployment"])
def test_a_target_admins_edit_and_disable_are_repaired(
    deployments: tuple[Deployment, Deployment], remote: bool
) -> None:
    sync = _sync(deployments, remote)
    alice = sync.source.member("alice")
    sync.assign(alice["id"])
    target_id = _where(sync, alice["id"], jobTitle="Engineer")["id"]
    prefix = "graph:" if remote else f"log:{sync.target.id}:"
    eventually(lambda: (_position(sync) or "").startswith(prefix), what="the feed's position saved with the job")

    edited = sync.target.patch(f"/users/{target_id}", json={"jobTitle": "Intern", "accountEnabled": False})
    assert edited.status_code == 204, edited.text
    started = time.monotonic()
    back = _where(sync, alice["id"], jobTitle="Engineer", accountEnabled=True)
    assert back["id"] == target_id
    assert time.monotonic() - started < 30  # seconds, not the periodic reconciliation (an hour)
    [row] = eventually(lambda: _repairs(sync), what="the repair in the provisioning logs")
    assert row["provisioningStatusInfo"]["status"] == "success" and row["targetIdentity"]["id"] == target_id
    changed = {p["displayName"]: (p["oldValue"], p["newValue"]) for p in row["modifiedProperties"]}
    assert changed == {"jobTitle": ("Intern", "Engineer"), "accountEnabled": ("False", "True")}
    # A source change still flows as before, and is not taken for drift.
    assert sync.source.patch(f"/users/{alice['id']}", json={"department": "Sales"}).status_code == 204
    _where(sync, alice["id"], department="Sales", jobTitle="Engineer")
    assert len(_repairs(sync)) == 1


def test_the_jobs_own_writes_cause_no_repair_loop(deployments: tuple[Deployment, Deployment]) -> None:
    sync = _sync(deployments)
    bob = sync.source.member("bob")
    sync.assign(bob["id"])
    target_id = _where(sync, bob["id"])["id"]
    eventually(lambda: (_position(sync) or "").startswith("graph:"), what="a delta token saved")
    for title in ("Lead", "Architect", "Director"):
        assert sync.source.patch(f"/users/{bob['id']}", json={"jobTitle": title}).status_code == 204
    _where(sync, bob["id"], jobTitle="Director")
    writes = _writes(sync, target_id)
    # Its own updates come back through the feed, read at least every ~5 s by an idle job: no-ops, not repairs.
    time.sleep(12)
    assert _writes(sync, target_id) == writes
    assert _repairs(sync) == []
    assert sync.find(bob["id"])["jobTitle"] == "Director"  # type: ignore[index]


def test_a_token_the_target_refuses_falls_back_to_a_full_comparison(
    deployments: tuple[Deployment, Deployment],
) -> None:
    sync = _sync(deployments)
    carol = sync.source.member("carol")
    sync.assign(carol["id"])
    target_id = _where(sync, carol["id"])["id"]
    eventually(lambda: (_position(sync) or "").startswith("graph:"), what="a delta token saved")
    assert sync.source.post(f"{sync.base}/jobs/{sync.job_id}/pause").status_code == 204

    def released() -> bool:
        with sync.source.deployment.sessions() as session:
            job = session.get(ProvisioningJob, sync.job_id)
            return job is not None and job.lease_owner is None

    eventually(released, what="the runner let the paused job go")
    # The target's admin edits while the job is paused, and the saved token is one the target cannot read (a
    # token of another tenant, or from keys it no longer has): only a full comparison can find the edit.
    assert sync.target.patch(f"/users/{target_id}", json={"officeLocation": "Basement"}).status_code == 204
    with sync.source.deployment.sessions.begin() as session:
        session.execute(
            update(ProvisioningJob).where(ProvisioningJob.id == sync.job_id).values(drift_position="graph:bogus")
        )
    assert sync.source.post(f"{sync.base}/jobs/{sync.job_id}/start").status_code == 204

    def repaired() -> dict[str, Any] | None:
        user: dict[str, Any] = sync.target.get(f"/users/{target_id}", params={"$select": "officeLocation"}).json()
        return user if "officeLocation" in user and user["officeLocation"] is None else None

    eventually(repaired, what="the edit repaired")
    eventually(lambda: _position(sync) not in (None, "graph:bogus"), what="a fresh token")
    assert (_position(sync) or "").startswith("graph:")
    assert len(_repairs(sync)) == 1


def test_a_user_the_target_admin_deleted_stays_deleted(deployments: tuple[Deployment, Deployment]) -> None:
    sync = _sync(deployments)
    dave = sync.source.member("dave")
    sync.assign(dave["id"])
    target_id = _where(sync, dave["id"])["id"]
    eventually(lambda: (_position(sync) or "").startswith("graph:"), what="a delta token saved")
    assert sync.target.delete(f"/users/{target_id}").status_code == 204

    def noted() -> list[dict[str, Any]]:
        answer = sync.source.get("/auditLogs/provisioning", params={"$top": "500"})
        return [
            row
            for row in answer.json()["value"]
            if row["jobId"] == sync.job_id
            and (row["provisioningStatusInfo"]["errorInformation"] or {}).get("errorCode")
            == "AzureActiveDirectoryObjectDeletedInTarget"
        ]

    [row] = eventually(noted, what="the deletion in the target noted in the logs")
    assert row["provisioningStatusInfo"]["status"] == "skipped" and row["sourceIdentity"]["id"] == dave["id"]
    time.sleep(6)  # further reads of the feed: not restored against the target's admin, noted once
    assert sync.find(dave["id"]) is None and sync.find(dave["id"], deleted=True) is not None
    assert len(noted()) == 1
