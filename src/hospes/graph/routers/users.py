"""``/users``: list, count, get by id or userPrincipalName, create, update, delete, memberOf, transitiveMemberOf,
ownedObjects, app roles. ``/me`` (``graph/routers/me.py``) calls the same functions with the caller's id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from hospes.domain.delegation import Reach
from hospes.domain.errors import InvalidInputError
from hospes.domain.schema import GROUP, USER
from hospes.domain.validation import validate_body
from hospes.graph.deps import (
    AssignmentsWriter,
    BodyDep,
    GroupsReach,
    QueryOptions,
    RuntimeDep,
    UserAssignmentsReader,
    UsersReader,
    UsersWriter,
)
from hospes.graph.routers.assignments import assignments_collection, create_assignment
from hospes.graph.wire import collection, entity, paged, to_wire
from hospes.services.users import UserService

router = APIRouter()


def _password(extras: dict[str, Any]) -> tuple[str | None, bool]:
    profile = extras.get("passwordProfile")
    if profile is None:
        return None, False
    if not isinstance(profile, dict) or not isinstance(profile.get("password"), str):
        raise InvalidInputError("Invalid value specified for property 'passwordProfile'.", target="passwordProfile")
    return profile["password"], bool(profile.get("forceChangePasswordNextSignIn", False))


@router.get("/users")
def list_users(request: Request, state: RuntimeDep, users: UsersReader) -> dict[str, Any]:
    options = QueryOptions(request, state, USER, users.actor)
    page = users.page(options.query)
    return paged(state, "users", options, page, users.tenant_id, (to_wire(USER, u, options.select) for u in page.rows))


@router.get("/users/$count")
def count_users(request: Request, state: RuntimeDep, users: UsersReader) -> PlainTextResponse:
    if request.headers.get("consistencylevel", "").lower() != "eventual":
        raise InvalidInputError("$count is not currently supported.")
    options = QueryOptions(request, state, USER, users.actor)
    options.query.count, options.query.top = True, 1
    return PlainTextResponse(str(users.page(options.query).count or 0))


@router.post("/users", status_code=201)
def create_user(body: BodyDep, state: RuntimeDep, users: UsersWriter) -> dict[str, Any]:
    values, extras = validate_body(USER, body, extra=frozenset({"passwordProfile"}))
    password, force = _password(extras)
    return entity(state, "users", to_wire(USER, users.create(values, password, force)))


@router.get("/users/{key}")
def get_user(key: str, request: Request, state: RuntimeDep, users: UsersReader) -> dict[str, Any]:
    options = QueryOptions(request, state, USER, users.actor)
    return entity(state, "users", to_wire(USER, users.get(key), options.select))


@router.patch("/users/{key}", status_code=204)
def update_user(key: str, body: BodyDep, users: UsersWriter) -> Response:
    values, extras = validate_body(USER, body, extra=frozenset({"passwordProfile"}))
    password, _ = _password(extras)
    users.update(key, values, password)
    return Response(status_code=204)


@router.delete("/users/{key}", status_code=204)
def delete_user(key: str, users: UsersWriter) -> Response:
    users.soft_delete(key)
    return Response(status_code=204)


def group_items(groups: list[Any], visible: Reach) -> list[dict[str, Any]]:
    """Groups in a directoryObject collection. A caller who may not read a group still learns it is there: its type
    and id, every other property null, as Graph answers a token without a group permission."""
    blank = dict.fromkeys((p.name for p in GROUP.default_props), None)
    return [
        {"@odata.type": GROUP.odata_type, **(to_wire(GROUP, g) if visible.covers(g.id) else {**blank, "id": g.id})}
        for g in groups
    ]


def groups_of(key: str, relation: str, state: RuntimeDep, users: UserService, visible: Reach) -> dict[str, Any]:
    return collection(state, "directoryObjects", group_items(users.groups_of(key, relation), visible))


@router.post("/users/{key}/revokeSignInSessions")
def revoke_sign_in_sessions(key: str, state: RuntimeDep, users: UsersWriter) -> dict[str, Any]:
    users.revoke_sign_in_sessions(key)
    return {"@odata.context": f"{state.settings.public_url}/v1.0/$metadata#Edm.Boolean", "value": True}


@router.get("/users/{key}/memberOf")
def member_of(key: str, state: RuntimeDep, users: UsersReader, visible: GroupsReach) -> dict[str, Any]:
    return groups_of(key, "memberOf", state, users, visible)


@router.get("/users/{key}/transitiveMemberOf")
def transitive_member_of(key: str, state: RuntimeDep, users: UsersReader, visible: GroupsReach) -> dict[str, Any]:
    return groups_of(key, "transitiveMemberOf", state, users, visible)


@router.get("/users/{key}/ownedObjects")
def owned_objects(key: str, state: RuntimeDep, users: UsersReader, visible: GroupsReach) -> dict[str, Any]:
    return groups_of(key, "ownedObjects", state, users, visible)


@router.get("/users/{key}/appRoleAssignments")
def user_assignments(key: str, state: RuntimeDep, apps: UserAssignmentsReader) -> dict[str, Any]:
    user_id = apps.assignee("user", key)
    return assignments_collection(state, apps, f"users('{user_id}')/appRoleAssignments", principal_id=user_id)


@router.post("/users/{key}/appRoleAssignments", status_code=201)
def user_assign(key: str, body: BodyDep, state: RuntimeDep, apps: AssignmentsWriter) -> dict[str, Any]:
    user_id = apps.assignee("user", key)
    return create_assignment(state, apps, body, user_id, f"users('{user_id}')/appRoleAssignments")


@router.delete("/users/{key}/appRoleAssignments/{assignment_id}", status_code=204)
def user_unassign(key: str, assignment_id: str, apps: AssignmentsWriter) -> Response:
    apps.unassign(assignment_id, principal_id=apps.assignee("user", key))
    return Response(status_code=204)
