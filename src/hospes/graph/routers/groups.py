"""``/groups``: CRUD, members and owners (list, ``$ref`` add and remove), app role assignments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from hospes.digits import ascii_int
from hospes.domain.errors import InvalidInputError
from hospes.domain.schema import GROUP, SERVICE_PRINCIPAL, USER, Resource
from hospes.domain.validation import validate_body
from hospes.graph.deps import (
    AssignmentsWriter,
    BodyDep,
    DynamicGroupsReader,
    GroupAssignmentsReader,
    GroupsReader,
    GroupsWriter,
    MembersWriter,
    QueryOptions,
    RuntimeDep,
)
from hospes.graph.routers.assignments import assignments_collection, create_assignment
from hospes.graph.routers.dynamic_groups import statuses
from hospes.graph.wire import collection, entity, paged, to_wire
from hospes.services.groups import GroupService, reference_id
from hospes.services.listing import ListQuery

router = APIRouter()
_RESOURCES: dict[str, Resource] = {"user": USER, "group": GROUP, "servicePrincipal": SERVICE_PRINCIPAL}
_BINDS = frozenset({"members@odata.bind", "owners@odata.bind"})
_STATUS = "membershipRuleProcessingStatus"


def _bind_ids(extras: dict[str, Any], key: str) -> list[str]:
    value = extras.get(key, [])
    if not isinstance(value, list):
        raise InvalidInputError(f"'{key}' must be an array of directory object URLs.")
    return [reference_id(v) for v in value]


def directory_object(kind: str, row: Any) -> dict[str, Any]:
    resource = _RESOURCES[kind]
    return {"@odata.type": resource.odata_type, **to_wire(resource, row)}


def _wire(groups: list[Any], select: list[str] | None, dynamic: DynamicGroupsReader) -> list[dict[str, Any]]:
    """Groups as Graph JSON; the processing status (computed) only when ``$select`` asks for it."""
    if not select or not any(n.casefold() == _STATUS.casefold() for n in select):
        return [to_wire(GROUP, g, select) for g in groups]
    found = statuses(dynamic, [g.id for g in groups])
    return [to_wire(GROUP, g, select, {_STATUS: found[g.id]}) for g in groups]


@router.get("/groups")
def list_groups(
    request: Request, state: RuntimeDep, groups: GroupsReader, dynamic: DynamicGroupsReader
) -> dict[str, Any]:
    options = QueryOptions(request, state, GROUP, groups.actor)
    page = groups.page(options.query)
    return paged(state, "groups", options, page, groups.tenant_id, _wire(list(page.rows), options.select, dynamic))


@router.post("/groups", status_code=201)
def create_group(body: BodyDep, state: RuntimeDep, groups: GroupsWriter) -> dict[str, Any]:
    values, extras = validate_body(GROUP, body, extra=_BINDS)
    group = groups.create(values, _bind_ids(extras, "members@odata.bind"), _bind_ids(extras, "owners@odata.bind"))
    return entity(state, "groups", to_wire(GROUP, group))


@router.get("/groups/{group_id}")
def get_group(
    group_id: str, request: Request, state: RuntimeDep, groups: GroupsReader, dynamic: DynamicGroupsReader
) -> dict[str, Any]:
    options = QueryOptions(request, state, GROUP, groups.actor)
    return entity(state, "groups", _wire([groups.get(group_id)], options.select, dynamic)[0])


@router.patch("/groups/{group_id}", status_code=204)
def update_group(group_id: str, body: BodyDep, groups: GroupsWriter) -> Response:
    values, extras = validate_body(GROUP, body, extra=frozenset({"members@odata.bind"}))
    groups.update(group_id, values, _bind_ids(extras, "members@odata.bind"))
    return Response(status_code=204)


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(group_id: str, groups: GroupsWriter) -> Response:
    groups.soft_delete(group_id)
    return Response(status_code=204)


def _list_refs(
    group_id: str, relation: str, request: Request, state: RuntimeDep, groups: GroupService, refs_only: bool
) -> dict[str, Any]:
    top_text = request.query_params.get("$top", "100")
    if not 1 <= (ascii_int(top_text) or 0) <= 999:
        raise InvalidInputError(f"Invalid page size specified: '{top_text}'. Must be between 1 and 999 inclusive.")
    after = None
    token = request.query_params.get("$skiptoken")
    if token is not None:
        try:
            saved = state.keys.unseal(f"refs:{relation}", token)
            if saved["t"] != groups.tenant_id or saved["g"] != group_id:
                raise ValueError("scope")
            after, top_text = [saved["a"]], str(saved["n"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInputError("Invalid $skiptoken.") from None
    rows, more = groups.references(group_id, relation, ListQuery(top=int(top_text), after=after))
    segment = f"groups/{group_id}/{relation}s"
    next_link = None
    if more and rows:
        token = state.keys.seal(
            f"refs:{relation}",
            {"t": groups.tenant_id, "g": group_id, "a": rows[-1][1].id, "n": int(top_text)},
        )
        next_link = f"{state.settings.public_url}/v1.0/{segment}{'/$ref' if refs_only else ''}?$skiptoken={token}"
    if refs_only:
        items = [{"@odata.id": f"{state.settings.public_url}/v1.0/directoryObjects/{row.id}"} for _, row in rows]
    else:
        items = [directory_object(kind, row) for kind, row in rows]
    return collection(state, "directoryObjects", items, next_link)


def _register_relation(relation: str) -> None:
    plural = f"{relation}s"

    @router.get(f"/groups/{{group_id}}/{plural}", name=f"list_{plural}")
    def list_refs(group_id: str, request: Request, state: RuntimeDep, groups: GroupsReader) -> dict[str, Any]:
        return _list_refs(group_id, relation, request, state, groups, refs_only=False)

    @router.get(f"/groups/{{group_id}}/{plural}/$ref", name=f"list_{plural}_refs")
    def list_ref_ids(group_id: str, request: Request, state: RuntimeDep, groups: GroupsReader) -> dict[str, Any]:
        return _list_refs(group_id, relation, request, state, groups, refs_only=True)

    @router.post(f"/groups/{{group_id}}/{plural}/$ref", status_code=204, name=f"add_{relation}")
    def add_ref(group_id: str, body: BodyDep, groups: MembersWriter) -> Response:
        if not isinstance(body, dict) or set(body) - {"@odata.id"}:
            raise InvalidInputError("The request body must be an object with a single '@odata.id' property.")
        groups.add_reference(group_id, relation, reference_id(body.get("@odata.id")))
        return Response(status_code=204)

    @router.delete(f"/groups/{{group_id}}/{plural}/{{object_id}}/$ref", status_code=204, name=f"remove_{relation}")
    def remove_ref(group_id: str, object_id: str, groups: MembersWriter) -> Response:
        groups.remove_reference(group_id, relation, object_id)
        return Response(status_code=204)

    @router.delete(f"/groups/{{group_id}}/{plural}/$ref", status_code=204, name=f"remove_{relation}_by_query")
    def remove_ref_query(group_id: str, request: Request, groups: MembersWriter) -> Response:
        groups.remove_reference(
            group_id,
            relation,
            reference_id(request.query_params.get("$id") or request.query_params.get("@id")),
        )
        return Response(status_code=204)


_register_relation("member")
_register_relation("owner")


@router.get("/groups/{group_id}/appRoleAssignments")
def group_assignments(group_id: str, state: RuntimeDep, apps: GroupAssignmentsReader) -> dict[str, Any]:
    apps.assignee("group", group_id)
    return assignments_collection(state, apps, f"groups('{group_id}')/appRoleAssignments", principal_id=group_id)


@router.post("/groups/{group_id}/appRoleAssignments", status_code=201)
def group_assign(group_id: str, body: BodyDep, state: RuntimeDep, apps: AssignmentsWriter) -> dict[str, Any]:
    apps.assignee("group", group_id)
    return create_assignment(state, apps, body, group_id, f"groups('{group_id}')/appRoleAssignments")


@router.delete("/groups/{group_id}/appRoleAssignments/{assignment_id}", status_code=204)
def group_unassign(group_id: str, assignment_id: str, apps: AssignmentsWriter) -> Response:
    apps.unassign(assignment_id, principal_id=group_id)
    return Response(status_code=204)
