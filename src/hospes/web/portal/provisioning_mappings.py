"""The attribute mapping editor of an application's provisioning job: the attribute mappings (list, edit with live
validation of expressions, add, delete), matching precedence, the scoping filter's text form, the object
mapping's switch and target actions. Every change is one command of the provisioning facade, whose errors name
the property at fault; ``field_errors`` shows each next to its field. The target attributes offered are the ones
the target's SCIM ``/Schemas`` describe ("Refresh from target"), else Hospes's own list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from hospes.digits import ascii_int
from hospes.domain.errors import DomainError, NotFoundError
from hospes.expressions import FILTER_OPERATORS, ExpressionError, compile_expression
from hospes.provisioning.schema_edits import (
    FLOW_CHOICES,
    SOURCE_TYPES,
    TARGET_ACTIONS,
    AttributeRow,
    MappingInput,
    MappingInputError,
)
from hospes.services.directory_views import AppDetail
from hospes.web.context import open_page
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, Form, admin_of, field_errors
from hospes.web.portal.deps import AppsDep
from hospes.web.portal.provisioning_settings import current_job, global_admin, service

router = APIRouter(include_in_schema=False)
KINDS = ("user", "group")
# The editor's fields for the properties the facade's errors name.
ATTRIBUTE_FIELDS = {
    "targetAttributeName": "target",
    "expression": "expression",
    "matchingPriority": "matching",
    "sourceType": "source_type",
    "flowType": "flow",
}


def _edit_of(row: AttributeRow) -> dict[str, Any]:
    return {
        "original": row.target,
        "target": row.target,
        "source_type": row.source_type,
        "source": row.source,
        "matching_priority": row.matching_priority,
        "flow_type": row.flow_type,
        "default": row.default,
    }


def _mapping_page(admin: AdminPage, detail: AppDetail, kind: str, status: int = 200, **extra: Any) -> Response:
    job = current_job(admin, detail)
    if job is None:
        return admin.not_found()
    try:
        view = service(admin).mapping_view(admin.page.tenant.id, detail.sp.id, job["id"], kind)
        offered = service(admin).target_attributes(admin.page.tenant.id, detail.sp.id, job["id"], kind)
    except NotFoundError:
        return admin.not_found()
    notices = {
        "saved": admin._("Mappings saved."),
        "discovered": admin._("The target's attributes were read from its schema."),
        "no-schemas": admin._(
            "The target doesn't describe its attributes (it has no /Schemas): the editor offers Hospes's list."
        ),
    }
    context: dict[str, Any] = {
        "errors": {},
        "edit": None,
        "scope_text": view.scope_text,
        "notice": notices.get(admin.page.request.query_params.get("done", "")),
    }
    context.update(extra)
    edit = context.get("edit")
    if edit is not None and edit.get("original") and not context["errors"]:
        found = view.row(edit["original"])
        if found is not None:
            context["edit"] = _edit_of(found)
    return admin.render(
        "portal/provisioning_mapping.html",
        status,
        d=detail,
        kind=kind,
        mapping=view,
        rows=view.rows,
        offered=offered,
        flow_types=FLOW_CHOICES,
        source_types=SOURCE_TYPES,
        operators=[op.name for op in FILTER_OPERATORS],
        **context,
    )


@router.get("/{tenant}/admin/apps/{sp_id}/provisioning/mappings/{kind}")
def mapping_page(request: Request, admin: AppsDep, sp_id: str, kind: str) -> Response:
    detail = admin.app(sp_id)
    if kind not in KINDS:
        return admin.not_found()
    target = request.query_params.get("edit")
    edit = None
    if target is not None:
        edit = {
            "original": target[:256],
            "target": target[:256],
            "source_type": "Attribute",
            "source": "",
            "matching_priority": 0,
            "flow_type": "Always",
            "default": "",
        }
    return _mapping_page(admin, detail, kind, edit=edit)


def _attribute_errors(admin: AdminPage, edit: dict[str, Any]) -> dict[str, str]:
    """What the form itself lacks (the facade checks the mapping against the rest of the schema)."""
    _ = admin._
    errors: dict[str, str] = {}
    if not edit["target"]:
        errors["target"] = _("Enter the target attribute.")
    if edit["source_type"] not in SOURCE_TYPES:
        errors["source_type"] = _("Choose a mapping type.")
    if edit["flow_type"] not in FLOW_CHOICES:
        errors["flow"] = _("Choose when to apply this mapping.")
    if edit["source_type"] != "None" and not edit["source"]:
        errors["expression"] = _("Enter the source attribute, constant or expression.")
    if ascii_int(str(edit["matching_priority"] or "0")) is None:
        errors["matching"] = _("Enter 0 (not used for matching) or a precedence 1, 2, …")
    return errors


def _refused(admin: AdminPage, exc: DomainError, fields: dict[str, str], default: str) -> dict[str, str]:
    errors = field_errors(exc, fields, default)
    position = exc.position if isinstance(exc, MappingInputError) else None
    if exc.target == "expression" and position is not None:
        where = admin._("at character %(num)d") % {"num": position + 1}
        errors[fields.get("expression", default)] += f" ({where})"
    return errors


def _form_edit(form: Form) -> dict[str, Any]:
    return {
        "original": form.get("original"),
        "target": form.get("target").strip(),
        "source_type": form.get("source_type"),
        "source": form.get("expression").strip(),
        "matching_priority": form.get("matching").strip(),
        "flow_type": form.get("flow"),
        "default": form.get("default"),
    }


def _input(edit: dict[str, Any]) -> MappingInput:
    return MappingInput(
        target=edit["target"],
        source_type=edit["source_type"],
        source=edit["source"],
        matching_priority=int(edit["matching_priority"] or "0"),
        flow_type=edit["flow_type"],
        default=edit["default"] or None,
        original=edit["original"],
    )


@router.post("/{tenant}/admin/apps/{sp_id}/provisioning/mappings/{kind}/{what}")
async def mapping_change(admin: AppsDep, sp_id: str, kind: str, what: str) -> Response:
    if kind not in KINDS or what not in ("attribute", "delete", "scope", "object", "discover"):
        return admin.not_found()
    detail = admin.app(sp_id)
    form = await admin.form()
    job = current_job(admin, detail)
    if job is None:
        return admin.not_found()
    edit = _form_edit(form) if what == "attribute" else None
    if edit is not None:
        errors = _attribute_errors(admin, edit)
        if errors:
            return _mapping_page(admin, detail, kind, 400, errors=errors, edit=edit)
    prov, args, actor = service(admin), (admin.page.tenant.id, detail.sp.id, job["id"], kind), admin.principal
    if what == "discover":
        return _discover(admin, detail, kind, job["id"])
    try:
        if what == "delete":
            prov.remove_attribute_mapping(*args, form.get("target"), actor=actor)
        elif what == "scope":
            prov.set_scope(*args, form.get("scope"), actor=actor)
        elif what == "object":
            actions = [a for a in TARGET_ACTIONS if form.flag(f"flow_{a.lower()}")]
            prov.set_flows(*args, enabled=form.flag("enabled"), actions=actions, actor=actor)
        elif edit is not None:
            prov.set_attribute_mapping(*args, _input(edit), actor=actor)
    except NotFoundError:
        return admin.not_found()
    except DomainError as exc:
        if what == "scope":
            errors = _refused(admin, exc, {"scope": "scope"}, "scope")
            return _mapping_page(admin, detail, kind, 400, errors=errors, scope_text=form.get("scope"))
        if edit is not None:
            errors = _refused(admin, exc, ATTRIBUTE_FIELDS, "_form")
            return _mapping_page(admin, detail, kind, 400, errors=errors, edit=edit)
        return _mapping_page(admin, detail, kind, 400, errors=_refused(admin, exc, {}, "_form"))
    return admin.redirect(f"/apps/{detail.sp.id}/provisioning/mappings/{kind}", done="saved")


def _discover(admin: AdminPage, detail: AppDetail, kind: str, job_id: str) -> Response:
    """ "Refresh from target": read the target's /Schemas through the job's connector and keep its attributes."""
    try:
        found = service(admin).discover_target_schema(admin.page.tenant.id, detail.sp.id, job_id, actor=admin.principal)
    except NotFoundError:
        return admin.not_found()
    except DomainError as exc:
        reason = admin._("The target's attributes could not be read: %(reason)s") % {"reason": exc.message}
        return _mapping_page(admin, detail, kind, 400, errors={"_form": reason})
    done = "discovered" if found else "no-schemas"
    return admin.redirect(f"/apps/{detail.sp.id}/provisioning/mappings/{kind}", done=done)


@router.get("/{tenant}/admin/provisioning/validate-expression")
def validate_expression(request: Request, tenant: str) -> Response:
    """Live validation for the mapping editor (GET, changes nothing): JSON with the message and position."""
    try:
        admin = admin_of(open_page(request, tenant), "apps", global_admin)
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
