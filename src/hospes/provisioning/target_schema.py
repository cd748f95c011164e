"""The target's attributes, for the mapping editor to offer: discovered over SCIM ``/Schemas`` (and
``/ResourceTypes``) when the target publishes them, else the attributes Hospes's own default mappings know.

Discovery ("refresh from target") keeps what it found in the job's schema, in the target directory's definition
(Graph ``directoryDefinition``: ``objects[].attributes[]``, ``discoveryDateTime``), as Entra's "discover schema"
does; it changes no mapping, so no full cycle follows. The connector is the job's own (credentials, SSRF guard).

Target paths follow the mapping editor's syntax: ``title``, ``name.givenName``, ``emails[type eq "work"].value``
(one per canonical type of a multi-valued attribute), ``urn:...:enterprise:2.0:User:department``; a complex
attribute with a ``value`` (``manager``) or a multi-valued one without canonical types (``members``, ``roles``) is
offered whole. Read-only attributes (``id``, ``meta``, ``groups``) are left out: they cannot be written.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hospes.domain.errors import InvalidInputError
from hospes.domain.principals import Principal
from hospes.expressions.defaults import (
    EIGHT_BY_EIGHT_USER_MAPPINGS,
    SCIM_GROUP_MAPPINGS,
    SCIM_USER_MAPPINGS,
)
from hospes.provisioning.connector import ConnectorError
from hospes.provisioning.facade import FacadeBase, iso
from hospes.provisioning.runs import CredentialsRejectedError
from hospes.provisioning.schema import TARGET_DIRECTORY

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
_OBJECTS = {"user": "User", "group": "Group"}
_SKIPPED_SUBS = {"type", "primary", "display", "$ref"}
# The attributes a target keys its objects on (Graph's ``anchor``).
_ANCHORS = {("user", "userName"), ("group", "displayName")}
MAX_ATTRIBUTES = 2000  # a target describing more is cut here (the editor's list, and the stored schema)


@dataclass(frozen=True)
class TargetAttributes:
    """What the editor offers for one object type: ``discovered`` is False when the list is Hospes's own (the
    target was never asked, or publishes no ``/Schemas``)."""

    names: list[str]
    discovered: bool
    discovered_at: str | None


def _fallback(kind: str) -> list[str]:
    if kind == "group":
        return [m.target for m in SCIM_GROUP_MAPPINGS]
    names = [m.target for m in (*SCIM_USER_MAPPINGS, *EIGHT_BY_EIGHT_USER_MAPPINGS)]
    return list(dict.fromkeys([*names, "locale", "timezone"]))


def _graph_type(scim_type: Any) -> str:
    return {"boolean": "Boolean", "integer": "Integer", "decimal": "Integer", "dateTime": "DateTime"}.get(
        str(scim_type), "Reference" if scim_type == "reference" else "String"
    )


def _graph_mutability(value: Any) -> str:
    text = str(value or "readWrite")
    return text[:1].upper() + text[1:]  # readWrite -> ReadWrite, as Graph spells it


def _writable(attribute: dict[str, Any]) -> bool:
    return str(attribute.get("mutability") or "readWrite") != "readOnly"


def _paths(prefix: str, attribute: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The target paths of one schema attribute, each with the definition its value follows."""
    name = attribute.get("name")
    if not isinstance(name, str) or not name or not _writable(attribute):
        return []
    path = f"{prefix}{name}"
    subs = [s for s in attribute.get("subAttributes") or [] if isinstance(s, dict) and isinstance(s.get("name"), str)]
    if attribute.get("type") != "complex" or not subs:
        return [(path, attribute)]
    by_name = {s["name"]: s for s in subs}
    if not attribute.get("multiValued"):
        if "value" in by_name:
            return [(path, by_name["value"])]
        return [(f"{path}.{s['name']}", s) for s in subs if _writable(s)]
    types = [t for t in (by_name.get("type") or {}).get("canonicalValues") or [] if isinstance(t, str) and t]
    # References (a group's members) and lists without canonical types are mapped whole.
    if "$ref" in by_name or not types or any('"' in t for t in types):
        return [(path, attribute)]
    values = [s for s in subs if s["name"] not in _SKIPPED_SUBS and _writable(s)]
    return [(f'{path}[type eq "{t}"].{s["name"]}', s) for t in types for s in values]


def _schema_ids(kind: str, resource_types: list[dict[str, Any]], schemas: dict[str, dict[str, Any]]) -> list[str]:
    """The core schema and extensions of ``kind``: from ``/ResourceTypes``, else the RFC's core schema and the
    extensions whose id ends with the object's name (``...:enterprise:2.0:User``)."""
    object_name = _OBJECTS[kind]
    for item in resource_types:
        if str(item.get("name") or item.get("id") or "").lower() == kind and isinstance(item.get("schema"), str):
            listed = [e.get("schema") for e in item.get("schemaExtensions") or [] if isinstance(e, dict)]
            return [item["schema"], *[e for e in listed if isinstance(e, str)]]
    core = USER_SCHEMA if kind == "user" else GROUP_SCHEMA
    extensions = [i for i in schemas if i != core and ":extension:" in i and i.endswith(f":{object_name}")]
    return [core, *extensions]


def discovered_objects(documents: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Graph ``objectDefinition``s (User, Group) from a target's ``/Schemas`` and ``/ResourceTypes``."""
    schemas = {str(s.get("id")): s for s in documents.get("schemas") or [] if isinstance(s.get("id"), str)}
    objects = []
    for kind, object_name in _OBJECTS.items():
        found: dict[str, dict[str, Any]] = {}
        for index, schema_id in enumerate(_schema_ids(kind, documents.get("resourceTypes") or [], schemas)):
            schema = schemas.get(schema_id)
            if schema is None:
                continue
            prefix = "" if index == 0 else f"{schema_id}:"
            for attribute in schema.get("attributes") or []:
                if isinstance(attribute, dict):
                    for path, definition in _paths(prefix, attribute):
                        found.setdefault(path, definition)
            if index == 0:
                found.setdefault("externalId", {"type": "string"})  # a common attribute, not listed in /Schemas
        if not found:
            continue
        attributes = [
            {
                "name": path,
                "type": _graph_type(definition.get("type")),
                "multivalued": bool(definition.get("multiValued", False)) and "[" not in path,
                "mutability": _graph_mutability(definition.get("mutability")),
                "required": bool(definition.get("required", False)),
                "caseExact": bool(definition.get("caseExact", False)),
                "anchor": (kind, path) in _ANCHORS,
            }
            for path, definition in list(found.items())[:MAX_ATTRIBUTES]
        ]
        objects.append({"name": object_name, "attributes": attributes, "metadata": [], "supportedApis": []})
    return objects


def _target_directory(schema: dict[str, Any]) -> dict[str, Any] | None:
    for directory in schema.get("directories") or []:
        if not isinstance(directory, dict):
            continue
        if directory.get("id") == "target" or directory.get("name") == TARGET_DIRECTORY:
            return directory
    return None


def target_attributes(schema: dict[str, Any], kind: str) -> TargetAttributes:
    directory = _target_directory(schema) or {}
    object_name = _OBJECTS.get(kind, "User")
    for item in directory.get("objects") or []:
        if isinstance(item, dict) and item.get("name") == object_name:
            names = [str(a["name"]) for a in item.get("attributes") or [] if isinstance(a, dict) and a.get("name")]
            if names:
                return TargetAttributes(names, True, directory.get("discoveryDateTime"))
    return TargetAttributes(_fallback(kind), False, directory.get("discoveryDateTime"))


class TargetSchemas(FacadeBase):
    def target_attributes(self, tenant_id: str, sp_id: str, job_id: str, kind: str) -> TargetAttributes:
        with self.sessions() as session:
            return target_attributes(dict(self._job(session, tenant_id, sp_id, job_id).schema), kind)

    def discover_target_schema(
        self, tenant_id: str, sp_id: str, job_id: str, *, actor: Principal | None = None
    ) -> bool:
        """Ask the target for its ``/Schemas`` and keep its attributes in the job's schema. True when the target
        described its resources; False when it offers no ``/Schemas`` (the editor then offers Hospes's list). The
        target's refusals raise ``CredentialsRejectedError`` with its reason."""
        with self.sessions() as session:
            job = self._job(session, tenant_id, sp_id, job_id)
            config = self._config(session, job)
        if not config.configured:
            raise InvalidInputError("Set the tenant URL and secret token first.", target="BaseAddress")
        try:
            connector = self.engine.connector_factory(config)
        except ConnectorError as exc:
            raise CredentialsRejectedError(exc.message) from None
        try:
            documents = connector.schema_documents()
        except ConnectorError as exc:
            raise CredentialsRejectedError(exc.message) from None
        finally:
            connector.close()
        objects = discovered_objects(documents) if documents else []
        with self._services(tenant_id, actor).write("ProvisioningManagement", "Discover target schema") as op:
            job = self._job(op.session, tenant_id, sp_id, job_id, lock=True)
            schema = copy.deepcopy(dict(job.schema))
            _keep_discovery(schema, objects, op.now)
            job.schema = schema  # a new value: the mappings are unchanged, so no full cycle
            op.target("ServicePrincipal", sp_id)
            op.details.update(jobId=job_id, attributes={o["name"]: len(o["attributes"]) for o in objects})
        return bool(objects)


def _keep_discovery(schema: dict[str, Any], objects: list[dict[str, Any]], now: datetime) -> None:
    directory = _target_directory(schema)
    if directory is None:
        directory = {"id": "target", "name": TARGET_DIRECTORY, "readOnly": False}
        schema.setdefault("directories", []).append(directory)
    directory["objects"] = objects
    directory["discoverabilities"] = "AttributeNames,AttributeDataTypes,AttributeReadOnly" if objects else "None"
    directory["discoveryDateTime"] = iso(now)
