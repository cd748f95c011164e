"""The sign-in log as Graph's ``/auditLogs/signIns`` reads it: pages in keyset order (newest first), OData
filters on the user, the app, the date, the status and its error code; one row by id. Per tenant."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hospes.domain.errors import NotFoundError
from hospes.domain.schema import SIGN_IN_QUERY
from hospes.odata.ast import And, Compare, Func, In, Node, Not, Or, Path, walk
from hospes.services.base import Services
from hospes.services.listing import ListQuery, Page, list_page
from hospes.storage.tables_sso import SignIn

_NESTED: dict[tuple[str, ...], tuple[str, ...]] = {("status", "errorCode"): ("errorCode",)}


def _flat(path: Path) -> Path:
    return Path(_NESTED.get(path.segments, path.segments))


def flatten(node: Node) -> Node:
    """``status/errorCode`` → the flat column property (the filter compiler reads single-segment paths)."""
    if isinstance(node, Compare):
        left = _flat(node.left) if isinstance(node.left, Path) else node.left
        right = _flat(node.right) if isinstance(node.right, Path) else node.right
        return replace(node, left=left, right=right)
    if isinstance(node, In | Func):
        return replace(node, path=_flat(node.path))
    if isinstance(node, And | Or):
        return replace(node, items=tuple(flatten(n) for n in node.items))
    if isinstance(node, Not):
        return replace(node, item=flatten(node.item))
    return node  # a lambda: no nested path of the sign-in log is a collection


def _names(node: Node | None, name: str) -> bool:
    if node is None:
        return False
    for item in walk(node):
        paths = [p for p in (getattr(item, "left", None), getattr(item, "right", None), getattr(item, "path", None))]
        if any(isinstance(p, Path) and p.segments == (name,) for p in paths):
            return True
    return False


class SignInLogService(Services):
    def page(self, query: ListQuery) -> Page:
        if not query.orderby:
            query.orderby = [("createdDateTime", True)]
        scope = [SignIn.tenant_id == self.tenant_id]
        if query.filter is not None:
            query.filter = flatten(query.filter)
        if not _names(query.filter, "isInteractive"):
            # As Graph's v1.0 list: interactive sign-ins, unless the filter asks about isInteractive (token-endpoint
            # and service-principal sign-ins are logged as non-interactive).
            scope.append(SignIn.is_interactive.is_(True))
        with self.read() as session:
            # Graph filters and orders sign-in logs without advanced-query headers.
            return list_page(session, SIGN_IN_QUERY, SignIn, scope, query, allow_advanced=True)

    def get(self, sign_in_id: str) -> SignIn:
        with self.read() as session:
            row = session.get(SignIn, sign_in_id[:64])
            if row is None or row.tenant_id != self.tenant_id:
                raise NotFoundError(sign_in_id)
            session.expunge(row)
            return row


def failure_text(row: SignIn) -> str:
    return "Other." if row.error_code == 0 else row.failure_reason or f"AADSTS{row.error_code}"


def computed(row: SignIn) -> dict[str, Any]:
    """The structured properties of a row, shaped as Graph's signIn."""
    details: dict[str, Any] = row.details or {}
    return {
        "resourceId": None,
        "servicePrincipalId": None,
        "clientAppUsed": "Browser" if row.is_interactive else "Mobile Apps and Desktop clients",
        "status": {
            "errorCode": row.error_code,
            "failureReason": failure_text(row),
            "additionalDetails": None if row.error_code == 0 else f"{row.protocol} sign-in refused",
        },
        "appliedConditionalAccessPolicies": details.get("appliedConditionalAccessPolicies", []),
        "authenticationMethodsUsed": list(details.get("amr", [])),
        "deviceDetail": {
            "browser": None,
            "operatingSystem": None,
            "isCompliant": False,
            "isManaged": False,
            "trustType": None,
        },
        "location": {"city": None, "state": None, "countryOrRegion": None},
    }
