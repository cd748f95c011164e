"""The OpenAPI description of ``/policies/crossTenantAccessPolicy``, ``/tenantRelationships/multiTenantOrganization``
and ``/applicationTemplates/{id}/instantiate`` (``openapi.py`` merges it): request bodies, success bodies and the
routes without a body."""

from __future__ import annotations

from hospes.domain.schema import Resource
from hospes.domain.schema_cross_tenant import (
    CROSS_TENANT_ACCESS_POLICY,
    CROSS_TENANT_DEFAULT,
    CROSS_TENANT_PARTNER,
    CROSS_TENANT_SYNC_POLICY,
    MTO_JOIN_REQUEST,
    MTO_MEMBER,
    MULTI_TENANT_ORGANIZATION,
)
from hospes.graph.openapi_schemas import Schema, collection_schema, nullable, ref

XTAP = "/policies/crossTenantAccessPolicy"
PARTNER = XTAP + "/partners/{tenant_id}"
SYNC = PARTNER + "/identitySynchronization"
INSTANTIATE = "/applicationTemplates/{template_id}/instantiate"
MTO = "/tenantRelationships/multiTenantOrganization"
MTO_TENANT = MTO + "/tenants/{tenant_id}"
_STR: Schema = {"type": "string"}
_KINDS: dict[str, Schema] = {"str": _STR, "bool": {"type": "boolean"}, "str_list": {"type": "array", "items": _STR}}


def _closed(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def _body(resource: Resource, required: tuple[str, ...] = ()) -> Schema:
    """A settings body: its writable properties; structured ones are an object or null, as Graph shapes them."""
    properties: Schema = {"@odata.type": _STR}
    for prop in resource.props:
        if prop.writable:
            properties[prop.name] = {"type": ["object", "null"]} if prop.kind == "json" else nullable(_KINDS[prop.kind])
    return _closed(properties, required)


# Request bodies: (method, path) -> schema name, and the schemas by name.
BODIES: dict[tuple[str, str], str] = {
    ("patch", XTAP): "crossTenantAccessPolicy.update",
    ("patch", XTAP + "/default"): "crossTenantAccessPolicyConfigurationDefault.update",
    ("post", XTAP + "/partners"): "crossTenantAccessPolicyConfigurationPartner.create",
    ("patch", PARTNER): "crossTenantAccessPolicyConfigurationPartner.update",
    ("put", SYNC): "crossTenantIdentitySyncPolicyPartner",
    ("patch", SYNC): "crossTenantIdentitySyncPolicyPartner",
    ("post", INSTANTIATE): "applicationTemplate.instantiate",
    ("patch", MTO): "multiTenantOrganization.update",
    ("post", MTO + "/tenants"): "multiTenantOrganizationMember.create",
    ("patch", MTO_TENANT): "multiTenantOrganizationMember.update",
    ("patch", MTO + "/joinRequest"): "multiTenantOrganizationJoinRequestRecord.update",
}
BODY_SCHEMAS: dict[str, Schema] = {
    "crossTenantAccessPolicy.update": _body(CROSS_TENANT_ACCESS_POLICY),
    "crossTenantAccessPolicyConfigurationDefault.update": _body(CROSS_TENANT_DEFAULT),
    "crossTenantAccessPolicyConfigurationPartner.create": _body(CROSS_TENANT_PARTNER, ("tenantId",)),
    "crossTenantAccessPolicyConfigurationPartner.update": _body(CROSS_TENANT_PARTNER),
    "crossTenantIdentitySyncPolicyPartner": _closed(
        {
            "@odata.type": _STR,
            "tenantId": _STR,
            "displayName": nullable(_STR),
            "userSyncInbound": nullable(_closed({"isSyncAllowed": {"type": ["boolean", "null"]}})),
        }
    ),
}
BODY_SCHEMAS["applicationTemplate.instantiate"] = _closed(
    {"@odata.type": _STR, "displayName": {"type": "string", "minLength": 1, "maxLength": 256}}, ("displayName",)
)
BODY_SCHEMAS["multiTenantOrganization.update"] = _body(MULTI_TENANT_ORGANIZATION)
BODY_SCHEMAS["multiTenantOrganizationMember.create"] = _body(MTO_MEMBER, ("tenantId",))
BODY_SCHEMAS["multiTenantOrganizationMember.update"] = _closed(
    {"@odata.type": _STR, "role": {"enum": ["owner", "member"]}, "displayName": nullable(_STR)}
)
BODY_SCHEMAS["multiTenantOrganizationJoinRequestRecord.update"] = _body(MTO_JOIN_REQUEST, ("addedByTenantId",))
NO_BODY = frozenset({("post", XTAP + "/default/resetToSystemDefault")})
CONFLICTS = frozenset({("post", XTAP + "/partners"), ("post", MTO + "/tenants")})


def responses() -> dict[tuple[str, str], Schema]:
    partner = ref(f"microsoft.graph.{CROSS_TENANT_PARTNER.name}")
    member = ref(f"microsoft.graph.{MTO_MEMBER.name}")
    return {
        ("get", XTAP): ref(f"microsoft.graph.{CROSS_TENANT_ACCESS_POLICY.name}"),
        ("get", XTAP + "/default"): ref(f"microsoft.graph.{CROSS_TENANT_DEFAULT.name}"),
        ("get", XTAP + "/partners"): collection_schema(partner),
        ("post", XTAP + "/partners"): partner,
        ("get", PARTNER): partner,
        ("get", SYNC): ref(f"microsoft.graph.{CROSS_TENANT_SYNC_POLICY.name}"),
        ("get", MTO): ref(f"microsoft.graph.{MULTI_TENANT_ORGANIZATION.name}"),
        ("get", MTO + "/tenants"): collection_schema(member),
        ("post", MTO + "/tenants"): member,
        ("get", MTO_TENANT): member,
        ("get", MTO + "/joinRequest"): ref(f"microsoft.graph.{MTO_JOIN_REQUEST.name}"),
        ("post", INSTANTIATE): _closed(
            {
                "@odata.context": {"type": "string", "format": "uri"},
                "application": ref("microsoft.graph.application"),
                "servicePrincipal": ref("microsoft.graph.servicePrincipal"),
            },
            ("application", "servicePrincipal"),
        ),
    }
