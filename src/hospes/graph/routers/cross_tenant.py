"""``/policies/crossTenantAccessPolicy``: the policy, its default configuration, partner configurations and each
partner's ``identitySynchronization`` (PUT creates or replaces it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from hospes.graph.deps import BodyDep, CrossTenantReader, CrossTenantWriter, RuntimeDep
from hospes.graph.wire import collection, context_url

router = APIRouter()
BASE = "/policies/crossTenantAccessPolicy"
PARTNER = BASE + "/partners/{tenant_id}"


def _no_content() -> Response:
    return Response(status_code=204)


@router.get(BASE)
def get_policy(state: RuntimeDep, policies: CrossTenantReader) -> dict[str, Any]:
    return {"@odata.context": context_url(state, "policies/crossTenantAccessPolicy", entity=True), **policies.policy()}


@router.patch(BASE, status_code=204)
def patch_policy(body: BodyDep, policies: CrossTenantWriter) -> Response:
    policies.update_policy(body)
    return _no_content()


@router.get(BASE + "/default")
def get_default(state: RuntimeDep, policies: CrossTenantReader) -> dict[str, Any]:
    context = context_url(state, "policies/crossTenantAccessPolicy/default", entity=True)
    return {"@odata.context": context, **policies.default_configuration()}


@router.patch(BASE + "/default", status_code=204)
def patch_default(body: BodyDep, policies: CrossTenantWriter) -> Response:
    policies.update_default(body)
    return _no_content()


@router.post(BASE + "/default/resetToSystemDefault", status_code=204)
def reset_default(policies: CrossTenantWriter) -> Response:
    policies.reset_default()
    return _no_content()


@router.get(BASE + "/partners")
def list_partners(state: RuntimeDep, policies: CrossTenantReader) -> dict[str, Any]:
    return collection(state, "policies/crossTenantAccessPolicy/partners", policies.partners())


@router.post(BASE + "/partners", status_code=201)
def create_partner(body: BodyDep, state: RuntimeDep, policies: CrossTenantWriter) -> dict[str, Any]:
    partner = policies.create_partner(body)
    return {"@odata.context": context_url(state, "policies/crossTenantAccessPolicy/partners", entity=True), **partner}


@router.get(PARTNER)
def get_partner(tenant_id: str, state: RuntimeDep, policies: CrossTenantReader) -> dict[str, Any]:
    partner = policies.partner(tenant_id)
    context = context_url(state, "policies/crossTenantAccessPolicy/partners", entity=True)
    return {"@odata.context": context, **partner}


@router.patch(PARTNER, status_code=204)
def patch_partner(tenant_id: str, body: BodyDep, policies: CrossTenantWriter) -> Response:
    policies.update_partner(tenant_id, body)
    return _no_content()


@router.delete(PARTNER, status_code=204)
def delete_partner(tenant_id: str, policies: CrossTenantWriter) -> Response:
    policies.delete_partner(tenant_id)
    return _no_content()


@router.get(PARTNER + "/identitySynchronization")
def get_sync(tenant_id: str, state: RuntimeDep, policies: CrossTenantReader) -> dict[str, Any]:
    body = policies.sync_policy(tenant_id)
    path = f"policies/crossTenantAccessPolicy/partners('{body['tenantId']}')/identitySynchronization"
    return {"@odata.context": context_url(state, path, entity=True), **body}


@router.put(PARTNER + "/identitySynchronization", status_code=204)
def put_sync(tenant_id: str, body: BodyDep, policies: CrossTenantWriter) -> Response:
    policies.put_sync_policy(tenant_id, body)
    return _no_content()


@router.patch(PARTNER + "/identitySynchronization", status_code=204)
def patch_sync(tenant_id: str, body: BodyDep, policies: CrossTenantWriter) -> Response:
    policies.update_sync_policy(tenant_id, body)
    return _no_content()


@router.delete(PARTNER + "/identitySynchronization", status_code=204)
def delete_sync(tenant_id: str, policies: CrossTenantWriter) -> Response:
    policies.delete_sync_policy(tenant_id)
    return _no_content()
