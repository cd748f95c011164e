"""``/servicePrincipals/{id}/owners``: the users who own an enterprise app (read, add and remove by ``$ref``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from hospes.domain.errors import InvalidInputError
from hospes.domain.schema import USER
from hospes.graph.deps import AppOwnersReader, AppOwnersWriter, BodyDep, RuntimeDep
from hospes.graph.wire import collection, to_wire
from hospes.services.groups import reference_id

router = APIRouter()


@router.get("/servicePrincipals/{key}/owners")
def list_owners(key: str, state: RuntimeDep, owners: AppOwnersReader) -> dict[str, Any]:
    items = [{"@odata.type": USER.odata_type, **to_wire(USER, user)} for user in owners.owners(key)]
    return collection(state, "directoryObjects", items)


@router.post("/servicePrincipals/{key}/owners/$ref", status_code=204)
def add_owner(key: str, body: BodyDep, owners: AppOwnersWriter) -> Response:
    if not isinstance(body, dict):
        raise InvalidInputError("The body must be an object with '@odata.id'.")
    owners.add(key, reference_id(body.get("@odata.id")))
    return Response(status_code=204)


@router.delete("/servicePrincipals/{key}/owners/{owner_id}/$ref", status_code=204)
def remove_owner(key: str, owner_id: str, owners: AppOwnersWriter) -> Response:
    owners.remove(key, owner_id)
    return Response(status_code=204)
