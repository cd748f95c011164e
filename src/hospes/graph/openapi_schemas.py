"""JSON Schemas (OpenAPI 3.1) of the Graph surface's bodies: entities and their create and update bodies, derived
from the resource schemas that validate them (``hospes.domain.schema``), the bodies of the actions and
relationship routes (``openapi_actions``), and the Graph error envelope (``hospes.graph.errors``).
"""

from __future__ import annotations

from typing import Any

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
    Prop,
    Resource,
)
from hospes.domain.schema_cross_tenant import CROSS_TENANT_RESOURCES

Schema = dict[str, Any]
STR, BOOL, UUID = {"type": "string"}, {"type": "boolean"}, {"type": "string", "format": "uuid"}
RESOURCES = (
    USER,
    GROUP,
    APPLICATION,
    SERVICE_PRINCIPAL,
    APP_ROLE_ASSIGNMENT,
    DIRECTORY_AUDIT,
    OAUTH2_PERMISSION_GRANT,
    *CROSS_TENANT_RESOURCES,
    CONDITIONAL_ACCESS_POLICY,
    IP_NAMED_LOCATION,
    COUNTRY_NAMED_LOCATION,
    SIGN_IN,
)
# Resources whose create and update bodies are derived from their schema (``write_schema``).
WRITABLE = (USER, GROUP, APPLICATION, SERVICE_PRINCIPAL, OAUTH2_PERMISSION_GRANT, CONDITIONAL_ACCESS_POLICY)
# What the services demand on create (``validation.require``): present, not null, not empty.
REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {
    "user": ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"),
    "group": ("displayName", "mailEnabled", "mailNickname", "securityEnabled"),
    "application": ("displayName",),
    "servicePrincipal": ("appId",),
    "oAuth2PermissionGrant": ("clientId", "consentType", "resourceId"),
    "conditionalAccessPolicy": ("displayName", "state", "conditions"),
}
_KINDS: dict[str, Schema] = {
    "str": {"type": "string"},
    "guid": {"type": "string", "format": "uuid"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "str_list": {"type": "array", "items": {"type": "string"}},
    "obj_list": {"type": "array", "items": {"type": "object"}},
    "json": {},  # free-form: objects or arrays shaped as Graph documents them
}
_BIND = {"type": "array", "items": {"type": "string", "format": "uri"}}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    kind = schema.get("type")
    if kind is None or (isinstance(kind, list) and "null" in kind):
        return schema
    return {**schema, "type": [*kind, "null"] if isinstance(kind, list) else [kind, "null"]}


def _structured() -> dict[str, Schema]:
    """The Graph complex types of the relying-party properties, as Hospes answers and accepts them (open objects:
    an SDK may send ``@odata.type`` and members it echoes back)."""
    text, flag, when = {"type": ["string", "null"]}, {"type": ["boolean", "null"]}, {"type": ["string", "null"]}
    uris = {"type": "array", "items": {"type": "string"}, "maxItems": 256}
    key_credential = {
        "type": "object",
        "properties": {
            "customKeyIdentifier": {**text, "description": "The certificate's SHA-1 thumbprint (Edm.Binary)."},
            "displayName": text,
            "endDateTime": {**when, "format": "date-time"},
            "key": {**text, "description": "base64 DER; only with $select=keyCredentials on one object."},
            "keyId": {"type": ["string", "null"], "format": "uuid"},
            "startDateTime": {**when, "format": "date-time"},
            "type": {**text, "description": "AsymmetricX509Cert"},
            "usage": {**text, "description": "Verify (or Sign: a token-signing key's private half)"},
        },
    }
    scope = {
        "type": "object",
        "properties": {
            "id": {"type": ["string", "null"], "format": "uuid"},
            "value": {"type": "string"},
            "type": {"type": ["string", "null"], "enum": ["User", "Admin", None]},
            "isEnabled": flag,
            **{
                name: text
                for name in (
                    "adminConsentDisplayName",
                    "adminConsentDescription",
                    "userConsentDisplayName",
                    "userConsentDescription",
                )
            },
        },
    }
    return {
        "microsoft.graph.webApplication": {
            "type": ["object", "null"],
            "properties": {
                "redirectUris": uris,
                "logoutUrl": text,
                "homePageUrl": text,
                "redirectUriSettings": {"type": "array"},
                "implicitGrantSettings": {
                    "type": ["object", "null"],
                    "properties": {"enableIdTokenIssuance": flag, "enableAccessTokenIssuance": flag},
                },
            },
        },
        "microsoft.graph.spaApplication": {"type": ["object", "null"], "properties": {"redirectUris": uris}},
        "microsoft.graph.publicClientApplication": {
            "type": ["object", "null"],
            "properties": {"redirectUris": {**uris, "description": "Custom schemes allowed here."}},
        },
        "microsoft.graph.apiApplication": {
            "type": ["object", "null"],
            "properties": {"oauth2PermissionScopes": {"type": "array", "items": scope}},
        },
        "microsoft.graph.informationalUrl": {
            "type": ["object", "null"],
            "properties": {
                "logoUrl": {**text, "description": "The public address of the logo set with PUT .../logo."},
                **{n: text for n in ("marketingUrl", "privacyStatementUrl", "supportUrl", "termsOfServiceUrl")},
            },
        },
        "microsoft.graph.samlSingleSignOnSettings": {
            "type": ["object", "null"],
            "properties": {"relayState": {**text, "maxLength": 80}},
        },
        "Collection(microsoft.graph.keyCredential)": {"type": ["array", "null"], "items": key_credential},
        "Collection(microsoft.graph.permissionScope)": {"type": ["array", "null"], "items": scope},
    }


_STRUCTURED = _structured()


def property_schema(prop: Prop, *, write: bool) -> Schema:
    schema = dict(_STRUCTURED.get(prop.graph_type or "") or _KINDS[prop.kind])
    if write and prop.max_len is not None:
        schema["maxLength"] = prop.max_len
    if write and prop.kind == "str_list":
        schema["maxItems"] = 250
    if not write and not prop.writable:
        schema["readOnly"] = True
    return schema


def entity_schema(resource: Resource) -> Schema:
    """The entity as answered: every property (``$select`` may return any subset, so none is required)."""
    properties: Schema = {
        "@odata.context": {"type": "string", "format": "uri"},
        "@odata.type": {"type": "string", "enum": [resource.odata_type]},
    }
    for prop in resource.props:
        if prop.kind == "nav":
            continue  # served as its own segment, never inline
        schema = property_schema(prop, write=False)
        properties[prop.name] = schema if prop.name == "id" else nullable(schema)
    return {
        "type": "object",
        "title": f"microsoft.graph.{resource.name}",
        "properties": properties,
        "additionalProperties": False,
    }


def _extras(resource: Resource, create: bool) -> Schema:
    if resource is USER:
        return {
            "passwordProfile": {
                "type": "object",
                "properties": {
                    "password": {"type": "string", "minLength": 1},
                    "forceChangePasswordNextSignIn": {"type": "boolean"},
                },
                "required": ["password"],
            }
        }
    if resource is GROUP:
        binds = {"members@odata.bind": {**_BIND, "maxItems": 20}}
        return {**binds, "owners@odata.bind": _BIND} if create else binds
    if resource is SERVICE_PRINCIPAL and create:
        return {"appId": {"type": "string", "format": "uuid"}}
    return {}


def write_schema(resource: Resource, *, create: bool) -> Schema:
    """A create (POST) or update (PATCH) body: the writable properties; unknown and read-only ones are a 400."""
    required = REQUIRED_ON_CREATE.get(resource.name, ()) if create else ()
    properties: Schema = {"@odata.type": {"type": "string", "enum": [resource.odata_type, resource.odata_type[1:]]}}
    for prop in resource.props:
        if prop.writable:
            schema = property_schema(prop, write=True)
            if prop.name in required:
                properties[prop.name] = {**schema, "minLength": 1} if schema.get("type") == "string" else schema
            else:
                properties[prop.name] = nullable(schema)
    properties.update(_extras(resource, create))
    body: Schema = {
        "type": "object",
        "title": f"microsoft.graph.{resource.name} ({'create' if create else 'update'})",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        body["required"] = list(required)
    return body


def error_envelope() -> Schema:
    """The body of every failure of ``/v1.0`` (``hospes.graph.errors.error_response``)."""
    return {
        "type": "object",
        "title": "Graph error",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "examples": ["Request_BadRequest", "Request_ResourceNotFound"]},
                    "message": {"type": "string"},
                    "target": {"type": "string"},
                    "innerError": {
                        "type": "object",
                        "properties": {
                            "date": {"type": "string", "format": "date-time"},
                            "request-id": {"type": "string"},
                            "client-request-id": {"type": ["string", "null"]},
                        },
                        "required": ["date", "request-id", "client-request-id"],
                    },
                },
                "required": ["code", "message", "innerError"],
            }
        },
        "required": ["error"],
    }


def collection_schema(item: Schema, *, paged: bool = False) -> Schema:
    properties: Schema = {
        "@odata.context": {"type": "string", "format": "uri"},
        "value": {"type": "array", "items": item},
    }
    if paged:
        properties["@odata.count"] = {"type": "integer", "minimum": 0, "description": "First page, with $count=true."}
        properties["@odata.nextLink"] = {"type": "string", "format": "uri", "description": "Absent on the last page."}
    return {"type": "object", "properties": properties, "required": ["value"], "additionalProperties": False}


def obj(properties: Schema, required: tuple[str, ...] = (), *, closed: bool = False) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema

