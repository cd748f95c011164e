"""``/groups``: CRUD, members and owners (list, ``$ref`` add and remove), app role assignments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from hospes.domain.errors import InvalidInputError
from hospes.domain.principals import Principal
from hospes.domain.schema import GROUP, SERVICE_PRINCIPAL, USER, Resource
from hospes.domain.validation import validate_body
from hospes.graph import permissions as perm
from hospes.graph.deps import BodyDep, QueryOptions, RuntimeDep, requires
from hospes.graph.routers.assignments import assignment_wire, create_assignment
from hospes.graph.wire import collection, entity, paged, to_wire
from hospes.services.apps import AppService
from hospes.services.groups import GroupService, reference_id
from hospes.services.listing import ListQuery

router = APIRouter()
Reader = Annotated[Principal, Depends(requires(perm.GROUPS_READ))]
Writer = Annotated[Principal, Depends(requires(perm.GROUPS_WRITE))]
MemberWriter = Annotated[Principal, Depends(requires(perm.MEMBERS_WRITE))]
_RESOURCES: dict[str, Resource] = {"user": USER, "group": GROUP, "servicePrincipal": SERVICE_PRINCIPAL}
_BINDS = frozenset({"members@odata.bind", "owners@odata.bind"})


def _bind_ids(extras: dict[str, Any], key: str) -> list[str]:
    value = extras.get(key, [])
    if not isinstance(value, list):
        raise InvalidInputError(f"'{key}' must be an array of directory object URLs.")
    return [reference_id(v) for v in value]


def directory_object(kind: str, row: Any) -> dict[str, Any]:
    resource = _RESOURCES[kind]
    return {"@odata.type": resource.odata_type, **to_wire(resource, row)}


@router.get("/groups")
def list_groups(request: Request, state: RuntimeDep, principal: Reader) -> dict[str, Any]:
    options = QueryOptions(request, state, GROUP, principal)
    page = GroupService(state.sessions, principal).page(options.query)
    return paged(
        state,
        "groups",
        options,
        page,
        principal.tenant_id,
        (to_wire(GROUP, g, options.select) for g in page.rows),
    )


@router.post("/groups", status_code=201)
def create_group(body: BodyDep, state: RuntimeDep, principal: Writer) -> dict[str, Any]:
    values, extras = validate_body(GROUP, body, extra=_BINDS)
    group = GroupService(state.sessions, principal).create(
        values, _bind_ids(extras, "members@odata.bind"), _bind_ids(extras, "owners@odata.bind")
    )
    return entity(state, "groups", to_wire(GROUP, group))


@router.get("/groups/{group_id}")
def get_group(group_id: str, request: Request, state: RuntimeDep, principal: Reader) -> dict[str, Any]:
    options = QueryOptions(request, state, GROUP, principal)
    group = GroupService(state.sessions, principal).get(group_id)
    return entity(state, "groups", to_wire(GROUP, group, options.select))


@router.patch("/groups/{group_id}", status_code=204)
def update_group(group_id: str, body: BodyDep, state: RuntimeDep, principal: Writer) -> Response:
    values, extras = validate_body(GROUP, body, extra=frozenset({"members@odata.bind"}))
    GroupService(state.sessions, principal).update(group_id, values, _bind_ids(extras, "members@odata.bind"))
    return Response(status_code=204)


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(group_id: str, state: RuntimeDep, principal: Writer) -> Response:
    GroupService(state.sessions, principal).soft_delete(group_id)
    return Response(status_code=204)


def _list_refs(
    group_id: str, relation: str, request: Request, state: RuntimeDep, principal: Principal, refs_only: bool
) -> dict[str, Any]:
    top_text = request.query_params.get("$top", "100")
    if not top_text.isdigit() or not 1 <= int(top_text) <= 999:
        raise InvalidInputError(f"Invalid page size specified: '{top_text}'. Must be between 1 and 999 inclusive.")
    after = None
    token = request.query_params.get("$skiptoken")
    if token is not None:
        try:
            saved = state.keys.unseal(f"refs:{relation}", token)
            if saved["t"] != principal.tenant_id or saved["g"] != group_id:
                raise ValueError("scope")
            after, top_text = [saved["a"]], str(saved["n"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInputError("Invalid $skiptoken.") from None
    rows, more = GroupService(state.sessions, principal).references(
        group_id, relation, ListQuery(top=int(top_text), after=after)
    )
    segment = f"groups/{group_id}/{relation}s"
    next_link = None
    if more and rows:
        token = state.keys.seal(
            f"refs:{relation}",
            {"t": principal.tenant_id, "g": group_id, "a": rows[-1][1].id, "n": int(top_text)},
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
    def list_refs(group_id: str, request: Request, state: RuntimeDep, principal: Reader) -> dict[str, Any]:
        return _list_refs(group_id, relation, request, state, principal, refs_only=False)

    @router.get(f"/groups/{{group_id}}/{plural}/$ref", name=f"list_{plural}_refs")
    def list_ref_ids(group_id: str, request: Request, state: RuntimeDep, principal: Reader) -> dict[str, Any]:
        return _list_refs(group_id, relation, request, state, principal, refs_only=True)

    @router.post(f"/groups/{{group_id}}/{plural}/$ref", status_code=204, name=f"add_{relation}")
    def add_ref(group_id: str, body: BodyDep, state: RuntimeDep, principal: MemberWriter) -> Response:
        if not isinstance(body, dict) or set(body) - {"@odata.id"}:
            raise InvalidInputError("The request body must be an object with a single '@odata.id' property.")
        GroupService(state.sessions, principal).add_reference(group_id, relation, reference_id(body.get("@odata.id")))
        return Response(status_code=204)

    @router.delete(f"/groups/{{group_id}}/{plural}/{{object_id}}/$ref", status_code=204, name=f"remove_{relation}")
    def remove_ref(group_id: str, object_id: str, state: RuntimeDep, principal: MemberWriter) -> Response:
        GroupService(state.sessions, principal).remove_reference(group_id, relation, object_id)
        return Response(status_code=204)

    @router.delete(f"/groups/{{group_id}}/{plural}/$ref", status_code=204, name=f"remove_{relation}_by_query")
    def remove_ref_query(group_id: str, request: Request, state: RuntimeDep, principal: MemberWriter) -> Response:
        GroupService(state.sessions, principal).remove_reference(
            group_id,
            relation,
            reference_id(request.query_params.get("$id") or request.query_params.get("@id")),
        )
        return Response(status_code=204)


_register_relation("member")
_register_relation("owner")


@router.get("/groups/{group_id}/appRoleAssignments")
def group_assignments(group_id: str, state: RuntimeDep, principal: Reader) -> dict[str, Any]:
    GroupService(state.sessions, principal).get(group_id)
    apps = AppService(state.sessions, principal)
    rows = apps.assignments(principal_id=group_id)
    names = apps.names(rows)
    return collection(state, f"groups('{group_id}')/appRoleAssignments", (assignment_wire(r, names) for r in rows))


@router.post("/groups/{group_id}/appRoleAssignments", status_code=201)
def group_assign(
    group_id: str,
    body: BodyDep,
    state: RuntimeDep,
    principal: Annotated[Principal, Depends(requires(perm.ASSIGNMENTS_WRITE))],
) -> dict[str, Any]:
    GroupService(state.sessions, principal).get(group_id)
    return create_assignment(state, principal, body, group_id, f"groups('{group_id}')/appRoleAssignments")


@router.delete("/groups/{group_id}/appRoleAssignments/{assignment_id}", status_code=204)
def group_unassign(
    group_id: str,
    assignment_id: str,
    state: RuntimeDep,
    principal: Annotated[Principal, Depends(requires(perm.ASSIGNMENTS_WRITE))],
) -> Response:
    AppService(state.sessions, principal).unassign(assignment_id, principal_id=group_id)
    return Response(status_code=204)
