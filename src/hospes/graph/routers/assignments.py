"""Wire format of ``appRoleAssignment``, shared by the user, group and service principal routes."""

from __future__ import annotations

from typing import Any

from hospes.domain.errors import InvalidInputError
from hospes.domain.schema import APP_ROLE_ASSIGNMENT
from hospes.graph.wire import collection, entity, to_wire
from hospes.runtime import Runtime
from hospes.services.apps import AppRoleAssignment, AppService


def assignment_wire(row: AppRoleAssignment, names: dict[str, str]) -> dict[str, Any]:
    return to_wire(
        APP_ROLE_ASSIGNMENT,
        row,
        computed={
            "principalDisplayName": names.get(row.principal_id),
            "resourceDisplayName": names.get(row.resource_id),
            "deletedDateTime": None,
        },
    )


def assignments_collection(
    state: Runtime, apps: AppService, context: str, *, principal_id: str | None = None, resource_id: str | None = None
) -> dict[str, Any]:
    """The assignments held by ``principal_id``, or granted on the service principal ``resource_id``."""
    rows = apps.assignments(principal_id=principal_id, resource_id=resource_id)
    names = apps.names(rows)
    return collection(state, context, (assignment_wire(r, names) for r in rows))


def create_assignment(
    state: Runtime,
    apps: AppService,
    body: Any,
    principal_id: str | None,
    context: str,
    resource_id: str | None = None,
) -> dict[str, Any]:
    """POST of an appRoleAssignment from any of its three URLs; the URL fixes the principal or the resource."""
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    if resource_id and body.get("resourceId") != resource_id:
        raise InvalidInputError("resourceId must match the service principal in the request URL.", target="resourceId")
    row = apps.assign(
        body.get("principalId"),
        body.get("resourceId"),
        body.get("appRoleId"),
        expected_principal=principal_id,
    )
    return entity(state, context, assignment_wire(row, apps.names([row])))
