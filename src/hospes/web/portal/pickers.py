"""Pickers: the people and groups a form's box offers as the administrator types (``GET /admin/pick``, JSON read
by ``static/portal/portal.js``, which changes nothing), and the server side that turns what was typed into one
directory object, so a form works without the script too: a sign-in name, an email, a group's whole name or a
part of a name that only one of them has.

Administrators of users search every user and group; a group owner finds guest users only (the only people they
may add to their groups). A guest's lookups follow the tenant's guest access (``guestUserRoleId``, as Graph's
delegated reads do): the members' view, a whole sign-in name or email only, or nobody."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from hospes.services.user_views import Choice
from hospes.web.portal.access import AdminPage
from hospes.web.portal.deps import PickerDep

router = APIRouter(include_in_schema=False)
KINDS = {"users": (True, False), "groups": (False, True), "principals": (True, True)}


def _search(admin: AdminPage, text: str, kind: str, limit: int = 10) -> list[Choice]:
    """Matches for ``text`` as far as the tenant's guest access lets this user see: a guest with limited access
    finds a person only by a whole sign-in name, email or id; a restricted guest finds nobody."""
    lookup = admin.access.people_lookup
    if lookup == "none":
        return []
    users, groups = KINDS.get(kind, KINDS["users"])
    guests_only = not admin.access.manages_users
    found = admin.queries.search_people(
        text, users=users, groups=groups and not guests_only, guests_only=guests_only, limit=limit
    )
    return [c for c in found if c.exact] if lookup == "exact" else found


@router.get("/{tenant}/admin/pick")
def pick(request: Request, admin: PickerDep) -> Response:
    text = request.query_params.get("q", "")[:256]
    kind = request.query_params.get("kind", "users")
    found = _search(admin, text, kind) if len(text.strip()) >= 1 else []
    body: list[dict[str, Any]] = [
        {
            "kind": c.kind,
            "id": c.id,
            "name": c.name,
            "detail": c.detail,
            "value": c.detail if c.kind == "user" else c.name,
        }
        for c in found
    ]
    return JSONResponse({"results": body}, headers={"Cache-Control": "no-store"})


def resolve(admin: AdminPage, typed: str, kind: str) -> tuple[Choice | None, str | None]:
    """The one user or group ``typed`` names (exactly, or as the only match of a part of a name), or the message
    to show under the box."""
    _ = admin._
    text = typed.strip()
    if not text:
        return None, _("Type a name, a sign-in name or an email, then choose from the list.")
    lookup = admin.access.people_lookup
    if lookup == "none":
        return None, _("Guests of this organization can't look up other users. Ask an administrator.")
    found = _search(admin, text, kind, limit=26)
    if not found and lookup == "exact":
        return None, _("Type the whole sign-in name or email: guests of this organization can't search the directory.")
    exact = [c for c in found if c.exact]
    if len(exact) == 1:
        return exact[0], None
    if len(found) == 1:
        return found[0], None
    if not found:
        if kind == "users":
            return None, _("No user matches “%(text)s”.") % {"text": text}
        return None, _("No user or group matches “%(text)s”.") % {"text": text}
    return None, _("Several match “%(text)s”: type more of the name, or the sign-in name.") % {"text": text}


def pick_user_or_group(admin: AdminPage, typed: str) -> tuple[str | None, str | None]:
    choice, error = resolve(admin, typed, "principals")
    return (choice.id if choice else None), error
