"""``/policies/hospesGuestLifecyclePolicy`` (a Hospes resource, no Graph twin): block guests inactive for N days
and delete them M days later; ``preview`` is the dry run (of the stored settings, or of proposed ones in the body),
``run`` applies it now; ``/users/{id}/hospesGovernance`` says why and when a guest will be blocked or deleted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hospes.graph.deps import (
    BodyDep,
    GovernanceReader,
    LifecycleReader,
    LifecycleWriter,
    OptionalBodyDep,
    RuntimeDep,
)
from hospes.graph.wire import context_url
from hospes.services.guest_lifecycle import wire

router = APIRouter()
POLICY = "/policies/hospesGuestLifecyclePolicy"


@router.get(POLICY)
def get_policy(state: RuntimeDep, policy: LifecycleReader) -> dict[str, Any]:
    return {
        "@odata.context": context_url(state, "policies/hospesGuestLifecyclePolicy", entity=True),
        **wire(policy.settings()),
    }


@router.patch(POLICY)
def update_policy(body: BodyDep, state: RuntimeDep, policy: LifecycleWriter) -> dict[str, Any]:
    return {
        "@odata.context": context_url(state, "policies/hospesGuestLifecyclePolicy", entity=True),
        **policy.update(body),
    }


@router.post(POLICY + "/preview")
def preview(body: OptionalBodyDep, policy: LifecycleReader) -> dict[str, Any]:
    return policy.preview(body or None)


@router.post(POLICY + "/run")
def run(policy: LifecycleWriter) -> dict[str, Any]:
    return policy.run_now()


@router.get("/users/{key}/hospesGovernance")
def governance(key: str, governance: GovernanceReader) -> dict[str, Any]:
    return governance.of(key)
