"""The mapping editor's commands on a job's schema: one attribute mapping, the scoping filter (in its text form),
the object mapping's switch and target actions; and the editor's view of an object mapping.

Each command edits the stored schema, validates the whole of it as ``replace_schema`` does, and saves it (a full
cycle follows). A refused edit raises ``MappingInputError`` whose ``target`` names the property at fault
(``targetAttributeName``, ``expression``, ``matchingPriority``, ``scope``...), so an editor shows it next to the
field it concerns.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.domain.principals import Principal
from hospes.provisioning import mapping
from hospes.provisioning.facade import FacadeBase
from hospes.provisioning.schema import FLOW_ADD_ONLY, FLOW_ALWAYS, SchemaError, SchemaField, compile_schema
from hospes.storage.tables_provisioning import ProvisioningJob

SOURCE_TYPES = ("Attribute", "Constant", "Function", "None")
FLOW_CHOICES = (FLOW_ALWAYS, FLOW_ADD_ONLY)  # "Always" and "Only during object creation"
TARGET_ACTIONS = ("Add", "Update", "Delete")
_AUDIT = ("ProvisioningManagement", "Update attribute mappings or scope")


class MappingInputError(InvalidInputError):
    """An edit the editor must show next to a field: ``target`` is the property, ``position`` the 0-based offset
    in the expression (or scoping filter text) where the error was found, when known."""

    def __init__(self, message: str, target: str, position: int | None = None) -> None:
        super().__init__(message, target=target)
        self.position = position


@dataclass(frozen=True)
class MappingInput:
    """One attribute mapping as the editor writes it. ``source`` is an attribute name (``Attribute``), a value
    (``Constant``) or an expression (``Function``); empty for ``None``. ``original``: the target attribute of
    the mapping being replaced (empty: a new mapping)."""

    target: str
    source_type: str
    source: str
    matching_priority: int = 0
    flow_type: str = FLOW_ALWAYS
    default: str | None = None
    original: str = ""


@dataclass(frozen=True)
class AttributeRow:
    target: str
    source_type: str
    source: str
    matching_priority: int
    flow_type: str
    default: str | None


@dataclass(frozen=True)
class MappingView:
    kind: str
    name: str
    enabled: bool
    flow_types: str  # "Add, Update, Delete"
    rows: list[AttributeRow]
    scope_text: str

    def row(self, target: str) -> AttributeRow | None:
        return next((r for r in self.rows if r.target == target), None)


def _object_mapping(schema: dict[str, Any], kind: str) -> dict[str, Any]:
    for rule in schema.get("synchronizationRules") or []:
        for item in rule.get("objectMappings") or []:
            if isinstance(item, dict) and str(item.get("sourceObjectName", "")).lower() == kind:
                return item
    raise NotFoundError(kind)


def _source_text(source: dict[str, Any] | None) -> tuple[str, str]:
    if not source:
        return "None", ""
    kind = str(source.get("type") or "Attribute")
    if kind == "Attribute":
        return kind, str(source.get("name") or "")
    if kind == "Constant":
        return kind, "" if source.get("name") is None else str(source.get("name"))
    return kind, str(source.get("expression") or "")


def _source_json(kind: str, text: str) -> dict[str, Any] | None:
    if kind == "None":
        return None
    if kind == "Attribute":
        return {"type": "Attribute", "name": text, "expression": f"[{text}]", "parameters": []}
    if kind == "Constant":
        return {"type": "Constant", "name": text, "expression": json.dumps(text), "parameters": []}
    return {"type": "Function", "name": text.split("(", 1)[0].strip(), "expression": text, "parameters": []}


def _row(item: dict[str, Any]) -> AttributeRow:
    source_type, text = _source_text(item.get("source"))
    return AttributeRow(
        target=str(item.get("targetAttributeName") or ""),
        source_type=source_type,
        source=text,
        matching_priority=int(item.get("matchingPriority") or 0),
        flow_type=str(item.get("flowType") or FLOW_ALWAYS),
        default=None if item.get("defaultValue") is None else str(item.get("defaultValue")),
    )


def _check(item: MappingInput) -> None:
    """What can be refused before looking at the rest of the schema."""
    if not item.target.strip():
        raise MappingInputError("The target attribute is required.", SchemaField.TARGET)
    if item.source_type not in SOURCE_TYPES:
        raise MappingInputError(f"Unknown mapping type '{item.source_type}'.", "sourceType")
    if item.flow_type not in FLOW_CHOICES:
        raise MappingInputError(f"Unknown flow type '{item.flow_type}'.", SchemaField.FLOW_TYPE)
    if item.matching_priority < 0:
        raise MappingInputError("The matching precedence is 0 or a positive number.", SchemaField.MATCHING)
    if item.source_type != "None" and not item.source.strip():
        raise MappingInputError("The source attribute, constant or expression is required.", SchemaField.EXPRESSION)
    if item.source_type == "Function":
        try:
            mapping.compile_text(item.source)
        except mapping.MappingError as exc:
            raise MappingInputError(exc.message, SchemaField.EXPRESSION, exc.position) from None


class SchemaEdits(FacadeBase):
    def mapping_view(self, tenant_id: str, sp_id: str, job_id: str, kind: str) -> MappingView:
        """The object mapping of ``kind`` (``user`` or ``group``) as the editor shows it."""
        with self.sessions() as session:
            found = _object_mapping(self._job(session, tenant_id, sp_id, job_id).schema, kind)
            return MappingView(
                kind=kind,
                name=str(found.get("name") or kind),
                enabled=bool(found.get("enabled", True)),
                flow_types=str(found.get("flowTypes") or ""),
                rows=[_row(a) for a in found.get("attributeMappings") or [] if isinstance(a, dict)],
                scope_text=mapping.scope_text(found.get("scope")),
            )

    def set_attribute_mapping(
        self, tenant_id: str, sp_id: str, job_id: str, kind: str, item: MappingInput, *, actor: Principal | None = None
    ) -> None:
        """Add an attribute mapping, or replace the one whose target attribute is ``item.original``."""
        _check(item)
        entry = {
            "targetAttributeName": item.target.strip(),
            "source": _source_json(item.source_type, item.source.strip()),
            "defaultValue": item.default or None,
            "matchingPriority": item.matching_priority,
            "flowType": item.flow_type,
            "flowBehavior": "FlowWhenChanged",
            "exportMissingReferences": False,
        }

        def edit(found: dict[str, Any]) -> None:
            attributes = list(found.get("attributeMappings") or [])
            replaced = False
            for index, existing in enumerate(attributes):
                if item.original and existing.get("targetAttributeName") == item.original:
                    attributes[index], replaced = entry, True
            if not replaced:
                attributes.append(entry)
            found["attributeMappings"] = attributes

        self._edit(tenant_id, sp_id, job_id, kind, edit, actor)

    def remove_attribute_mapping(
        self, tenant_id: str, sp_id: str, job_id: str, kind: str, target: str, *, actor: Principal | None = None
    ) -> None:
        def edit(found: dict[str, Any]) -> None:
            attributes = found.get("attributeMappings") or []
            found["attributeMappings"] = [a for a in attributes if a.get("targetAttributeName") != target]

        self._edit(tenant_id, sp_id, job_id, kind, edit, actor)

    def set_scope(
        self, tenant_id: str, sp_id: str, job_id: str, kind: str, text: str, *, actor: Principal | None = None
    ) -> None:
        """The scoping filter from its text form (``mapping.scope_text``); empty text: every object in scope."""
        try:
            scope = mapping.parse_scope_text(text)
        except mapping.MappingError as exc:
            raise MappingInputError(exc.message, SchemaField.SCOPE, exc.position) from None

        def edit(found: dict[str, Any]) -> None:
            found["scope"] = scope

        self._edit(tenant_id, sp_id, job_id, kind, edit, actor, errors_on=SchemaField.SCOPE)

    def set_flows(
        self,
        tenant_id: str,
        sp_id: str,
        job_id: str,
        kind: str,
        *,
        enabled: bool,
        actions: Iterable[str],
        actor: Principal | None = None,
    ) -> None:
        """Switch the object mapping on or off and choose its target actions (``Add``, ``Update``, ``Delete``)."""
        wanted = set(actions)
        unknown = wanted - set(TARGET_ACTIONS)
        if unknown:
            raise MappingInputError(f"Unknown target action: {', '.join(sorted(unknown))}.", SchemaField.FLOW_TYPES)

        def edit(found: dict[str, Any]) -> None:
            found["enabled"] = enabled
            found["flowTypes"] = ", ".join(a for a in TARGET_ACTIONS if a in wanted)

        self._edit(tenant_id, sp_id, job_id, kind, edit, actor)

    def _edit(
        self,
        tenant_id: str,
        sp_id: str,
        job_id: str,
        kind: str,
        edit: Callable[[dict[str, Any]], None],
        actor: Principal | None,
        errors_on: SchemaField | None = None,
    ) -> None:
        """Apply ``edit`` to the object mapping of ``kind``, then validate and save the schema in one write.
        ``errors_on``: the property every schema error is reported on (the scoping filter's editor is one
        field)."""
        with self._services(tenant_id, actor).write(*_AUDIT) as op:
            job: ProvisioningJob = self._job(op.session, tenant_id, sp_id, job_id, lock=True)
            schema = copy.deepcopy(dict(job.schema))
            edit(_object_mapping(schema, kind))
            schema["id"] = job.id
            try:
                compile_schema(schema)
            except SchemaError as exc:
                raise MappingInputError(exc.message, errors_on or exc.field or "schema") from None
            self._store_schema(job, schema, op.now)
            op.target("ServicePrincipal", sp_id)
            op.details.update(jobId=job_id)
