"""The service's own description, generated from the resource schemas (``hospes.domain.schema``): the CSDL
document at ``/v1.0/$metadata`` (OData v4 EDMX, the address every ``@odata.context`` names) and the service
document at ``/v1.0``. Nothing here is written by hand per property, so a property the API returns cannot be
missing from it.

Structured values (``web``, ``passwordCredentials``, ...) are declared as open complex types of their Graph name:
their members are what Graph's own types have, and are not listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from xml.etree import ElementTree as ET

from hospes.domain.schema import (
    APP_ROLE_ASSIGNMENT,
    APPLICATION,
    CONDITIONAL_ACCESS_POLICY,
    COUNTRY_NAMED_LOCATION,
    DIRECTORY_AUDIT,
    DIRECTORY_OBJECT,
    DIRECTORY_ROLE,
    GROUP,
    INVITATION,
    IP_NAMED_LOCATION,
    OAUTH2_PERMISSION_GRANT,
    ORGANIZATION,
    SERVICE_PRINCIPAL,
    SIGN_IN,
    USER,
    Prop,
    Resource,
)
from hospes.domain.schema_cross_tenant import (
    CROSS_TENANT_ACCESS_POLICY,
    CROSS_TENANT_DEFAULT,
    CROSS_TENANT_PARTNER,
    CROSS_TENANT_SYNC_POLICY,
    MTO_JOIN_REQUEST,
    MTO_MEMBER,
    MULTI_TENANT_ORGANIZATION,
)

NAMESPACE = "microsoft.graph"
EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"

# The collections served at /v1.0/{name}, in the order of the service document.
ENTITY_SETS: tuple[Resource, ...] = (
    USER,
    GROUP,
    APPLICATION,
    SERVICE_PRINCIPAL,
    INVITATION,
    ORGANIZATION,
    DIRECTORY_OBJECT,
    DIRECTORY_ROLE,
    OAUTH2_PERMISSION_GRANT,
)
# Types returned only below another resource (/users/{id}/appRoleAssignments, /auditLogs/directoryAudits,
# /policies/crossTenantAccessPolicy/..., /tenantRelationships/multiTenantOrganization/...,
# /identity/conditionalAccess/...).
CONTAINED_TYPES: tuple[Resource, ...] = (
    APP_ROLE_ASSIGNMENT,
    DIRECTORY_AUDIT,
    CROSS_TENANT_ACCESS_POLICY,
    CROSS_TENANT_DEFAULT,
    CROSS_TENANT_PARTNER,
    CROSS_TENANT_SYNC_POLICY,
    MULTI_TENANT_ORGANIZATION,
    MTO_MEMBER,
    MTO_JOIN_REQUEST,
    CONDITIONAL_ACCESS_POLICY,
    IP_NAMED_LOCATION,
    COUNTRY_NAMED_LOCATION,
    SIGN_IN,
)
# The relations served as their own segments (``/users/{id}/memberOf``), never inline: the resource schemas
# describe what an object's JSON holds, so these are declared here.
_OBJECTS = f"Collection({NAMESPACE}.directoryObject)"
NAVIGATION: dict[str, tuple[tuple[str, str], ...]] = {
    USER.name: (
        ("memberOf", _OBJECTS),
        ("transitiveMemberOf", _OBJECTS),
        ("ownedObjects", _OBJECTS),
        ("sponsors", _OBJECTS),
        ("appRoleAssignments", f"Collection({NAMESPACE}.{APP_ROLE_ASSIGNMENT.name})"),
    ),
    GROUP.name: (
        ("members", _OBJECTS),
        ("owners", _OBJECTS),
        ("appRoleAssignments", f"Collection({NAMESPACE}.{APP_ROLE_ASSIGNMENT.name})"),
    ),
}
# Singletons: ``/me``, the signed-in user of a delegated token.
SINGLETONS: tuple[tuple[str, Resource], ...] = (("me", USER),)

_SCALARS = {
    "str": "Edm.String",
    "bool": "Edm.Boolean",
    "datetime": "Edm.DateTimeOffset",
    "guid": "Edm.Guid",
    "str_list": "Collection(Edm.String)",
}


def edm_type(prop: Prop) -> str:
    if prop.graph_type:
        return prop.graph_type
    if prop.name == "id":
        return "Edm.String"  # Graph keys are strings, GUID-shaped or not
    if prop.kind not in _SCALARS:
        raise ValueError(f"property {prop.name!r} of kind {prop.kind!r} needs a graph_type")
    return _SCALARS[prop.kind]


def _element_type(type_name: str) -> str:
    return type_name.removeprefix("Collection(").removesuffix(")")


def _complex_types(resources: Iterable[Resource]) -> list[str]:
    """The Graph complex types the properties name (everything in the namespace that is not an entity type)."""
    entities = {f"{NAMESPACE}.{r.name}" for r in resources}
    found = {
        _element_type(p.graph_type)
        for r in resources
        for p in r.props
        if p.graph_type and p.kind != "nav" and _element_type(p.graph_type) not in entities
    }
    return sorted(name.removeprefix(f"{NAMESPACE}.") for name in found)


@cache
def metadata_document() -> bytes:
    """``$metadata``: the entity types of every resource, their complex types and the entity container."""
    resources = (*ENTITY_SETS, *CONTAINED_TYPES)
    ET.register_namespace("edmx", EDMX)
    root = ET.Element(f"{{{EDMX}}}Edmx", {"Version": "4.0"})
    services = ET.SubElement(root, f"{{{EDMX}}}DataServices")
    schema = ET.SubElement(services, "Schema", {"xmlns": EDM, "Namespace": NAMESPACE, "Alias": "graph"})
    for resource in resources:
        entity = ET.SubElement(schema, "EntityType", {"Name": resource.name})
        key_name = "id" if resource.get("id") is not None else "tenantId" if resource.get("tenantId") else None
        if key_name is not None:
            key = ET.SubElement(entity, "Key")
            ET.SubElement(key, "PropertyRef", {"Name": key_name})
        for prop in resource.props:
            if prop.kind == "nav":
                ET.SubElement(entity, "NavigationProperty", {"Name": prop.name, "Type": edm_type(prop)})
                continue
            attributes = {"Name": prop.name, "Type": edm_type(prop)}
            if prop.name == key_name:
                attributes["Nullable"] = "false"
            ET.SubElement(entity, "Property", attributes)
        for name, type_name in NAVIGATION.get(resource.name, ()):
            ET.SubElement(entity, "NavigationProperty", {"Name": name, "Type": type_name})
    for name in _complex_types(resources):
        ET.SubElement(schema, "ComplexType", {"Name": name, "OpenType": "true"})
    container = ET.SubElement(schema, "EntityContainer", {"Name": "GraphService"})
    for resource in ENTITY_SETS:
        ET.SubElement(
            container, "EntitySet", {"Name": resource.collection, "EntityType": f"{NAMESPACE}.{resource.name}"}
        )
    for name, resource in SINGLETONS:
        ET.SubElement(container, "Singleton", {"Name": name, "Type": f"{NAMESPACE}.{resource.name}"})
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def service_document(public_url: str) -> dict[str, object]:
    """``/v1.0``: the entity sets and singletons, relative to the service root (OData JSON format, section 5)."""
    return {
        "@odata.context": f"{public_url}/v1.0/$metadata",
        "value": [
            *({"name": r.collection, "kind": "EntitySet", "url": r.collection} for r in ENTITY_SETS),
            *({"name": name, "kind": "Singleton", "url": name} for name, _ in SINGLETONS),
        ],
    }
