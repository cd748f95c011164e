"""``/tenantRelationships/multiTenantOrganization``: the organization, its tenants and the caller's join request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from hospes.graph.deps import BodyDep, MtoReader, MtoWriter, RuntimeDep
from hospes.graph.wire import collection, entity

router = APIRouter()
BASE = "/tenantRelationships/multiTenantOrganization"
CONTEXT = "tenantRelationships/multiTenantOrganization"
TENANT = BASE + "/tenants/{tenant_id}"


@router.get(BASE)
def get_organization(state: RuntimeDep, mto: MtoReader) -> dict[str, Any]:
    return entity(state, CONTEXT, mto.organization())


@router.patch(BASE, status_code=204)
def patch_organization(body: BodyDep, mto: MtoWriter) -> Response:
    mto.update(body)
    return Response(status_code=204)


@router.get(BASE + "/tenants")
def list_tenants(state: RuntimeDep, mto: MtoReader) -> dict[str, Any]:
    return collection(state, CONTEXT + "/tenants", mto.tenants())


@router.post(BASE + "/tenants", status_code=201)
def add_tenant(body: BodyDep, state: RuntimeDep, mto: MtoWriter) -> dict[str, Any]:
    return entity(state, CONTEXT + "/tenants", mto.add_tenant(body))


@router.get(TENANT)
def get_tenant(tenant_id: str, state: RuntimeDep, mto: MtoReader) -> dict[str, Any]:
    return entity(state, CONTEXT + "/tenants", mto.tenant(tenant_id))


@router.patch(TENANT, status_code=204)
def patch_tenant(tenant_id: str, body: BodyDep, mto: MtoWriter) -> Response:
    mto.update_tenant(tenant_id, body)
    return Response(status_code=204)


@router.delete(TENANT, status_code=204)
def remove_tenant(tenant_id: str, mto: MtoWriter) -> Response:
    mto.remove_tenant(tenant_id)
    return Response(status_code=204)


@router.get(BASE + "/joinRequest")
def get_join_request(state: RuntimeDep, mto: MtoReader) -> dict[str, Any]:
    return entity(state, CONTEXT + "/joinRequest", mto.join_request())


@router.patch(BASE + "/joinRequest", status_code=204)
def join(body: BodyDep, mto: MtoWriter) -> Response:
    mto.join(body)
    return Response(status_code=204)
