"""The Users screen's list: search, filters (the deleted users among them), the columns shown (``cols``, kept in
every link of the list), sorting by column, paging, "Download
users" (CSV, Entra's columns) and the multi-select: delete the chosen users, or, among the deleted ones, restore
them or delete them permanently. A multi-select action first shows who it will act on and what it does; only that
page's button (``confirm=yes``) changes anything, in one transaction for all of them."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from hospes.domain.clock import utcnow
from hospes.domain.errors import DomainError
from hospes.services.user_views import MAX_SELECTION, USER_FILTERS, USER_SORTS
from hospes.web.portal.access import AdminPage, page_number
from hospes.web.portal.deps import UserAdminDep, UsersDep

router = APIRouter(include_in_schema=False)
ACTIONS = {"delete": False, "restore": True, "purge": True}  # action -> acts on deleted users


# Columns an administrator may show beside the name and sign-in name, in their order on the screen.
COLUMNS = ("type", "state", "signin", "created", "mail", "job", "department", "company", "location")
DEFAULT_COLUMNS = ("type", "state", "signin", "created")


def _list_query(request: Request) -> dict[str, str]:
    q = request.query_params
    kind = q.get("filter", "all")
    sort = q.get("sort", "name")
    asked = {c for item in q.getlist("cols") for c in item.split(",")}
    cols = [c for c in COLUMNS if c in asked] or list(DEFAULT_COLUMNS)
    return {
        "q": q.get("q", "")[:256],
        "filter": kind if kind in USER_FILTERS else "all",
        "sort": sort if sort in USER_SORTS else "name",
        "dir": "desc" if q.get("dir") == "desc" else "asc",
        "cols": ",".join(cols),
    }


@router.get("/{tenant}/admin/users")
def user_list(request: Request, admin: UsersDep) -> Response:
    query = _list_query(request)
    listing = admin.queries.users(
        search=query["q"],
        kind=query["filter"],
        page=page_number(request),
        sort=query["sort"],
        descending=query["dir"] == "desc",
    )

    def params(page: int) -> str:
        return urlencode({**query, "page": page})

    def sorted_by(column: str) -> str:
        """The address of the list sorted on ``column``: ascending first, descending when clicked again."""
        flip = "desc" if query["sort"] == column and query["dir"] == "asc" else "asc"
        return urlencode({**query, "sort": column, "dir": flip})

    done = request.query_params.get("done", "")
    count = _count(request)
    return admin.render(
        "portal/users.html",
        listing=listing,
        search=query["q"],
        kind=query["filter"],
        query=query,
        params=params,
        sorted_by=sorted_by,
        notice=_notice(admin, done, count),
        filter_query=urlencode({"q": query["q"], "filter": query["filter"]}),
        columns=query["cols"].split(","),
        all_columns=COLUMNS,
    )


def _count(request: Request) -> int:
    raw = request.query_params.get("count", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 0


def _notice(admin: AdminPage, done: str, count: int) -> str | None:
    _ = admin._
    messages = {
        "deleted": _("Deleted: %(num)d. You can restore them from the deleted users for 30 days."),
        "restored": _("Restored: %(num)d."),
        "purged": _("Deleted permanently: %(num)d."),
    }
    if done not in messages:
        return None
    return messages[done] % {"num": max(count, 1)}


@router.get("/{tenant}/admin/users/download.csv")
def download(request: Request, admin: UsersDep) -> Response:
    query = _list_query(request)
    name = f"exportUsers_{utcnow().strftime('%Y-%m-%d_%H%M%S')}.csv"
    return StreamingResponse(
        admin.user_export.csv_chunks(search=query["q"], kind=query["filter"]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.post("/{tenant}/admin/users/selected")
async def act_on_selected(admin: UserAdminDep) -> Response:
    """Without ``confirm=yes``: the confirmation page (nothing changes). With it: the action, for all or none."""
    form = await admin.form()
    _ = admin._
    action = form.get("action")
    if action not in ACTIONS:
        return admin.redirect("/users")
    ids = list(dict.fromkeys(i[:64] for i in form.all("ids")))[:MAX_SELECTION]
    chosen = admin.queries.selection(ids, deleted=ACTIONS[action])
    back = "/users?" + urlencode({"filter": "deleted"} if ACTIONS[action] else {})
    problem = None
    if not chosen:
        problem = _("Choose at least one user in the list first.")
    elif any(u.id == admin.principal.id for u, _ga in chosen):
        problem = _("You can't delete your own account here. Leave it out of the selection.")
    elif not admin.access.is_global_admin and any(ga for _u, ga in chosen):
        problem = _("Only a Global Administrator can act on a Global Administrator. Leave them out of the selection.")
    titles = {
        "delete": (_("Delete these users?"), _("They can no longer sign in. You can restore them for 30 days.")),
        "restore": (_("Restore these users?"), _("They get back their account, groups and access.")),
        "purge": (
            _("Delete these users permanently?"),
            _("They, their group memberships and their access are removed for good. This can't be undone."),
        ),
    }
    title, consequence = titles[action]
    if problem or form.get("confirm") != "yes":
        return admin.render(
            "portal/users_confirm.html",
            400 if problem else 200,
            users=[u for u, _ga in chosen],
            action=action,
            title=title,
            consequence=consequence,
            problem=problem,
            back=back,
        )
    ids = [u.id for u, _ga in chosen]
    try:
        if action == "delete":
            count = admin.users.soft_delete_many(ids)
        elif action == "restore":
            count = admin.deleted_items.restore_users(ids)
        else:
            count = admin.deleted_items.purge_users(ids)
    except DomainError as exc:
        return admin.render(
            "portal/users_confirm.html",
            409,
            users=[u for u, _ga in chosen],
            action=action,
            title=title,
            consequence=consequence,
            problem=admin.plain(exc),
            back=back,
        )
    done = {"delete": "deleted", "restore": "restored", "purge": "purged"}[action]
    return admin.redirect("/users", filter="deleted" if action == "purge" else "all", done=done, count=str(count))
