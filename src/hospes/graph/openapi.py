"""The OpenAPI document served at ``/openapi.json`` (and drawn by ``/docs``): the Graph surface and the token
endpoint, as clients and generated SDKs see them.

The routers read their bodies and OData options themselves (``deps.BodyDep``, ``deps.QueryOptions``), so FastAPI's
own document knows nothing of them. This module starts from it and adds, per route: the request body (from the
resource schemas that validate it), the OData query options of collections, the response bodies of entities and
collections, the error responses with the Graph error envelope, and the OAuth 2.0 security scheme. The tables
below name routes by method and path under ``/v1.0``; a test checks that they cover every route.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from hospes.domain.schema import (
    APP_ROLE_ASSIGNMENT,
    APPLICATION,
    CONDITIONAL_ACCESS_POLICY,
    COUNTRY_NAMED_LOCATION,
    DIRECTORY_AUDIT,
    GROUP,
    IP_NAMED_LOCATION,
    OAUTH2_PERMISSION_GRANT,
    SERVICE_PRINCIPAL,
    SIGN_IN,
    USER,
    Resource,
)
from hospes.graph import openapi_cross_tenant as cross_tenant
from hospes.graph import openapi_entitlement as entitlement
from hospes.graph import openapi_federation as federation
from hospes.graph import openapi_reviews as reviews
from hospes.graph import openapi_terms as terms
from hospes.graph.openapi_actions import ACTION_BODIES, ANSWERS
from hospes.graph.openapi_schemas import (
    RESOURCES,
    WRITABLE,
    Schema,
    collection_schema,
    entity_schema,
    error_envelope,
    ref,
    write_schema,
)
from hospes.graph.openapi_token import GRAPH_SCOPE, token_operation

PREFIX = "/v1.0"
TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"
WRITE_METHODS = ("post", "put", "patch")
_JOB = "/servicePrincipals/{sp_id}/synchronization/jobs/{job_id}"

# Request bodies: (method, path under /v1.0) -> schema name in components.schemas.
BODIES: dict[tuple[str, str], str] = {
    ("post", "/users"): "user.create",
    ("patch", "/users/{key}"): "user.update",
    ("post", "/groups"): "group.create",
    ("patch", "/groups/{group_id}"): "group.update",
    ("post", "/applications"): "application.create",
    ("patch", "/applications/{key}"): "application.update",
    ("post", "/servicePrincipals"): "servicePrincipal.create",
    ("patch", "/servicePrincipals/{key}"): "servicePrincipal.update",
    ("post", "/users/{key}/appRoleAssignments"): "appRoleAssignment.create",
    ("post", "/groups/{group_id}/appRoleAssignments"): "appRoleAssignment.create",
    ("post", "/servicePrincipals/{key}/appRoleAssignedTo"): "appRoleAssignment.create",
    ("post", "/servicePrincipals/{key}/appRoleAssignments"): "appRoleAssignment.create",
    ("post", "/groups/{group_id}/members/$ref"): "reference",
    ("post", "/groups/{group_id}/owners/$ref"): "reference",
    ("post", "/groups/evaluateDynamicMembership"): "evaluateDynamicMembership",
    ("post", "/groups/{group_id}/evaluateDynamicMembership"): "evaluateDynamicMembership.group",
    ("post", "/directoryRoles/{role_id}/members/$ref"): "reference",
    ("post", "/applications/{key}/addPassword"): "addPassword",
    ("post", "/applications/{key}/removePassword"): "removePassword",
    ("post", "/servicePrincipals/{key}/addTokenSigningCertificate"): "addTokenSigningCertificate",
    ("patch", "/organization/{org_id}"): "organization.update",
    ("post", "/invitations"): "invitation",
    ("post", "/invitations/bulk"): "invitation.bulk",
    ("post", "/oauth2PermissionGrants"): "oAuth2PermissionGrant.create",
    ("patch", "/oauth2PermissionGrants/{grant_id}"): "oAuth2PermissionGrant.update",
    ("patch", "/policies/authorizationPolicy"): "authorizationPolicy.update",
    ("post", "/policies/b2bManagementPolicies"): "b2bManagementPolicy.create",
    ("patch", "/policies/b2bManagementPolicies/{policy_id}"): "b2bManagementPolicy.update",
    ("post", "/identity/conditionalAccess/policies"): "conditionalAccessPolicy.create",
    ("patch", "/identity/conditionalAccess/policies/{policy_id}"): "conditionalAccessPolicy.update",
    ("post", "/policies/conditionalAccessPolicies"): "conditionalAccessPolicy.create",
    ("patch", "/policies/conditionalAccessPolicies/{policy_id}"): "conditionalAccessPolicy.update",
    ("post", "/identity/conditionalAccess/namedLocations"): "namedLocation.write",
    ("post", "/identity/conditionalAccess/evaluate"): "conditionalAccess.evaluate",
    ("patch", "/identity/conditionalAccess/namedLocations/{location_id}"): "namedLocation.write",
    (
        "patch",
        "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email",
    ): "emailAuthenticationMethodConfiguration.update",
    **cross_tenant.BODIES,
    **reviews.BODIES,
    **federation.BODIES,
    **terms.BODIES,
    **entitlement.BODIES,
    ("put", "/servicePrincipals/{sp_id}/synchronization"): "synchronization.put",
    ("put", "/servicePrincipals/{sp_id}/synchronization/secrets"): "synchronization.secrets",
    ("post", "/servicePrincipals/{sp_id}/synchronization/jobs"): "synchronizationJob.create",
    ("patch", _JOB): "synchronizationJob.update",
    ("post", "/servicePrincipals/{sp_id}/synchronization/jobs/validateCredentials"): "validateCredentials",
    ("post", f"{_JOB}/validateCredentials"): "validateCredentials",
    ("post", f"{_JOB}/restart"): "restart",
    ("post", f"{_JOB}/provisionOnDemand"): "provisionOnDemand",
    ("put", f"{_JOB}/schema"): "synchronizationSchema",
    ("patch", f"{_JOB}/schema"): "synchronizationSchema",
    ("post", f"{_JOB}/schema/parseExpression"): "parseExpression",
}
# Bodies that may be left out (the route reads ``OptionalBodyDep``).
OPTIONAL_BODIES = frozenset(
    {
        ("post", "/servicePrincipals/{sp_id}/synchronization/jobs/validateCredentials"),
        ("post", f"{_JOB}/validateCredentials"),
        ("post", f"{_JOB}/restart"),
        *reviews.OPTIONAL,
        *entitlement.OPTIONAL_BODIES,
    }
)
# Write routes that read no body at all.
NO_BODY = frozenset(
    {
        ("post", f"{_JOB}/start"),
        ("post", f"{_JOB}/pause"),
        ("post", "/directory/deletedItems/{object_id}/restore"),
        ("post", "/groups/{group_id}/reprocessMembership"),
        ("post", "/users/{key}/revokeSignInSessions"),
        *cross_tenant.NO_BODY,
        *reviews.NO_BODY,
    }
)
# Routes whose body (or answer) is an image, not JSON: an application's logo (PNG, JPEG or GIF, at most 100 KB).
IMAGES = frozenset({("put", "/applications/{key}/logo"), ("get", "/applications/{key}/logo")})
_IMAGE_CONTENT = {
    t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/png", "image/jpeg", "image/gif")
}
# Collections read through ``QueryOptions``: every OData option; the resource names what they may refer to.
COLLECTIONS: dict[str, Resource | None] = {
    "/users": USER,
    "/groups": GROUP,
    "/applications": APPLICATION,
    "/servicePrincipals": SERVICE_PRINCIPAL,
    "/auditLogs/directoryAudits": DIRECTORY_AUDIT,
    "/auditLogs/signIns": SIGN_IN,
    "/directory/deletedItems/{cast}": None,  # microsoft.graph.user or microsoft.graph.group
}
# Single entities read through ``QueryOptions``: ``$select`` only.
ENTITIES: dict[str, Resource] = {
    "/users/{key}": USER,
    "/me": USER,
    "/groups/{group_id}": GROUP,
    "/applications/{key}": APPLICATION,
    "/servicePrincipals/{key}": SERVICE_PRINCIPAL,
    "/auditLogs/signIns/{sign_in_id}": SIGN_IN,
}
# Collections with their own, narrower options.
_REFS = ("/groups/{group_id}/members", "/groups/{group_id}/owners")
OTHER_OPTIONS: dict[str, tuple[str, ...]] = {
    **{path: ("$top", "$skiptoken") for path in (*_REFS, *(f"{p}/$ref" for p in _REFS))},
    "/users/$count": ("$filter", "$search", "ConsistencyLevel!"),
    "/auditLogs/provisioning": ("$filter", "$select", "$top", "$skiptoken"),
    "/users/delta": ("$select", "$filter", "$deltatoken", "$skiptoken", "Prefer"),
    "/groups/delta": ("$select", "$filter", "$expand", "$deltatoken", "$skiptoken", "Prefer"),
}
# Routes that answer 409 Request_MultipleObjectsWithSameKeyValue.
CONFLICTS = frozenset(
    {
        ("post", "/servicePrincipals"),
        ("post", "/policies/b2bManagementPolicies"),
        ("post", "/oauth2PermissionGrants"),
        *cross_tenant.CONFLICTS,
        *federation.CONFLICTS,
        *entitlement.CONFLICTS,
    }
)

_DIRECTORY_OBJECT = {
    "anyOf": [ref("microsoft.graph.user"), ref("microsoft.graph.group"), ref("microsoft.graph.servicePrincipal")]
}
# The groups of a user (a directoryObject collection), under /users/{key} and /me.
_USER_GROUPS = tuple(
    f"{base}/{relation}"
    for base in ("/users/{key}", "/me")
    for relation in ("memberOf", "transitiveMemberOf", "ownedObjects")
)
_ASSIGNMENTS = (
    "/users/{key}/appRoleAssignments",
    "/groups/{group_id}/appRoleAssignments",
    "/servicePrincipals/{key}/appRoleAssignedTo",
    "/servicePrincipals/{key}/appRoleAssignments",
)


def _responses() -> dict[tuple[str, str], Schema]:
    """The success body, by route; the routes not listed keep FastAPI's ``object``."""
    out: dict[tuple[str, str], Schema] = {}
    for path, resource in (*COLLECTIONS.items(), *ENTITIES.items()):
        if resource is None:
            continue
        item = ref(f"microsoft.graph.{resource.name}")
        if path in COLLECTIONS:
            out["get", path] = collection_schema(item, paged=True)
            if resource not in (DIRECTORY_AUDIT, SIGN_IN):
                out["post", path] = item
        else:
            out["get", path] = item
    assignment = ref(f"microsoft.graph.{APP_ROLE_ASSIGNMENT.name}")
    for path in _ASSIGNMENTS:
        out["get", path] = collection_schema(assignment)
        out["post", path] = assignment
    out["get", "/me/appRoleAssignments"] = collection_schema(assignment)
    for path in (*_USER_GROUPS, "/users/{key}/sponsors", "/directoryRoles/{role_id}/members"):
        out["get", path] = collection_schema(_DIRECTORY_OBJECT)
    for path in _REFS:
        out["get", path] = collection_schema(_DIRECTORY_OBJECT, paged=True)
        out["get", f"{path}/$ref"] = collection_schema(ACTION_BODIES["reference"], paged=True)
    grant = ref(f"microsoft.graph.{OAUTH2_PERMISSION_GRANT.name}")
    out["get", "/oauth2PermissionGrants"] = collection_schema(grant)
    out["post", "/oauth2PermissionGrants"] = grant
    out["get", "/oauth2PermissionGrants/{grant_id}"] = grant
    policy = ref(f"microsoft.graph.{CONDITIONAL_ACCESS_POLICY.name}")
    location = {"anyOf": [ref(f"microsoft.graph.{r.name}") for r in (IP_NAMED_LOCATION, COUNTRY_NAMED_LOCATION)]}
    for base in ("/identity/conditionalAccess/policies", "/policies/conditionalAccessPolicies"):
        out["get", base] = collection_schema(policy)
        out["post", base] = policy
        out["get", base + "/{policy_id}"] = policy
    out["get", "/identity/conditionalAccess/namedLocations"] = collection_schema(location)
    out["post", "/identity/conditionalAccess/namedLocations"] = location
    out["get", "/identity/conditionalAccess/namedLocations/{location_id}"] = location
    out["post", "/invitations"] = ref("microsoft.graph.invitation")
    out.update(cross_tenant.responses())
    out.update(federation.responses())
    for path in ("/groups/evaluateDynamicMembership", "/groups/{group_id}/evaluateDynamicMembership"):
        out["post", path] = ref("microsoft.graph.evaluateDynamicMembershipResult")
    out["post", "/invitations/bulk"] = ref("invitation.bulk.result")
    out["post", "/applications/{key}/addPassword"] = ref("microsoft.graph.passwordCredential")
    out["post", "/servicePrincipals/{key}/addTokenSigningCertificate"] = ref("microsoft.graph.selfSignedCertificate")
    out["get", "/directoryObjects/{object_id}"] = _DIRECTORY_OBJECT
    out["post", "/directory/deletedItems/{object_id}/restore"] = _DIRECTORY_OBJECT
    deleted = {"anyOf": [ref("microsoft.graph.user"), ref("microsoft.graph.group")]}
    out["get", "/directory/deletedItems/{cast}"] = {
        "description": "A cast (microsoft.graph.user, microsoft.graph.group) lists; an object id reads one.",
        "anyOf": [collection_schema(deleted, paged=True), deleted],
    }
    return out


RESPONSES = _responses()


def _param(name: str, schema: Schema, description: str, *, where: str = "query", required: bool = False) -> Schema:
    param: Schema = {"name": name, "in": where, "required": required, "schema": schema, "description": description}
    if schema.get("type") == "array":
        param.update(style="form", explode=False)
    return param


def _filter_help(resource: Resource | None) -> str:
    text = (
        "OData filter: eq, ne, gt, ge, lt, le, in (...), startswith(), endswith(), and, or, not, lambdas "
        "(any) on collections. ne, not and endswith are advanced queries: they need ConsistencyLevel: eventual "
        "and $count=true. Depth and term count are limited (docs/graph-api.md); anything else is "
        "400 Request_UnsupportedQuery."
    )
    if resource is not None:
        props = ", ".join(f"{p.name} ({' '.join(sorted(p.ops))})" for p in resource.props if p.ops)
        text += f" Filterable properties: {props}."
    return text


def _options(name: str, resource: Resource | None, page_size: int) -> Schema:
    """One OData option (or header) of a collection; ``!`` marks a required header."""
    names = [p.name for p in resource.props] if resource is not None else None
    if name == "$select":
        items: Schema = {"type": "string", "enum": names} if names else {"type": "string"}
        return _param(name, {"type": "array", "items": items}, "Properties to return (unknown names are a 400).")
    if name == "$filter":
        return _param(name, {"type": "string"}, _filter_help(resource))
    if name == "$orderby":
        orderable = [p.name for p in resource.props if p.orderable] if resource is not None else []
        choices = [f"{n}{suffix}" for n in orderable for suffix in ("", " asc", " desc")]
        items = {"type": "string", "enum": choices} if choices else {"type": "string"}
        return _param(name, {"type": "array", "items": items}, "Sort order; with $filter, an advanced query.")
    if name == "$top":
        schema = {"type": "integer", "minimum": 1, "maximum": 999, "default": page_size}
        return _param(name, schema, "Page size.")
    if name == "$count":
        return _param(name, {"type": "boolean"}, "@odata.count on the first page (needs ConsistencyLevel: eventual).")
    if name == "$search":
        searchable = ", ".join(p.name for p in resource.props if p.searchable) if resource is not None else ""
        help_text = '"property:word" terms joined by OR; needs ConsistencyLevel: eventual.'
        if searchable:
            help_text += f" Searchable properties: {searchable}."
        return _param(name, {"type": "string"}, help_text)
    if name == "$skiptoken":
        return _param(name, {"type": "string"}, "Opaque; from @odata.nextLink, which carries the other options.")
    if name == "$deltatoken":
        return _param(name, {"type": "string"}, "From @odata.deltaLink, or 'latest' to start from now.")
    if name == "$expand":
        return _param(name, {"type": "string", "enum": ["members"]}, "Older form of $select=members.")
    if name == "Prefer":
        return _param(name, {"type": "string"}, "return=minimal, odata.maxpagesize=n (1..999).", where="header")
    required = name.endswith("!")
    return _param(
        "ConsistencyLevel",
        {"type": "string", "enum": ["eventual"]},
        "Advanced queries: ne, not, endswith, $search, $filter with $orderby, $count.",
        where="header",
        required=required,
    )


def _parameters(path: str, page_size: int) -> list[Schema]:
    if path in COLLECTIONS:
        resource = COLLECTIONS[path]
        names: tuple[str, ...] = ("$filter", "$select", "$orderby", "$top", "$search", "$count", "$skiptoken")
        return [_options(n, resource, page_size) for n in (*names, "ConsistencyLevel")]
    if path in ENTITIES:
        return [_options("$select", ENTITIES[path], page_size)]
    resource = USER if path.startswith("/users") else GROUP if path.startswith("/groups") else None
    return [_options(n, resource, page_size) for n in OTHER_OPTIONS.get(path, ())]


_ERRORS: dict[str, str] = {
    "400": "Bad request: invalid JSON, unknown or read-only property, invalid value or query option "
    "(Request_BadRequest, Request_UnsupportedQuery, BadRequest).",
    "401": "No token, or an invalid or expired one (InvalidAuthenticationToken).",
    "403": "The token lacks the permission (Authorization_RequestDenied).",
    "404": "No such object in the caller's tenant (Request_ResourceNotFound).",
    "409": "An object with the same key exists (Request_MultipleObjectsWithSameKeyValue).",
    "410": "The delta token is too old: start again from the link given (SyncStateNotFound).",
    "413": "The request body is over the limit (Request_EntityTooLarge).",
}


def _error_responses() -> Schema:
    out: Schema = {}
    for status, text in _ERRORS.items():
        response: Schema = {"description": text, "content": {"application/json": {"schema": ref("ODataError")}}}
        if status == "401":
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[status] = response
    return out


def _graph_operation(method: str, path: str, operation: Schema, page_size: int) -> None:
    key = (method, path)
    operation["tags"] = [path.strip("/").split("/", 1)[0]]
    operation["security"] = [{"oauth2": [GRAPH_SCOPE]}, {"bearer": []}]
    params = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
    operation["parameters"] = params + _parameters(path, page_size) if method == "get" else params
    if not operation["parameters"]:
        del operation["parameters"]
    if key in BODIES:
        operation["requestBody"] = {
            "required": key not in OPTIONAL_BODIES,
            "content": {"application/json": {"schema": ref(BODIES[key])}},
        }
    if key in IMAGES and method == "put":
        operation["requestBody"] = {"required": True, "content": _IMAGE_CONTENT}
    responses: Schema = operation["responses"]
    responses.pop("422", None)
    if key in IMAGES and method == "get":
        responses["200"]["content"] = _IMAGE_CONTENT
    for status, response in responses.items():
        if key in RESPONSES and status in ("200", "201"):
            response["content"] = {"application/json": {"schema": RESPONSES[key]}}
    if path == "/users/$count":
        responses["200"]["content"] = {"text/plain": {"schema": {"type": "integer", "minimum": 0}}}
    errors = ["400", "401", "403"]
    if "{" in path or key in BODIES:
        errors.append("404")
    if key in CONFLICTS:
        errors.append("409")
    if path.endswith("/delta"):
        errors.append("410")
    if key in BODIES:
        errors.append("413")
    for status in errors:
        responses[status] = {"$ref": f"#/components/responses/{status}"}


def _components(public_url: str) -> Schema:
    schemas: Schema = {f"microsoft.graph.{r.name}": entity_schema(r) for r in RESOURCES}
    for resource in WRITABLE:
        schemas[f"{resource.name}.create"] = write_schema(resource, create=True)
        schemas[f"{resource.name}.update"] = write_schema(resource, create=False)
    schemas.update(ACTION_BODIES)
    schemas.update(cross_tenant.BODY_SCHEMAS)
    schemas.update(reviews.BODY_SCHEMAS)
    schemas.update(federation.BODY_SCHEMAS)
    schemas.update(terms.BODY_SCHEMAS)
    schemas.update(entitlement.BODY_SCHEMAS)
    schemas.update(ANSWERS)
    schemas["ODataError"] = error_envelope()
    return {
        "schemas": schemas,
        "responses": _error_responses(),
        "securitySchemes": {
            "oauth2": {
                "type": "oauth2",
                "description": "Client credentials of an application registered in the tenant; {tenant} is the "
                "tenant's id or one of its domains.",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": f"{public_url}{TOKEN_PATH}",
                        "scopes": {GRAPH_SCOPE: "The application permissions granted to the client."},
                    }
                },
            },
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An app-only token, or a user's delegated token (its scopes intersected with the "
                "user's own rights; /me needs one).",
            },
            "clientBasic": {"type": "http", "scheme": "basic", "description": "client_id:client_secret"},
        },
    }


def build_openapi(app: FastAPI, public_url: str, page_size: int) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        routes=app.routes,
        servers=[{"url": public_url}],
        description="Microsoft Graph v1.0 compatible directory API under /v1.0 (docs/graph-api.md). Every "
        f"call needs a bearer token from POST {TOKEN_PATH}. Failures use the Graph error envelope.",
    )
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith(f"{PREFIX}/"):
                _graph_operation(method, path.removeprefix(PREFIX), operation, page_size)
            elif path == TOKEN_PATH:
                token_operation(operation)
            else:
                operation["responses"].pop("422", None)
                operation.setdefault("tags", ["oauth2"])
    document["components"] = _components(public_url)
    return document


def install_openapi(app: FastAPI, public_url: str, page_size: int) -> None:
    """Serve ``build_openapi``'s document at ``/openapi.json``, built on the first request."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, public_url, page_size)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
