"""``/oauth2PermissionGrants``: delegated consent, so an administrator can consent for every user
(``AllPrincipals``, which guests rely on) or for one user (``Principal``), change the scopes, or revoke it."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response

from hospes.domain.errors import UnsupportedQueryError
from hospes.graph.deps import BodyDep, GrantsReader, GrantsWriter, RuntimeDep
from hospes.graph.wire import collection, entity

router = APIRouter()
_PATH = "oauth2PermissionGrants"
_BY_CLIENT = re.compile(r"^\s*clientId\s+eq\s+'([0-9A-Za-z-]{1,64})'\s*$")


@router.get("/oauth2PermissionGrants")
def list_grants(request: Request, state: RuntimeDep, grants: GrantsReader) -> dict[str, Any]:
    query = request.query_params.get("$filter")
    client_id = None
    if query is not None:
        found = _BY_CLIENT.match(query)
        if found is None:
            raise UnsupportedQueryError("Only $filter=clientId eq '{id}' is supported on oauth2PermissionGrants.")
        client_id = found.group(1)
    return collection(state, _PATH, [g.wire() for g in grants.list(client_id)])


@router.post("/oauth2PermissionGrants", status_code=201)
def create_grant(body: BodyDep, state: RuntimeDep, grants: GrantsWriter) -> dict[str, Any]:
    return entity(state, _PATH, grants.create(body).wire())


@router.get("/oauth2PermissionGrants/{grant_id}")
def get_grant(grant_id: str, state: RuntimeDep, grants: GrantsReader) -> dict[str, Any]:
    return entity(state, _PATH, grants.get(grant_id).wire())


@router.patch("/oauth2PermissionGrants/{grant_id}", status_code=204)
def update_grant(grant_id: str, body: BodyDep, grants: GrantsWriter) -> Response:
    grants.update(grant_id, body)
    return Response(status_code=204)


@router.delete("/oauth2PermissionGrants/{grant_id}", status_code=204)
def delete_grant(grant_id: str, grants: GrantsWriter) -> Response:
    grants.delete(grant_id)
    return Response(status_code=204)
