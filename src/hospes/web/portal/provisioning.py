"""The Provisioning screen of an enterprise application (seed 002) and the provisioning logs, on top of the
provisioning facade (``Runtime.provisioning``, ``hospes.provisioning.service``). Global Administrators.

- credentials (tenant URL, secret token) with Test connection, notification email and "send an email on
  failure", scope (assigned only / all), accidental-deletion prevention: one ``put_secrets`` per save;
- status on/off (start, pause), restart, allow deletes after the deletion threshold stopped a cycle, the current
  cycle's progress bar (polled by ``portal.js`` when scripts run, a refresh link otherwise), last cycle statistics,
  the quarantine banner;
- mappings: list, edit (live validation of expressions through ``hospes.expressions``), add, delete, restore
  defaults, matching precedence, scoping filters; every change is one ``replace_schema``;
- provision on demand with its steps; dry run;
- logs with filters (date, status, action, identity) and a detail page with steps and modified properties.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from hospes.domain.errors import DomainError, NotFoundError
from hospes.expressions import FILTER_OPERATORS, ExpressionError, compile_expression
from hospes.provisioning.service import LogQuery, ProvisioningService
from hospes.services.admin_portal import saved_provisioning_secrets
from hospes.services.directory_views import AppDetail
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, Form, open_admin

router = APIRouter(include_in_schema=False)
FLOW_TYPES = ("Always", "ObjectAddOnly")
SOURCE_TYPES = ("Attribute", "Constant", "Function", "None")
ACTIONS = ("create", "update", "delete", "disable", "stagedDelete", "other")
STATUSES = ("success", "failure", "skipped", "warning")
_OPERATORS = sorted((op.name for op in FILTER_OPERATORS), key=len, reverse=True)


def _ga(access: Any) -> bool:
    return bool(access.is_global_admin)


def _service(admin: AdminPage) -> ProvisioningService:
    return admin.runtime.provisioning


def _wake(admin: AdminPage) -> None:
    runner = admin.runtime.workers.provisioning
    if runner is not None:
        runner.wake()


def _open(request: Request, tenant: str, sp_id: str) -> tuple[AdminPage, AppDetail]:
    admin = open_admin(request, tenant, "apps", _ga)
    try:
        return admin, admin.queries.app(sp_id[:64])
    except NotFoundError:
        raise PageExit(admin.not_found()) from None


def _unknown(request: Request, tenant: str) -> Response:
    """An action that does not exist: the readable 404 page (or the sign-in / 403 page first)."""
    admin = open_admin(request, tenant, "apps", _ga)
    return admin.not_found()


def _job(admin: AdminPage, detail: AppDetail) -> dict[str, Any] | None:
    jobs = _service(admin).list_jobs(admin.page.tenant.id, detail.sp.id)
    return jobs[0] if jobs else None


def _settings_values(admin: AdminPage, detail: AppDetail) -> dict[str, Any]:
    """What the credentials form shows: never the token itself, only whether one is saved."""
    saved = saved_provisioning_secrets(admin.sessions, admin.page.web.box, admin.page.tenant.id, detail.sp.id)
    try:
        notice = json.loads(saved.get("SyncNotificationSettings") or "{}")
    except ValueError:
        notice = {}
    notice = notice if isinstance(notice, dict) else {}
    return {
        "tenant_url": saved.get("BaseAddress", ""),
        "token_saved": bool(saved.get("SecretToken")),
        "notification_email": str(notice.get("Recipients") or ""),
        "notify": bool(notice.get("Enabled", False)),
        "prevent_deletes": bool(notice.get("DeleteThresholdEnabled", True)),
        "delete_threshold": str(notice.get("DeleteThresholdValue") or 500),
        "scope": "all" if str(saved.get("SyncAll", "")).lower() == "true" else "assigned",
    }


def _object_mappings(schema: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rule in schema.get("synchronizationRules") or []:
        out.extend(item for item in rule.get("objectMappings") or [] if isinstance(item, dict))
    return out


def _find_mapping(schema: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for item in _object_mappings(schema):
        if str(item.get("sourceObjectName", "")).lower() == kind:
            return item
    return None


def _expression_text(source: dict[str, Any] | None) -> tuple[str, str]:
    if not source:
        return "None", ""
    kind = str(source.get("type") or "Attribute")
    if kind == "Attribute":
        return kind, str(source.get("name") or "")
    if kind == "Constant":
        return kind, "" if source.get("name") is None else str(source.get("name"))
    return kind, str(source.get("expression") or "")


def _source_json(kind: str, text: str) -> dict[str, Any] | None:
    if kind == "None":
        return None
    if kind == "Attribute":
        return {"type": "Attribute", "name": text, "expression": f"[{text}]", "parameters": []}
    if kind == "Constant":
        return {"type": "Constant", "name": text, "expression": json.dumps(text), "parameters": []}
    return {"type": "Function", "name": text.split("(", 1)[0].strip(), "expression": text, "parameters": []}


def _overview(
    admin: AdminPage, detail: AppDetail, status: int = 200, *, errors: dict[str, str] | None = None, **extra: Any
) -> Response:
    job = _job(admin, detail)
    notices = {
        "created": admin._("Provisioning is set up. Enter the target's credentials, then start it."),
        "saved": admin._("Saved."),
        "started": admin._("Provisioning is on. The first cycle starts within seconds."),
        "paused": admin._("Provisioning is paused. Nothing more is sent to the target until you start it."),
        "restarted": admin._("Provisioning restarts: the next cycle is a full cycle."),
        "deletes": admin._("Deletes are allowed for the next cycle."),
        "reset": admin._("The default mappings were restored."),
    }
    values = extra.pop("values", None) or _settings_values(admin, detail)
    return admin.render(
        "portal/provisioning.html",
        status,
        d=detail,
        job=job,
        st=job["status"] if job else None,
        values=values,
        errors=errors or {},
        notice=notices.get(admin.page.request.query_params.get("done", "")),
        **extra,
    )


@router.get("/{tenant}/admin/apps/{sp_id}/provisioning")
def provisioning(request: Request, tenant: str, sp_id: str) -> Response:
    opened = _open(request, tenant, sp_id)
    return _overview(*opened)


@router.get("/{tenant}/admin/apps/{sp_id}/provisioning/progress.json")
def progress(request: Request, tenant: str, sp_id: str) -> Response:
    opened = _open(request, tenant, sp_id)
    admin, detail = opened
    job = _job(admin, detail)
    if job is None:
        return JSONResponse({"running": False}, headers={"Cache-Control": "no-store"})
    found = _service(admin).progress(admin.page.tenant.id, detail.sp.id, job["id"])
    body = {
        "running": found.running,
        "done": found.done,
        "total": found.total,
        "rate": round(found.rate, 1),
        "eta": None if found.eta_seconds is None else round(found.eta_seconds),
        "code": job["status"]["code"],
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def _post(request: Request, tenant: str, sp_id: str) -> tuple[AdminPage, AppDetail, Form]:
    opened = _open(request, tenant, sp_id)
    admin, detail = opened
    form = await admin.form()
    return admin, detail, form


@router.post("/{tenant}/admin/apps/{sp_id}/provisioning/create")
async def create_job(request: Request, tenant: str, sp_id: str) -> Response:
    started = await _post(request, tenant, sp_id)
    admin, detail, _form = started
    if _job(admin, detail) is None:
        try:
            _service(admin).create_job(admin.page.tenant.id, detail.sp.id, actor=admin.principal)
        except DomainError as exc:
            return _overview(admin, detail, 400, errors={"_form": exc.message})
    return admin.redirect(f"/apps/{detail.sp.id}/provisioning", done="created")


@router.post("/{tenant}/admin/apps/{sp_id}/provisioning/credentials")
async def save_credentials(request: Request, tenant: str, sp_id: str) -> Response:
    started = await _post(request, tenant, sp_id)
    admin, detail, form = started
    _ = admin._
    current = _settings_values(admin, detail)
    values: dict[str, Any] = {
        "tenant_url": form.get("tenant_url").strip(),
        "token_saved": current["token_saved"],
        "notification_email": form.get("notification_email").strip(),
        "notify": form.flag("notify"),
        "prevent_deletes": form.flag("prevent_deletes"),
        "delete_threshold": form.get("delete_threshold").strip() or "500",
        "scope": "all" if form.get("scope") == "all" else "assigned",
    }
    token = form.get("secret_token")
    # Echoed back only into this same response's password field (after a test or an error), never from storage,
    # so the admin does not have to type it again before saving.
    values["typed_token"] = token
    errors: dict[str, str] = {}
    if not values["tenant_url"]:
        errors["tenant_url"] = _("Enter the tenant URL of the target (its SCIM base address).")
    elif not values["tenant_url"].startswith(("https://", "http://")) or len(values["tenant_url"]) > 2048:
        errors["tenant_url"] = _("Enter an http or https URL.")
    emails = [e.strip() for e in values["notification_email"].replace(",", ";").split(";") if e.strip()]
    if any("@" not in e or len(e) > 254 or any(c.isspace() for c in e) for e in emails):
        errors["notification_email"] = _("Enter email addresses separated by semicolons.")
    if values["notify"] and not emails:
        errors["notification_email"] = _("Enter the address that gets the failure emails.")
    if not values["delete_threshold"].isdigit() or not 1 <= int(values["delete_threshold"]) <= 100_000:
        errors["delete_threshold"] = _("Enter a number from 1 to 100000.")
    saved = saved_provisioning_secrets(admin.sessions, admin.page.web.box, admin.page.tenant.id, detail.sp.id)
    if not token and not saved.get("SecretToken"):
        errors["secret_token"] = _("Enter the secret token.")
    secrets = {"BaseAddress": values["tenant_url"], "SecretToken": token or saved.get("SecretToken", "")}
    if form.get("action") == "test":
        blocking = {k: v for k, v in errors.items() if k in ("tenant_url", "secret_token")}
        if blocking:
            return _overview(admin, detail, 400, errors=blocking, values=values)
        try:
            _service(admin).validate_credentials(
                admin.page.tenant.id, detail.sp.id, credentials=secrets, use_saved=False
            )
        except DomainError as exc:
            return _overview(admin, detail, 400, errors={"test": exc.message}, values=values)
        return _overview(admin, detail, values=values, tested=True)
    if errors:
        return _overview(admin, detail, 400, errors=errors, values=values)
    notice = {
        "Enabled": values["notify"],
        "Recipients": ";".join(emails),
        "DeleteThresholdEnabled": values["prevent_deletes"],
        "DeleteThresholdValue": int(values["delete_threshold"]),
    }
    pairs = {
        **{k: v for k, v in saved.items() if k not in ("BaseAddress", "SecretToken")},
        **secrets,
        "SyncAll": "true" if values["scope"] == "all" else "false",
        "SyncNotificationSettings": json.dumps(notice),
    }
    try:
        _service(admin).put_secrets(admin.page.tenant.id, detail.sp.id, pairs, actor=admin.principal)
    except DomainError as exc:
        field = {"BaseAddress": "tenant_url"}.get(exc.target or "", "_form")
        return _overview(admin, detail, 400, errors={field: exc.message}, values=values)
    return admin.redirect(f"/apps/{detail.sp.id}/provisioning", done="saved")


@router.post("/{tenant}/admin/apps/{sp_id}/provisioning/{action}")
async def lifecycle(request: Request, tenant: str, sp_id: str, action: str) -> Response:
    if action not in ("start", "pause", "restart", "allow-deletes", "reset-mappings"):
        return _unknown(request, tenant)
    started = await _post(request, tenant, sp_id)
    admin, detail, _form = started
    job = _job(admin, detail)
    if job is None:
        return admin.not_found()
    service, tid, actor = _service(admin), admin.page.tenant.id, admin.principal
    try:
        if action == "start":
            service.start(tid, detail.sp.id, job["id"], actor=actor)
        elif action == "pause":
            service.pause(tid, detail.sp.id, job["id"], actor=actor)
        elif action == "restart":
            service.restart(tid, detail.sp.id, job["id"], "Full", actor=actor)
        elif action == "allow-deletes":
            service.restart(tid, detail.sp.id, job["id"], "ForceDeletes", actor=actor)
        else:
            service.reset_schema(tid, detail.sp.id, job["id"], actor=actor)
    except DomainError as exc:
        return _overview(admin, detail, 400, errors={"_form": exc.message})
    _wake(admin)
    done = {"start": "started", "pause": "paused", "restart": "restarted", "allow-deletes": "deletes"}
    return admin.redirect(f"/apps/{detail.sp.id}/provisioning", done=done.get(action, "reset"))


@router.post("/{tenant}/admin/apps/{sp_id}/provisioning-run/{kind}")
async def run_now(request: Request, tenant: str, sp_id: str, kind: str) -> Response:
    """Provision on demand (one user or group, its steps shown) or a dry run (what a full cycle would do)."""
    if kind not in ("on-demand", "dry-run"):
        return _unknown(request, tenant)
    started = await _post(request, tenant, sp_id)
    admin, detail, form = started
    _ = admin._
    job = _job(admin, detail)
    if job is None:
        return admin.not_found()
    service, tid = _service(admin), admin.page.tenant.id
    try:
        if kind == "dry-run":
            result = service.dry_run(tid, detail.sp.id, job["id"])
            return admin.render("portal/provisioning_run.html", d=detail, dry=result, results=None)
        key = form.get("subject").strip()[:256]
        user = admin.queries.find_user(key)
        group = None if user is not None else admin.queries.find_group(key)
        if user is None and group is None:
            return _overview(admin, detail, 400, errors={"subject": _("No user or group matches.")}, subject=key)
        subject = (user.id, "User") if user is not None else (group.id, "Group")  # type: ignore[union-attr]
        results = service.provision_on_demand(tid, detail.sp.id, job["id"], [subject])
    except DomainError as exc:
        field = "subject" if kind == "on-demand" else "_form"
        return _overview(admin, detail, 400, errors={field: exc.message})
    return admin.render("portal/provisioning_run.html", d=detail, dry=None, results=results)


# --- mappings ----------------------------------------------------------------------------------------------------


def _mapping_page(admin: AdminPage, detail: AppDetail, kind: str, status: int = 200, **extra: Any) -> Response:
    job = _job(admin, detail)
    if job is None:
        return admin.not_found()
    schema = _service(admin).get_schema(admin.page.tenant.id, detail.sp.id, job["id"])
    mapping = _find_mapping(schema, kind)
    if mapping is None:
        return admin.not_found()
    rows = []
    for item in mapping.get("attributeMappings") or []:
        source_type, text = _expression_text(item.get("source"))
        rows.append({**item, "source_type": source_type, "text": text})
    context: dict[str, Any] = {
        "errors": {},
        "edit": None,
        "scope_text": _scope_text(mapping.get("scope")),
        "notice": {"saved": admin._("Mappings saved.")}.get(admin.page.request.query_params.get("done", "")),
    }
    context.update(extra)
    edit = context.get("edit")
    if edit is not None and edit.get("original") and not context["errors"]:
        found = next((r for r in rows if r.get("targetAttributeName") == edit["original"]), None)
        if found is not None:
            context["edit"] = {**found, "original": found["targetAttributeName"]}
    return admin.render(
        "portal/provisioning_mapping.html",
        status,
        d=detail,
        kind=kind,
        mapping=mapping,
        rows=rows,
        flow_types=FLOW_TYPES,
        source_types=SOURCE_TYPES,
        operators=[op.name for op in FILTER_OPERATORS],
        **context,
    )


def _scope_text(scope: Any) -> str:
    """A scoping filter as editable text: one clause per line (``attribute OPERATOR value``), groups (ORed)
    separated by an empty line."""
    if not isinstance(scope, dict):
        return ""
    blocks = []
    for group in scope.get("groups") or scope.get("Groups") or []:
        lines = []
        for clause in group.get("clauses") or group.get("Clauses") or []:
            attribute = clause.get("sourceOperandName") or clause.get("SourceOperandName") or ""
            operator = clause.get("operatorName") or clause.get("OperatorName") or ""
            target = clause.get("targetOperand") or clause.get("TargetOperand") or {}
            values = target.get("values") or target.get("Values") or []
            lines.append(" ".join(p for p in (attribute, operator, ",".join(values)) if p))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _parse_scope(text: str) -> dict[str, Any] | None:
    groups = []
    for index, block in enumerate(part for part in text.replace("\r\n", "\n").split("\n\n") if part.strip()):
        clauses = []
        for line in block.splitlines():
            line = line.strip()
            if not line:
                continue
            attribute, _, rest = line.partition(" ")
            rest = rest.strip()
            operator = next((op for op in _OPERATORS if rest.upper().startswith(op.upper())), None)
            if not attribute or operator is None:
                raise ExpressionError(f"'{line}': write an attribute, an operator and a value")
            value = rest[len(operator) :].strip()
            values = [v.strip() for v in value.split(",")] if value else []
            clauses.append(
                {"sourceOperandName": attribute, "operatorName": operator, "targetOperand": {"values": values}}
            )
        groups.append({"name": f"Group {index + 1}", "clauses": clauses})
    return {"groups": groups} if groups else None


@router.get("/{tenant}/admin/apps/{sp_id}/provisioning/mappings/{kind}")
def mapping_page(request: Request, tenant: str, sp_id: str, kind: str) -> Response:
    opened = _open(request, tenant, sp_id)
    admin, detail = opened
    if kind not in ("user", "group"):
        return admin.not_found()
    target = request.query_params.get("edit")
    edit = None
    if target is not None:
        edit = {
            "original": target[:256],
            "targetAttributeName": target[:256],
            "source_type": "Attribute",
            "text": "",
            "matchingPriority": 0,
            "flowType": "Always",
            "defaultValue": "",
        }
    return _mapping_page(admin, detail, kind, edit=edit)


def _save_schema(admin: AdminPage, detail: AppDetail, job_id: str, schema: dict[str, Any]) -> str | None:
    try:
        _service(admin).replace_schema(admin.page.tenant.id, detail.sp.id, job_id, schema, actor=admin.principal)
    except DomainError as exc:
        return exc.message
    return None


@router.post("/{tenant}/admin/apps/{sp_id}/provisioning/mappings/{kind}/{what}")
async def mapping_change(request: Request, tenant: str, sp_id: str, kind: str, what: str) -> Response:
    if kind not in ("user", "group") or what not in ("attribute", "delete", "scope", "object"):
        return _unknown(request, tenant)
    started = await _post(request, tenant, sp_id)
    admin, detail, form = started
    _ = admin._
    job = _job(admin, detail)
    if job is None:
        return admin.not_found()
    schema = copy.deepcopy(_service(admin).get_schema(admin.page.tenant.id, detail.sp.id, job["id"]))
    mapping = _find_mapping(schema, kind)
    if mapping is None:
        return admin.not_found()
    attributes: list[dict[str, Any]] = list(mapping.get("attributeMappings") or [])
    if what == "delete":
        target = form.get("target")
        mapping["attributeMappings"] = [a for a in attributes if a.get("targetAttributeName") != target]
        error = _save_schema(admin, detail, job["id"], schema)
        if error:
            return _mapping_page(admin, detail, kind, 400, errors={"_form": error})
    elif what == "scope":
        text = form.get("scope")
        try:
            mapping["scope"] = _parse_scope(text)
        except ExpressionError as exc:
            return _mapping_page(admin, detail, kind, 400, errors={"scope": exc.message}, scope_text=text)
        error = _save_schema(admin, detail, job["id"], schema)
        if error:
            return _mapping_page(admin, detail, kind, 400, errors={"scope": error}, scope_text=text)
    elif what == "object":
        mapping["enabled"] = form.flag("enabled")
        flows = [f for f in ("Add", "Update", "Delete") if form.flag(f"flow_{f.lower()}")]
        mapping["flowTypes"] = ", ".join(flows)
        error = _save_schema(admin, detail, job["id"], schema)
        if error:
            return _mapping_page(admin, detail, kind, 400, errors={"_form": error})
    else:
        edit = {
            "original": form.get("original"),
            "targetAttributeName": form.get("target").strip(),
            "source_type": form.get("source_type"),
            "text": form.get("expression").strip(),
            "matchingPriority": form.get("matching").strip(),
            "flowType": form.get("flow"),
            "defaultValue": form.get("default"),
        }
        errors: dict[str, str] = {}
        if not edit["targetAttributeName"]:
            errors["target"] = _("Enter the target attribute.")
        if edit["source_type"] not in SOURCE_TYPES:
            errors["source_type"] = _("Choose a mapping type.")
        if edit["flowType"] not in FLOW_TYPES:
            errors["flow"] = _("Choose when to apply this mapping.")
        if edit["source_type"] != "None" and not edit["text"]:
            errors["expression"] = _("Enter the source attribute, constant or expression.")
        if edit["source_type"] == "Function" and edit["text"]:
            try:
                compile_expression(edit["text"])
            except ExpressionError as exc:
                errors["expression"] = exc.message + (
                    " (" + _("at character %(num)d") % {"num": exc.position + 1} + ")"
                    if exc.position is not None
                    else ""
                )
        matching = str(edit["matchingPriority"] or "0")
        if not matching.isdigit():
            errors["matching"] = _("Enter 0 (not used for matching) or a precedence 1, 2, …")
        if errors:
            return _mapping_page(admin, detail, kind, 400, errors=errors, edit=edit)
        item = {
            "targetAttributeName": edit["targetAttributeName"],
            "source": _source_json(edit["source_type"], edit["text"]),
            "defaultValue": edit["defaultValue"] or None,
            "matchingPriority": int(matching),
            "flowType": edit["flowType"],
            "flowBehavior": "FlowWhenChanged",
            "exportMissingReferences": False,
        }
        original = edit["original"]
        replaced = False
        for index, existing in enumerate(attributes):
            if original and existing.get("targetAttributeName") == original:
                attributes[index], replaced = item, True
        if not replaced:
            attributes.append(item)
        mapping["attributeMappings"] = attributes
        error = _save_schema(admin, detail, job["id"], schema)
        if error:
            field = "matching" if "precedence" in error or "matching" in error else "expression"
            if "mapped twice" in error or "targetAttributeName" in error or "id is assigned" in error:
                field = "target"
            return _mapping_page(admin, detail, kind, 400, errors={field: error}, edit=edit)
    return admin.redirect(f"/apps/{detail.sp.id}/provisioning/mappings/{kind}", done="saved")


@router.get("/{tenant}/admin/provisioning/validate-expression")
def validate_expression(request: Request, tenant: str) -> Response:
    """Live validation for the mapping editor (GET, changes nothing): JSON with the message and position."""
    try:
        admin = open_admin(request, tenant, "apps", _ga)
    except PageExit:
        return JSONResponse({"ok": False, "message": "forbidden"}, status_code=403)
    text = request.query_params.get("expression", "")[:4000]
    if not text.strip():
        return JSONResponse({"ok": False, "message": admin._("Enter an expression.")})
    try:
        compile_expression(text)
    except ExpressionError as exc:
        return JSONResponse(
            {"ok": False, "message": str(exc), "position": exc.position, "caret": exc.caret(text)},
            headers={"Cache-Control": "no-store"},
        )
    return JSONResponse(
        {"ok": True, "message": admin._("The expression is valid.")}, headers={"Cache-Control": "no-store"}
    )


# --- logs --------------------------------------------------------------------------------------------------------


def _day(value: str, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) - timedelta(microseconds=1) if end else day


@router.get("/{tenant}/admin/provisioning/logs")
def logs(request: Request, tenant: str) -> Response:
    admin = open_admin(request, tenant, "provlogs", _ga)
    q = request.query_params
    filters = {
        "from": q.get("from", "")[:10],
        "to": q.get("to", "")[:10],
        "status": q.get("status", "") if q.get("status", "") in STATUSES else "",
        "action": q.get("action", "") if q.get("action", "") in ACTIONS else "",
        "identity": q.get("identity", "")[:256].strip(),
        "app": q.get("app", "")[:64],
    }
    query = LogQuery(
        since=_day(filters["from"]),
        until=_day(filters["to"], end=True),
        status=filters["status"] or None,
        action=filters["action"] or None,
        sp_id=filters["app"] or None,
        top=50,
        after=q.get("after") or None,
    )
    identity = filters["identity"]
    if identity:
        if len(identity) == 36 and identity.count("-") == 4:
            query.identity_id = identity.lower()
        else:
            query.identity_name = identity
    try:
        page = _service(admin).logs(admin.page.tenant.id, query)
    except DomainError:
        query.after = None
        page = _service(admin).logs(admin.page.tenant.id, query)
    next_url = None
    if page.next:
        next_url = "?" + urlencode({**filters, "after": page.next})
    return admin.render(
        "portal/provisioning_logs.html",
        items=page.items,
        filters=filters,
        next_url=next_url,
        actions=ACTIONS,
        statuses=STATUSES,
        apps=admin.queries.app_choices(),
    )


@router.get("/{tenant}/admin/provisioning/logs/{log_id}")
def log_detail(request: Request, tenant: str, log_id: str) -> Response:
    admin = open_admin(request, tenant, "provlogs", _ga)
    try:
        item = _service(admin).get_log(admin.page.tenant.id, log_id[:20])
    except NotFoundError:
        return admin.not_found()
    return admin.render("portal/provisioning_log.html", item=item)
