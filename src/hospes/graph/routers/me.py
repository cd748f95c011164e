"""``/me``: the signed-in user of a delegated token, through the same code as ``/users/{id}`` with the caller's id.

An app-only token has no signed-in user: 400 ``BadRequest`` (``deps.MeReader``). What the caller may read of their
own object is the same right as for ``/users/{id}``, its target the caller.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from hospes.graph.deps import GroupsReach, MeReader, MyAssignmentsReader, RuntimeDep
from hospes.graph.routers.users import get_user, groups_of, user_assignments

router = APIRouter()


@router.get("/me")
def get_me(request: Request, state: RuntimeDep, users: MeReader) -> dict[str, Any]:
    return get_user(users.actor.id, request, state, users)


@router.get("/me/memberOf")
def my_member_of(state: RuntimeDep, users: MeReader, visible: GroupsReach) -> dict[str, Any]:
    return groups_of(users.actor.id, "memberOf", state, users, visible)


@router.get("/me/transitiveMemberOf")
def my_transitive_member_of(state: RuntimeDep, users: MeReader, visible: GroupsReach) -> dict[str, Any]:
    return groups_of(users.actor.id, "transitiveMemberOf", state, users, visible)


@router.get("/me/ownedObjects")
def my_owned_objects(state: RuntimeDep, users: MeReader, visible: GroupsReach) -> dict[str, Any]:
    return groups_of(users.actor.id, "ownedObjects", state, users, visible)


@router.get("/me/appRoleAssignments")
def my_assignments(state: RuntimeDep, apps: MyAssignmentsReader) -> dict[str, Any]:
    return user_assignments(apps.actor.id, state, apps)
