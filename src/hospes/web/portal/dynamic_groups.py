"""A group's membership rule: the editor (live validation with the error's position, from
``GET /admin/rules/validate``, read by ``static/portal/portal.js``), saving it (the group becomes dynamic),
"validate against these users" (who would match, and the result of each expression for them), "process now",
pause and resume. Administrators of users only; everything goes through the group write path and
``services/dynamic_groups.py``, the services Graph and the CLI use."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from hospes.domain.errors import DomainError, NotFoundError
from hospes.membership_rules import MAX_LENGTH, Rule, RuleError, compile_rule
from hospes.services.dynamic_groups import PREVIEW_LIMIT, DynamicGroupService, Evaluation, ProcessingStatus
from hospes.services.group_rules import DYNAMIC, is_dynamic
from hospes.storage.tables import Group
from hospes.web.context import open_page
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, admin_of
from hospes.web.portal.deps import GroupAdminDep

router = APIRouter(include_in_schema=False)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def caret(text: str, position: int) -> str:
    """The rule on one line with a caret under the character at ``position`` (1-based)."""
    return text.replace("\n", " ").replace("\r", " ") + "\n" + " " * (position - 1) + "^"


@router.get("/{tenant}/admin/rules/validate")
def validate_rule(request: Request, tenant: str) -> Response:
    """Live validation for the rule editor (GET, changes nothing): JSON with the message and the position."""
    try:
        admin = admin_of(open_page(request, tenant), "groups", lambda access: access.manages_users)
    except PageExit:
        return JSONResponse({"ok": False, "message": "forbidden"}, status_code=403)
    text = request.query_params.get("expression", "")[: MAX_LENGTH + 1]
    headers = {"Cache-Control": "no-store"}
    if not text.strip():
        return JSONResponse({"ok": False, "message": admin._("Enter a rule.")}, headers=headers)
    try:
        compile_rule(text)
    except RuleError as exc:
        body = {"ok": False, "message": exc.message, "position": exc.position, "caret": caret(text, exc.position)}
        return JSONResponse(body, headers=headers)
    return JSONResponse({"ok": True, "message": admin._("The rule is valid.")}, headers=headers)


def _service(admin: AdminPage) -> DynamicGroupService:
    return DynamicGroupService(admin.sessions, admin.principal)


def _group(admin: AdminPage, group_id: str) -> Group:
    gid = group_id.lower()[:64]
    if not _GUID.match(gid):
        raise PageExit(admin.not_found())
    try:
        return admin.groups.get(gid)
    except NotFoundError:
        raise PageExit(admin.not_found()) from None


def _status_label(admin: AdminPage, group: Group, status: ProcessingStatus | None) -> str:
    _ = admin._
    if not is_dynamic(group):
        return _("Not a dynamic group")
    if group.membership_rule_processing_state == "Paused":
        return _("Update paused")
    if status is None or status.status == "NotStarted":
        return _("Not started")
    if status.status == "Running" or status.pending:
        return _("Processing")
    if status.status == "Failed":
        return _("Processing error")
    return _("Update complete")


def _page(
    admin: AdminPage,
    group: Group,
    status_code: int = 200,
    *,
    rule: str | None = None,
    error: RuleError | None = None,
    form_error: str | None = None,
    checked: Rule | None = None,
    users_text: str = "",
    results: list[Evaluation] | None = None,
    notice: str | None = None,
) -> Response:
    status = _service(admin).statuses([group.id]).get(group.id)
    text = rule if rule is not None else (group.membership_rule or "")
    done = admin.page.request.query_params.get("done", "")
    notices = {
        "saved": admin._("The rule was saved. Membership follows it within seconds."),
        "processing": admin._("Processing was requested."),
        "paused": admin._("Processing is paused: the membership stays as it is."),
        "resumed": admin._("Processing is on again."),
    }
    return admin.render(
        "portal/group_rule.html",
        status_code,
        g=group,
        dynamic=is_dynamic(group),
        rule=text,
        error=error,
        caret=caret(text, error.position) if error else None,
        form_error=form_error,
        checked=checked,
        processing=status,
        status_label=_status_label(admin, group, status),
        users_text=users_text,
        results=results,
        notice=notice or notices.get(done),
        max_length=MAX_LENGTH,
        preview_limit=PREVIEW_LIMIT,
    )


@router.get("/{tenant}/admin/groups/{group_id}/rule")
def rule_page(admin: GroupAdminDep, group_id: str) -> Response:
    return _page(admin, _group(admin, group_id))


@router.post("/{tenant}/admin/groups/{group_id}/rule")
async def rule_submit(admin: GroupAdminDep, group_id: str) -> Response:
    """``action``: check (validate the text), preview (validate against the listed users) or save."""
    group = _group(admin, group_id)
    form = await admin.form()
    _ = admin._
    text = form.get("rule")[: MAX_LENGTH + 1]
    action = form.get("action") or "check"
    users_text = form.get("users")[:4000]
    try:
        checked = compile_rule(text)
    except RuleError as exc:
        return _page(admin, group, 400, rule=text, error=exc, users_text=users_text)
    if action == "save":
        values: dict[str, Any] = {"membership_rule": text}
        if not is_dynamic(group):
            values["group_types"] = [*(group.group_types or []), DYNAMIC]
        try:
            admin.groups.update(group.id, values, [])
        except DomainError as exc:
            return _page(admin, group, 400, rule=text, form_error=exc.message, users_text=users_text)
        return admin.redirect(f"/groups/{group.id}/rule", done="saved")
    if action == "preview":
        lines = [line.strip() for line in users_text.splitlines() if line.strip()]
        if not lines or len(lines) > PREVIEW_LIMIT:
            message = _("List between 1 and %(num)d users, one per line.") % {"num": PREVIEW_LIMIT}
            return _page(admin, group, 400, rule=text, form_error=message, checked=checked, users_text=users_text)
        ids, missing = _service(admin).resolve_users(lines)
        if missing:
            message = _("No user is called %(name)s.") % {"name": ", ".join(missing)}
            return _page(admin, group, 400, rule=text, form_error=message, checked=checked, users_text=users_text)
        _rule, results = _service(admin).evaluate(text, None, ids)
        return _page(admin, group, rule=text, checked=checked, users_text=users_text, results=results)
    return _page(admin, group, rule=text, checked=checked, users_text=users_text, notice=_("The rule is valid."))


@router.post("/{tenant}/admin/groups/{group_id}/rule/process")
async def process_now(admin: GroupAdminDep, group_id: str) -> Response:
    group = _group(admin, group_id)
    await admin.form()
    try:
        _service(admin).process_now(group.id)
    except DomainError as exc:
        return _page(admin, group, 400, form_error=exc.message)
    return admin.redirect(f"/groups/{group.id}/rule", done="processing")


@router.post("/{tenant}/admin/groups/{group_id}/rule/state")
async def set_state(admin: GroupAdminDep, group_id: str) -> Response:
    group = _group(admin, group_id)
    form = await admin.form()
    state = "Paused" if form.get("state") == "Paused" else "On"
    try:
        admin.groups.update(group.id, {"membership_rule_processing_state": state}, [])
    except DomainError as exc:
        return _page(admin, group, 400, form_error=exc.message)
    return admin.redirect(f"/groups/{group.id}/rule", done="paused" if state == "Paused" else "resumed")
