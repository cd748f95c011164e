"""A job's schema: Graph ``synchronizationSchema`` JSON in and out, compiled into object and attribute mappings.

The stored form is the Graph JSON (what ``GET .../schema`` returns); ``compile_schema`` validates it (every
expression compiles with the expressions package, every scoping filter compiles, the user mapping has a matching
attribute) and gives the engine ``ObjectMapping``s. Source attribute mappings are turned into expression text
(``[mail]``, ``"constant"``, or the function expression), so Direct, Constant and Expression mappings take the
same evaluation path.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hospes.domain.errors import InvalidInputError
from hospes.provisioning import mapping

SOURCE_DIRECTORY = "Hospes Directory"
TARGET_DIRECTORY = "SCIM Target"
FLOW_ALWAYS = "Always"
# Cross-tenant synchronization: the template, its rule and directories as Graph names them.
CROSS_TENANT_TEMPLATE = "Azure2Azure"
CROSS_TENANT_RULE = "USER_INBOUND_USER"
CROSS_TENANT_SOURCE = "Azure Active Directory"
CROSS_TENANT_TARGET = "Azure Active Directory (target tenant)"
CROSS_TENANT_ANCHOR = ("alternativeSecurityIds", "AltSecIdFromNetId([netId])")
# The default user mappings of a cross-tenant job: (target, source expression, matching precedence, flow type).
# userType is applied on creation only, so an existing B2B guest matched by mail stays a guest unless an admin
# sets the mapping to Always.
CROSS_TENANT_USER_ROWS: list[tuple[str, str | None, int, str]] = [
    (CROSS_TENANT_ANCHOR[0], CROSS_TENANT_ANCHOR[1], 1, "Always"),
    ("IsSoftDeleted", "[IsSoftDeleted]", 0, "Always"),
    ("accountEnabled", "[accountEnabled]", 0, "Always"),
    ("companyName", "[companyName]", 0, "Always"),
    ("department", "[department]", 0, "Always"),
    ("employeeId", "[employeeId]", 0, "Always"),
    ("displayName", "[displayName]", 0, "Always"),
    ("givenName", "[givenName]", 0, "Always"),
    ("surname", "[surname]", 0, "Always"),
    ("jobTitle", "[jobTitle]", 0, "Always"),
    ("mobilePhone", "[mobile]", 0, "Always"),
    ("businessPhones", "[telephoneNumber]", 0, "Always"),
    ("officeLocation", "[physicalDeliveryOfficeName]", 0, "Always"),
    ("usageLocation", "[usageLocation]", 0, "Always"),
    ("userPrincipalName", "[userPrincipalName]", 0, "Always"),
    ("mail", "[mail]", 0, "Always"),
    ("preferredLanguage", "[preferredLanguage]", 0, "Always"),
    ("showInAddressList", '"true"', 0, "Always"),
    ("userType", '"Member"', 0, "ObjectAddOnly"),
    ("manager", "[manager]", 0, "Always"),
]
FLOW_ADD_ONLY = "ObjectAddOnly"
_FLOW_TYPES = {"Always", "ObjectAddOnly", "MultiValueAddOnly", "ValueAddOnly", "AttributeAddOnly"}
# Target attributes whose values are booleans on the wire (expressions produce "True"/"False" text).
BOOLEAN_TARGETS = frozenset({"active", "accountEnabled", "showInAddressList", "IsSoftDeleted"})


@dataclass
class AttributeMapping:
    target: str
    source_type: str  # Attribute | Constant | Function | None
    expression: str | None  # the source as expression text; None for "None" mappings
    default: str | None = None
    matching_priority: int = 0
    flow_type: str = FLOW_ALWAYS
    compiled: mapping.Compiled | None = None

    @property
    def add_only(self) -> bool:
        return self.flow_type != FLOW_ALWAYS


@dataclass
class ObjectMapping:
    name: str
    kind: str  # user | group
    enabled: bool
    flow_types: frozenset[str]  # Add, Update, Delete
    attributes: list[AttributeMapping]
    scope_json: dict[str, Any] | None = None
    scope: mapping.CompiledScope | None = None

    @property
    def matching(self) -> list[AttributeMapping]:
        found = [a for a in self.attributes if a.matching_priority > 0 and a.expression is not None]
        return sorted(found, key=lambda a: a.matching_priority)

    @property
    def syncs_members(self) -> bool:
        return self.kind == "group" and any(a.target == "members" for a in self.attributes)

    @property
    def value_mappings(self) -> list[AttributeMapping]:
        return [a for a in self.attributes if a.target != "members" and a.expression is not None]


@dataclass
class CompiledSchema:
    user: ObjectMapping
    group: ObjectMapping | None
    raw: dict[str, Any] = field(default_factory=dict)

    def for_kind(self, kind: str) -> ObjectMapping | None:
        return self.user if kind == "user" else self.group


# --- defaults ---------------------------------------------------------------------------------------------------


def _source_json(expression: str | None) -> dict[str, Any] | None:
    """Graph ``attributeMappingSource`` for an expression text."""
    if expression is None:
        return None
    text = expression.strip()
    if text.startswith("[") and text.endswith("]") and text.count("[") == 1:
        name = text[1:-1]
        return {"type": "Attribute", "name": name, "expression": text, "parameters": []}
    if text.startswith('"') and text.endswith('"'):
        return {"type": "Constant", "name": json.loads(text), "expression": text, "parameters": []}
    return {"type": "Function", "name": text.split("(", 1)[0].strip(), "expression": text, "parameters": []}


def _attribute_json(target: str, expression: str | None, priority: int, flow: str) -> dict[str, Any]:
    return {
        "targetAttributeName": target,
        "source": _source_json(expression),
        "defaultValue": None,
        "matchingPriority": priority,
        "flowType": flow,
        "flowBehavior": "FlowWhenChanged",
        "exportMissingReferences": False,
    }


def default_schema(job_id: str, template_id: str = "scim") -> dict[str, Any]:
    def object_mapping(name: str, src: str, tgt: str, rows: list[tuple[str, str | None, int, str]]) -> dict[str, Any]:
        return {
            "name": name,
            "enabled": True,
            "sourceObjectName": src,
            "targetObjectName": tgt,
            "flowTypes": "Add, Update, Delete",
            "scope": None,
            "metadata": [],
            "attributeMappings": [_attribute_json(*row) for row in rows],
        }

    if template_id == CROSS_TENANT_TEMPLATE:
        return _cross_tenant_schema(job_id, object_mapping)
    return {
        "id": job_id,
        "version": "Date:2026-12-01",
        "directories": [
            {"id": "source", "name": SOURCE_DIRECTORY, "objects": [], "readOnly": True},
            {"id": "target", "name": TARGET_DIRECTORY, "objects": [], "readOnly": False},
        ],
        "synchronizationRules": [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"hospes:{job_id}:rule")),
                "name": "USER_OUTBOUND_SCIM",
                "priority": 1,
                "editable": True,
                "sourceDirectoryName": SOURCE_DIRECTORY,
                "targetDirectoryName": TARGET_DIRECTORY,
                "containerFilter": {"includedContainers": []},
                "groupFilter": {"includedGroups": []},
                "metadata": [{"key": "supportsProvisionOnDemand", "value": "true"}],
                "objectMappings": [
                    object_mapping("Provision Hospes Users", "User", "User", mapping.default_user_rows()),
                    object_mapping("Provision Hospes Groups", "Group", "Group", mapping.default_group_rows()),
                ],
            }
        ],
    }


def _cross_tenant_schema(job_id: str, object_mapping: Any) -> dict[str, Any]:
    users = object_mapping("Provision Azure Active Directory Users", "User", "User", CROSS_TENANT_USER_ROWS)
    return {
        "id": job_id,
        "version": "v1.2",
        "directories": [
            {"id": "source", "name": CROSS_TENANT_SOURCE, "objects": [], "readOnly": True},
            {"id": "target", "name": CROSS_TENANT_TARGET, "objects": [], "readOnly": False},
        ],
        "synchronizationRules": [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"hospes:{job_id}:rule")),
                "name": CROSS_TENANT_RULE,
                "priority": 1,
                "editable": True,
                "sourceDirectoryName": CROSS_TENANT_SOURCE,
                "targetDirectoryName": CROSS_TENANT_TARGET,
                "containerFilter": {"includedContainers": []},
                "groupFilter": {"includedGroups": []},
                "metadata": [
                    {"key": "defaultSourceObjectMappings", "value": "User"},
                    {"key": "supportsProvisionOnDemand", "value": "true"},
                ],
                "objectMappings": [users],
            }
        ],
    }


def _check_cross_tenant_anchor(rules: list[Any], user: ObjectMapping) -> None:
    """The cross-tenant rule matches on the source object's id alone: that anchor cannot change and no other
    matching attribute can be added (it could match an internal user of the target)."""
    if not any(isinstance(rule, dict) and rule.get("name") == CROSS_TENANT_RULE for rule in rules):
        return
    anchor = [(a.target, (a.expression or "").replace(" ", "")) for a in user.matching]
    if anchor != [(CROSS_TENANT_ANCHOR[0], CROSS_TENANT_ANCHOR[1])]:
        raise _bad(
            f"the {CROSS_TENANT_RULE} rule matches on {CROSS_TENANT_ANCHOR[0]} = {CROSS_TENANT_ANCHOR[1]} only "
            "(precedence 1); it cannot be changed and no other matching attribute can be added",
            SchemaField.MATCHING,
        )


# --- compile and validate ----------------------------------------------------------------------------------------


class SchemaField(StrEnum):
    """The property of an object or attribute mapping a ``SchemaError`` is about (its Graph name)."""

    TARGET = "targetAttributeName"
    EXPRESSION = "expression"  # the attribute mapping's source
    MATCHING = "matchingPriority"
    FLOW_TYPE = "flowType"
    FLOW_TYPES = "flowTypes"
    ENABLED = "enabled"
    SCOPE = "scope"


class SchemaError(InvalidInputError):
    """A schema that does not compile. The Graph API reports it on the whole ``schema``; ``field`` names the
    property of the object or attribute mapping at fault, for editors that show the error next to it."""

    def __init__(self, message: str, field: SchemaField | None = None) -> None:
        super().__init__(f"Invalid synchronization schema: {message}", target="schema")
        self.field = field


def _bad(message: str, field: SchemaField | None = None) -> SchemaError:
    return SchemaError(message, field)


def _expression_of(source: Any, where: str) -> tuple[str, str | None]:
    if source is None:
        return "None", None
    if not isinstance(source, dict):
        raise _bad(f"{where}: source must be an object", SchemaField.EXPRESSION)
    kind = str(source.get("type") or "Attribute")
    expression = source.get("expression")
    name = source.get("name")
    if kind == "Attribute":
        if not isinstance(name, str) or not name:
            if isinstance(expression, str) and expression.strip().startswith("["):
                return kind, expression.strip()
            raise _bad(f"{where}: an Attribute source needs a name", SchemaField.EXPRESSION)
        return kind, f"[{name}]"
    if kind == "Constant":
        if isinstance(expression, str) and expression.strip().startswith('"'):
            return kind, expression.strip()
        return kind, json.dumps("" if name is None else str(name))
    if kind == "Function":
        if not isinstance(expression, str) or not expression.strip():
            raise _bad(f"{where}: a Function source needs an expression", SchemaField.EXPRESSION)
        return kind, expression.strip()
    raise _bad(f"{where}: unknown source type {kind!r}", SchemaField.EXPRESSION)


def _flow_types(value: Any) -> frozenset[str]:
    if isinstance(value, list):
        items = [str(v) for v in value]
    else:
        items = [part.strip() for part in str(value or "").split(",")]
    found = frozenset(i for i in items if i)
    if not found <= {"Add", "Update", "Delete"}:
        raise _bad(f"flowTypes must be made of Add, Update, Delete (got {sorted(found)})", SchemaField.FLOW_TYPES)
    return found


def _kind(source_object: Any) -> str | None:
    name = str(source_object or "").lower()
    return {"user": "user", "group": "group"}.get(name)


def compile_object(data: dict[str, Any]) -> ObjectMapping:
    kind = _kind(data.get("sourceObjectName"))
    if kind is None:
        raise _bad(f"unsupported sourceObjectName {data.get('sourceObjectName')!r} (User or Group)")
    attributes: list[AttributeMapping] = []
    seen_targets: set[str] = set()
    priorities: set[int] = set()
    for index, item in enumerate(data.get("attributeMappings") or []):
        if not isinstance(item, dict):
            raise _bad("attributeMappings must be objects")
        target = item.get("targetAttributeName")
        where = f"{data.get('name')}: mapping {index + 1} ({target})"
        if not isinstance(target, str) or not target.strip():
            raise _bad(f"{where}: targetAttributeName is required", SchemaField.TARGET)
        if target.lower() == "id":
            raise _bad(f"{where}: the target's id is assigned by the target and cannot be mapped", SchemaField.TARGET)
        if target.lower() in seen_targets:
            raise _bad(f"{where}: {target} is mapped twice", SchemaField.TARGET)
        seen_targets.add(target.lower())
        source_type, expression = _expression_of(item.get("source"), where)
        flow = str(item.get("flowType") or FLOW_ALWAYS)
        if flow not in _FLOW_TYPES:
            raise _bad(f"{where}: unknown flowType {flow!r}", SchemaField.FLOW_TYPE)
        priority = item.get("matchingPriority") or 0
        if not isinstance(priority, int) or priority < 0:
            raise _bad(f"{where}: matchingPriority must be a non-negative integer", SchemaField.MATCHING)
        if priority and priority in priorities:
            raise _bad(f"{where}: two matching attributes have precedence {priority}", SchemaField.MATCHING)
        if priority and expression is None:
            raise _bad(f"{where}: a matching attribute needs a source", SchemaField.MATCHING)
        if priority:
            priorities.add(priority)
        default = item.get("defaultValue")
        compiled = None
        if expression is not None and target != "members":
            try:
                compiled = mapping.compile_text(expression)
            except mapping.MappingError as exc:
                raise _bad(f"{where}: {exc}", SchemaField.EXPRESSION) from None
        attributes.append(
            AttributeMapping(
                target=target.strip(),
                source_type=source_type,
                expression=expression,
                default=None if default in (None, "") else str(default),
                matching_priority=priority,
                flow_type=flow,
                compiled=compiled,
            )
        )
    scope_json = data.get("scope")
    scope = None
    if scope_json:
        if not isinstance(scope_json, dict):
            raise _bad(f"{data.get('name')}: scope must be a filter object", SchemaField.SCOPE)
        try:
            scope = mapping.compile_scope_json(scope_json)
        except mapping.MappingError as exc:
            raise _bad(f"{data.get('name')}: scoping filter: {exc}", SchemaField.SCOPE) from None
    return ObjectMapping(
        name=str(data.get("name") or kind),
        kind=kind,
        enabled=bool(data.get("enabled", True)),
        flow_types=_flow_types(data.get("flowTypes", "Add, Update, Delete")),
        attributes=attributes,
        scope_json=scope_json if scope_json else None,
        scope=scope,
    )


def compile_schema(raw: dict[str, Any]) -> CompiledSchema:
    if not isinstance(raw, dict):
        raise _bad("the body must be a synchronizationSchema object")
    rules = raw.get("synchronizationRules")
    if not isinstance(rules, list) or not rules:
        raise _bad("synchronizationRules must hold one rule")
    found: dict[str, ObjectMapping] = {}
    for rule in rules:
        if not isinstance(rule, dict):
            raise _bad("a synchronizationRule must be an object")
        for item in rule.get("objectMappings") or []:
            if not isinstance(item, dict):
                raise _bad("objectMappings must be objects")
            compiled = compile_object(item)
            if compiled.kind in found:
                raise _bad(f"two object mappings for {compiled.kind}s")
            found[compiled.kind] = compiled
    user = found.get("user")
    if user is None:
        raise _bad("the user object mapping is required")
    if not user.enabled:
        raise _bad("the user object mapping cannot be disabled", SchemaField.ENABLED)
    if not user.matching:
        raise _bad(
            "the user object mapping needs at least one matching attribute (matchingPriority > 0)", SchemaField.MATCHING
        )
    _check_cross_tenant_anchor(rules, user)
    group = found.get("group")
    if group is not None and group.enabled and not group.matching:
        raise _bad("the group object mapping needs at least one matching attribute", SchemaField.MATCHING)
    return CompiledSchema(user=user, group=group, raw=raw)


def merge_schema(existing: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """A replacement schema, except that an object mapping without ``flowTypes`` keeps the stored value: the Graph
    SDK drops ``flowTypes`` on a GET-modify-PATCH round trip."""
    merged = copy.deepcopy(incoming)
    old_flows: dict[str, Any] = {}
    for rule in existing.get("synchronizationRules") or []:
        for item in rule.get("objectMappings") or []:
            old_flows[str(item.get("sourceObjectName", "")).lower()] = item.get("flowTypes")
    for rule in merged.get("synchronizationRules") or []:
        if not isinstance(rule, dict):
            continue
        for item in rule.get("objectMappings") or []:
            if isinstance(item, dict) and not item.get("flowTypes"):
                item["flowTypes"] = old_flows.get(str(item.get("sourceObjectName", "")).lower(), "Add, Update, Delete")
    merged.setdefault("id", existing.get("id"))
    merged.setdefault("directories", existing.get("directories", []))
    return merged
