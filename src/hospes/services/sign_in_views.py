"""The sign-in log as Graph's ``/auditLogs/signIns`` reads it: pages in keyset order (newest first), OData
filters on the user, the app, the date, the status and its error code; one row by id. Per tenant."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from hospes.domain.errors import NotFoundError
from hospes.domain.schema import SIGN_IN_QUERY
from hospes.odata.ast import And, Compare, Func, In, Node, Not, Or, Path, walk
from hospes.services.base import Services
from hospes.services.listing import ListQuery, Page, list_page
from hospes.services.user_views import Listing, like_pattern, paged
from hospes.storage.tables_sso import SignIn

PAGE_SIZE = 50
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
            return list_page(session, SIGN_IN_QUERY, SignIn, scope, query, allow_advanced=True, tie_follows=True)

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
            # A success's note: "MFA requirement satisfied by claim in the token" (trusted home MFA), as Entra's.
            "additionalDetails": details.get("additionalDetails")
            if row.error_code == 0
            else f"{row.protocol} sign-in refused",
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


@dataclass(frozen=True)
class SignInFilters:
    """The portal's filters: ``user`` and ``app`` match a name or an id (contains), ``status`` success | failure,
    ``access`` a conditional-access status, the dates inclusive (UTC days)."""

    user: str = ""
    app: str = ""
    status: str = ""
    access: str = ""
    date_from: date | None = None
    date_to: date | None = None


class SignInQueries(Services):
    """The portal's Sign-in logs screen: numbered pages, newest first, interactive sign-ins."""

    def page(self, f: SignInFilters, page: int = 1) -> Listing:
        conditions: list[ColumnElement[bool]] = [SignIn.tenant_id == self.tenant_id, SignIn.is_interactive.is_(True)]
        if f.user:
            pattern = like_pattern(f.user)
            conditions.append(
                or_(
                    func.lower(SignIn.user_principal_name).like(pattern, escape="\\"),
                    func.lower(SignIn.user_display_name).like(pattern, escape="\\"),
                    SignIn.user_id == f.user.lower(),
                )
            )
        if f.app:
            pattern = like_pattern(f.app)
            conditions.append(
                or_(func.lower(SignIn.app_display_name).like(pattern, escape="\\"), SignIn.app_id == f.app.lower())
            )
        if f.status == "success":
            conditions.append(SignIn.error_code == 0)
        elif f.status == "failure":
            conditions.append(SignIn.error_code != 0)
        if f.access:
            conditions.append(SignIn.conditional_access_status == f.access)
        if f.date_from:
            conditions.append(SignIn.created_at >= datetime.combine(f.date_from, time(), UTC))
        if f.date_to:
            conditions.append(SignIn.created_at < datetime.combine(f.date_to + timedelta(days=1), time(), UTC))
        with self.read() as session:
            stmt = select(SignIn).where(*conditions).order_by(SignIn.created_at.desc(), SignIn.id)
            count = select(func.count()).select_from(SignIn).where(*conditions)
            return paged(session, stmt, count, page, PAGE_SIZE)

    def entry(self, sign_in_id: str) -> SignIn:
        return SignInLogService(self.sessions, self.actor).get(sign_in_id)
