"""``/users``: list, count, get by id or userPrincipalName, create, update, delete, memberOf, app roles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from hospes.domain.errors import InvalidInputError
from hospes.domain.principals import Principal
from hospes.domain.schema import GROUP, USER
from hospes.domain.validation import validate_body
from hospes.graph import permissions as perm
from hospes.graph.deps import BodyDep, QueryOptions, RuntimeDep, requires
from hospes.graph.routers.assignments import assignment_wire, create_assignment
from hospes.graph.wire import collection, entity, paged, to_wire
from hospes.services.apps import AppService
from hospes.services.groups import GroupService
from hospes.services.users import UserService

router = APIRouter()
Reader = Annotated[Principal, Depends(requires(perm.USERS_READ))]
Writer = Annotated[Principal, Depends(requires(perm.USERS_WRITE))]


def _password(extras: dict[str, Any]) -> tuple[str | None, bool]:
    profile = extras.get("passwordProfile")
    if profile is None:
        return None, False
    if not isinstance(profile, dict) or not isinstance(profile.get("password"), str):
        raise InvalidInputError("Invalid value specified for property 'passwordProfile'.", target="passwordProfile")
    return profile["password"], bool(profile.get("forceChangePasswordNextSignIn", False))


@router.get("/users")
def list_users(request: Request, state: RuntimeDep, principal: Reader) -> dict[str, Any]:
    options = QueryOptions(request, state, USER, principal)
    page = UserService(state.sessions, principal).page(options.query)
    return paged(
        state,
        "users",
        options,
        page,
        principal.tenant_id,
        (to_wire(USER, u, options.select) for u in page.rows),
    )


@router.get("/users/$count")
def count_users(request: Request, state: RuntimeDep, principal: Reader) -> PlainTextResponse:
    if request.headers.get("consistencylevel", "").lower() != "eventual":
        raise InvalidInputError("$count is not currently supported.")
    options = QueryOptions(request, state, USER, principal)
    options.query.count, options.query.top = True, 1
    page = UserService(state.sessions, principal).page(options.query)
    return PlainTextResponse(str(page.count or 0))


@router.post("/users", status_code=201)
def create_user(body: BodyDep, state: RuntimeDep, principal: Writer) -> dict[str, Any]:
    values, extras = validate_body(USER, body, extra=frozenset({"passwordProfile"}))
    password, force = _password(extras)
    user = UserService(state.sessions, principal).create(values, password, force)
    return entity(state, "users", to_wire(USER, user))


@router.get("/users/{key}")
def get_user(key: str, request: Request, state: RuntimeDep, principal: Reader) -> dict[str, Any]:
    options = QueryOptions(request, state, USER, principal)
    user = UserService(state.sessions, principal).get(key)
    return entity(state, "users", to_wire(USER, user, options.select))


@router.patch("/users/{key}", status_code=204)
def update_user(key: str, body: BodyDep, state: RuntimeDep, principal: Writer) -> Response:
    values, extras = validate_body(USER, body, extra=frozenset({"passwordProfile"}))
    password, _ = _password(extras)
    UserService(state.sessions, principal).update(key, values, password)
    return Response(status_code=204)


@router.delete("/users/{key}", status_code=204)
def delete_user(key: str, state: RuntimeDep, principal: Writer) -> Response:
    UserService(state.sessions, principal).soft_delete(key)
    return Response(status_code=204)


@router.get("/users/{key}/memberOf")
def member_of(key: str, state: RuntimeDep, principal: Reader) -> dict[str, Any]:
    users = UserService(state.sessions, principal)
    with users.read() as session:
        user = users.find(session, key)
        rows = GroupService(state.sessions, principal).member_of(session, user.id)
    items = [{"@odata.type": GROUP.odata_type, **to_wire(GROUP, g)} for g in rows]
    return collection(state, "directoryObjects", items)


@router.get("/users/{key}/appRoleAssignments")
def user_assignments(key: str, state: RuntimeDep, principal: Reader) -> dict[str, Any]:
    user = UserService(state.sessions, principal).get(key)
    apps = AppService(state.sessions, principal)
    rows = apps.assignments(principal_id=user.id)
    names = apps.names(rows)
    return collection(state, f"users('{user.id}')/appRoleAssignments", (assignment_wire(r, names) for r in rows))


@router.post("/users/{key}/appRoleAssignments", status_code=201)
def user_assign(
    key: str,
    body: BodyDep,
    state: RuntimeDep,
    principal: Annotated[Principal, Depends(requires(perm.ASSIGNMENTS_WRITE))],
) -> dict[str, Any]:
    user = UserService(state.sessions, principal).get(key)
    return create_assignment(state, principal, body, user.id, f"users('{user.id}')/appRoleAssignments")


@router.delete("/users/{key}/appRoleAssignments/{assignment_id}", status_code=204)
def user_unassign(
    key: str,
    assignment_id: str,
    state: RuntimeDep,
    principal: Annotated[Principal, Depends(requires(perm.ASSIGNMENTS_WRITE))],
) -> Response:
    user = UserService(state.sessions, principal).get(key)
    AppService(state.sessions, principal).unassign(assignment_id, principal_id=user.id)
    return Response(status_code=204)
