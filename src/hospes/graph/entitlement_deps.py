"""Dependencies of the entitlement-management routes: its services behind their permission checks. The request
and approval services also serve requestors and approvers (any signed-in user's token, checked per object by the
service); ``admin`` says whether the caller administers entitlement management."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hospes.domain.principals import Principal
from hospes.graph import permissions as perm
from hospes.graph.deps import PrincipalDep, RuntimeDep, StandingDep, check, provider, service
from hospes.runtime import Runtime
from hospes.services.entitlement.approvals import ApprovalService
from hospes.services.entitlement.catalogs import CatalogService
from hospes.services.entitlement.notify import EmConfig
from hospes.services.entitlement.policies import PolicyService as EmPolicyService
from hospes.services.entitlement.requests import RequestService


async def _requests(
    request: Request, runtime: RuntimeDep, principal: PrincipalDep, standing: StandingDep
) -> RequestService:
    check(request, perm.EM_SELF, principal, standing, on_self=False)
    admin = perm.reach(perm.EM_WRITE, principal, standing).everything
    return RequestService(runtime.sessions, principal, admin=admin, config=EmConfig.from_settings(runtime.settings))


async def _approvals(
    request: Request, runtime: RuntimeDep, principal: PrincipalDep, standing: StandingDep
) -> ApprovalService:
    check(request, perm.EM_SELF, principal, standing, on_self=False)
    return ApprovalService(runtime.sessions, principal, config=EmConfig.from_settings(runtime.settings))


CatalogsReader = Annotated[CatalogService, Depends(service(CatalogService, perm.EM_READ))]
CatalogsWriter = Annotated[CatalogService, Depends(service(CatalogService, perm.EM_WRITE))]


def _policies(runtime: Runtime, principal: Principal) -> EmPolicyService:
    policies = EmPolicyService(runtime.sessions, principal)
    policies.config = EmConfig.from_settings(runtime.settings)
    return policies


EmPoliciesReader = Annotated[EmPolicyService, Depends(provider(_policies, perm.EM_READ))]
EmPoliciesWriter = Annotated[EmPolicyService, Depends(provider(_policies, perm.EM_WRITE))]
EmRequests = Annotated[RequestService, Depends(_requests)]
EmApprovals = Annotated[ApprovalService, Depends(_approvals)]
