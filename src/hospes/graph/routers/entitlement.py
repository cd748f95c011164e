"""``/identityGovernance/entitlementManagement``: catalogs with their resources, roles and scopes, resource
requests, access packages with their resource role scopes, assignment policies (replaced by PUT), connected
organizations with their sponsors, and the settings singleton. Requests, assignments and approvals are
``entitlement_requests.py``."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response

from hospes.domain.errors import InvalidInputError
from hospes.graph.deps import BodyDep, RuntimeDep
from hospes.graph.entitlement_deps import CatalogsReader, CatalogsWriter, EmPoliciesReader, EmPoliciesWriter
from hospes.graph.wire import collection, entity
from hospes.services.groups import reference_id

router = APIRouter()
EM = "/identityGovernance/entitlementManagement"
CTX = "identityGovernance/entitlementManagement"
_CLAUSE = re.compile(r"^\(?\s*([A-Za-z/]+)\s+eq\s+'((?:[^']|'')*)'\s*\)?$")


def eq_filters(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """A ``$filter`` of ``name eq 'value'`` clauses joined by ``and`` (what Graph's entitlement lists take)."""
    text = request.query_params.get("$filter")
    if not text:
        return {}
    out: dict[str, str] = {}
    body = text.strip()
    if body.startswith("(") and body.endswith(")") and body.count("(") == 1:
        body = body[1:-1]
    for clause in re.split(r"\s+and\s+", body):
        match = _CLAUSE.match(clause.strip())
        if match is None or match.group(1) not in allowed:
            raise InvalidInputError(f"Unsupported $filter; use {' and '.join(f'{a} eq ...' for a in allowed)}.")
        out[match.group(1)] = match.group(2).replace("''", "'")
    return out


def expands(request: Request) -> set[str]:
    text = request.query_params.get("$expand", "")
    return {part.split("(", 1)[0].strip() for part in text.split(",") if part.strip()}


# -- catalogs ------------------------------------------------------------------------------------------------------


@router.get(EM + "/catalogs")
def list_catalogs(request: Request, state: RuntimeDep, catalogs: CatalogsReader) -> dict[str, Any]:
    name = eq_filters(request, ("displayName",)).get("displayName")
    return collection(state, f"{CTX}/catalogs", catalogs.list_catalogs(name))


@router.post(EM + "/catalogs", status_code=201)
def create_catalog(body: BodyDep, state: RuntimeDep, catalogs: CatalogsWriter) -> dict[str, Any]:
    return entity(state, f"{CTX}/catalogs", catalogs.create_catalog(body))


@router.get(EM + "/catalogs/{catalog_id}")
def get_catalog(catalog_id: str, state: RuntimeDep, catalogs: CatalogsReader) -> dict[str, Any]:
    return entity(state, f"{CTX}/catalogs", catalogs.get_catalog(catalog_id))


@router.patch(EM + "/catalogs/{catalog_id}", status_code=204)
def update_catalog(catalog_id: str, body: BodyDep, catalogs: CatalogsWriter) -> Response:
    catalogs.update_catalog(catalog_id, body)
    return Response(status_code=204)


@router.delete(EM + "/catalogs/{catalog_id}", status_code=204)
def delete_catalog(catalog_id: str, catalogs: CatalogsWriter) -> Response:
    catalogs.delete_catalog(catalog_id)
    return Response(status_code=204)


@router.get(EM + "/catalogs/{catalog_id}/resources")
def catalog_resources(catalog_id: str, state: RuntimeDep, catalogs: CatalogsReader) -> dict[str, Any]:
    return collection(state, f"{CTX}/catalogs('{catalog_id}')/resources", catalogs.resources(catalog_id))


@router.get(EM + "/catalogs/{catalog_id}/resourceRoles")
def catalog_roles(catalog_id: str, request: Request, state: RuntimeDep, catalogs: CatalogsReader) -> dict[str, Any]:
    wanted = eq_filters(request, ("originSystem", "resource/id"))
    roles = catalogs.resource_roles(
        catalog_id,
        origin_system=wanted.get("originSystem"),
        resource_id=wanted.get("resource/id"),
        expand="resource" in expands(request),
    )
    return collection(state, f"{CTX}/catalogs('{catalog_id}')/resourceRoles", roles)


@router.get(EM + "/catalogs/{catalog_id}/resourceScopes")
def catalog_scopes(catalog_id: str, state: RuntimeDep, catalogs: CatalogsReader) -> dict[str, Any]:
    return collection(state, f"{CTX}/catalogs('{catalog_id}')/resourceScopes", catalogs.resource_scopes(catalog_id))


@router.get(EM + "/catalogs/{catalog_id}/accessPackages")
def catalog_packages(catalog_id: str, state: RuntimeDep, catalogs: CatalogsReader) -> dict[str, Any]:
    catalogs.get_catalog(catalog_id)
    return collection(state, f"{CTX}/catalogs('{catalog_id}')/accessPackages", catalogs.list_packages(None, catalog_id))


@router.get(EM + "/resourceRequests")
def list_resource_requests(state: RuntimeDep, catalogs: CatalogsReader) -> dict[str, Any]:
    return collection(state, f"{CTX}/resourceRequests", [])  # delivered at once; nothing stays pending


@router.post(EM + "/resourceRequests", status_code=201)
def resource_request(body: BodyDep, state: RuntimeDep, catalogs: CatalogsWriter) -> dict[str, Any]:
    return entity(state, f"{CTX}/resourceRequests", catalogs.resource_request(body))


# -- access packages -----------------------------------------------------------------------------------------------


@router.get(EM + "/accessPackages")
def list_packages(request: Request, state: RuntimeDep, catalogs: CatalogsReader) -> dict[str, Any]:
    name = eq_filters(request, ("displayName",)).get("displayName")
    return collection(state, f"{CTX}/accessPackages", catalogs.list_packages(name))


@router.post(EM + "/accessPackages", status_code=201)
def create_package(body: BodyDep, state: RuntimeDep, catalogs: CatalogsWriter) -> dict[str, Any]:
    return entity(state, f"{CTX}/accessPackages", catalogs.create_package(body))


@router.get(EM + "/accessPackages/{package_id}")
def get_package(package_id: str, request: Request, state: RuntimeDep, catalogs: CatalogsReader) -> dict[str, Any]:
    return entity(state, f"{CTX}/accessPackages", catalogs.get_package(package_id, expands(request)))


@router.patch(EM + "/accessPackages/{package_id}", status_code=204)
def update_package(package_id: str, body: BodyDep, catalogs: CatalogsWriter) -> Response:
    catalogs.update_package(package_id, body)
    return Response(status_code=204)


@router.delete(EM + "/accessPackages/{package_id}", status_code=204)
def delete_package(package_id: str, catalogs: CatalogsWriter) -> Response:
    catalogs.delete_package(package_id)
    return Response(status_code=204)


@router.get(EM + "/accessPackages/{package_id}/resourceRoleScopes")
def list_role_scopes(package_id: str, state: RuntimeDep, catalogs: CatalogsReader) -> dict[str, Any]:
    return collection(
        state, f"{CTX}/accessPackages('{package_id}')/resourceRoleScopes", catalogs.role_scopes(package_id)
    )


@router.post(EM + "/accessPackages/{package_id}/resourceRoleScopes", status_code=201)
def add_role_scope(package_id: str, body: BodyDep, state: RuntimeDep, catalogs: CatalogsWriter) -> dict[str, Any]:
    return entity(
        state, f"{CTX}/accessPackages('{package_id}')/resourceRoleScopes", catalogs.add_role_scope(package_id, body)
    )


@router.delete(EM + "/accessPackages/{package_id}/resourceRoleScopes/{scope_id}", status_code=204)
def remove_role_scope(package_id: str, scope_id: str, catalogs: CatalogsWriter) -> Response:
    catalogs.remove_role_scope(package_id, scope_id)
    return Response(status_code=204)


@router.get(EM + "/accessPackages/{package_id}/assignmentPolicies")
def package_policies(
    package_id: str, state: RuntimeDep, catalogs: CatalogsReader, policies: EmPoliciesReader
) -> dict[str, Any]:
    catalogs.get_package(package_id, set())
    return collection(
        state, f"{CTX}/accessPackages('{package_id}')/assignmentPolicies", policies.list_policies(package_id)
    )


# -- assignment policies -------------------------------------------------------------------------------------------


@router.get(EM + "/assignmentPolicies")
def list_policies(request: Request, state: RuntimeDep, policies: EmPoliciesReader) -> dict[str, Any]:
    package = eq_filters(request, ("accessPackage/id",)).get("accessPackage/id")
    return collection(state, f"{CTX}/assignmentPolicies", policies.list_policies(package))


@router.post(EM + "/assignmentPolicies", status_code=201)
def create_policy(body: BodyDep, state: RuntimeDep, policies: EmPoliciesWriter) -> dict[str, Any]:
    return entity(state, f"{CTX}/assignmentPolicies", policies.create_policy(body))


@router.get(EM + "/assignmentPolicies/{policy_id}")
def get_policy(policy_id: str, state: RuntimeDep, policies: EmPoliciesReader) -> dict[str, Any]:
    return entity(state, f"{CTX}/assignmentPolicies", policies.get_policy(policy_id))


@router.put(EM + "/assignmentPolicies/{policy_id}")
def replace_policy(policy_id: str, body: BodyDep, state: RuntimeDep, policies: EmPoliciesWriter) -> dict[str, Any]:
    return entity(state, f"{CTX}/assignmentPolicies", policies.replace_policy(policy_id, body))


@router.delete(EM + "/assignmentPolicies/{policy_id}", status_code=204)
def delete_policy(policy_id: str, policies: EmPoliciesWriter) -> Response:
    policies.delete_policy(policy_id)
    return Response(status_code=204)


# -- connected organizations ---------------------------------------------------------------------------------------


@router.get(EM + "/connectedOrganizations")
def list_orgs(request: Request, state: RuntimeDep, policies: EmPoliciesReader) -> dict[str, Any]:
    name = eq_filters(request, ("displayName",)).get("displayName")
    return collection(state, f"{CTX}/connectedOrganizations", policies.list_orgs(name))


@router.post(EM + "/connectedOrganizations", status_code=201)
def create_org(body: BodyDep, state: RuntimeDep, policies: EmPoliciesWriter) -> dict[str, Any]:
    return entity(state, f"{CTX}/connectedOrganizations", policies.create_org(body))


@router.get(EM + "/connectedOrganizations/{org_id}")
def get_org(org_id: str, state: RuntimeDep, policies: EmPoliciesReader) -> dict[str, Any]:
    return entity(state, f"{CTX}/connectedOrganizations", policies.get_org(org_id))


@router.patch(EM + "/connectedOrganizations/{org_id}", status_code=204)
def update_org(org_id: str, body: BodyDep, policies: EmPoliciesWriter) -> Response:
    policies.update_org(org_id, body)
    return Response(status_code=204)


@router.delete(EM + "/connectedOrganizations/{org_id}", status_code=204)
def delete_org(org_id: str, policies: EmPoliciesWriter) -> Response:
    policies.delete_org(org_id)
    return Response(status_code=204)


def _sponsor_routes(kind: str) -> None:
    path = EM + "/connectedOrganizations/{org_id}/" + kind + "Sponsors"

    @router.get(path, name=f"list_{kind}_sponsors")
    def list_sponsors(org_id: str, state: RuntimeDep, policies: EmPoliciesReader) -> dict[str, Any]:
        items = [
            {"@odata.type": f"#microsoft.graph.{t}", "id": o.id, "displayName": o.display_name}
            for t, o in policies.sponsors(org_id, kind)
        ]
        return collection(state, "directoryObjects", items)

    @router.get(path + "/$ref", name=f"list_{kind}_sponsor_refs")
    def list_refs(org_id: str, state: RuntimeDep, policies: EmPoliciesReader) -> dict[str, Any]:
        base = f"{state.settings.public_url}/v1.0/directoryObjects"
        items = [{"@odata.id": f"{base}/{o.id}"} for _, o in policies.sponsors(org_id, kind)]
        return collection(state, "Collection($ref)", items)

    @router.post(path + "/$ref", status_code=204, name=f"add_{kind}_sponsor")
    def add(org_id: str, body: BodyDep, policies: EmPoliciesWriter) -> Response:
        if not isinstance(body, dict):
            raise InvalidInputError("The body is {'@odata.id': ...}.")
        policies.add_sponsor(org_id, kind, reference_id(body.get("@odata.id")))
        return Response(status_code=204)

    @router.delete(path + "/{object_id}/$ref", status_code=204, name=f"remove_{kind}_sponsor")
    def remove(org_id: str, object_id: str, policies: EmPoliciesWriter) -> Response:
        policies.remove_sponsor(org_id, kind, object_id)
        return Response(status_code=204)


_sponsor_routes("internal")
_sponsor_routes("external")


# -- settings ------------------------------------------------------------------------------------------------------


@router.get(EM + "/settings")
def get_settings(state: RuntimeDep, policies: EmPoliciesReader) -> dict[str, Any]:
    return entity(state, f"{CTX}/settings", policies.get_settings())


@router.patch(EM + "/settings", status_code=204)
def update_settings(body: BodyDep, policies: EmPoliciesWriter) -> Response:
    policies.update_settings(body)
    return Response(status_code=204)
