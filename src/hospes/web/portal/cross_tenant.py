"""Cross-tenant access settings in the portal: the default for every external organization and one page per
partner organization (inbound and outbound B2B collaboration by users, groups and applications, inbound trust of
the partner's MFA and device claims, automatic redemption, and whether the partner may synchronize users in).
Everything goes through ``CrossTenantPolicyService``, the service of Graph's
``/policies/crossTenantAccessPolicy``."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from hospes.domain.cross_tenant import TRUST_FLAGS
from hospes.domain.errors import DomainError, NotFoundError
from hospes.services.cross_tenant_policy import CrossTenantPolicyService
from hospes.web.exits import PageExit
from hospes.web.portal.access import AdminPage, Form
from hospes.web.portal.ca_policies import confirm_page
from hospes.web.portal.deps import CrossTenantDep

router = APIRouter(include_in_schema=False)
BASE = "/settings/cross-tenant"
# Form prefix → the Graph setting it edits.
DIRECTIONS = {"inbound": "b2bCollaborationInbound", "outbound": "b2bCollaborationOutbound"}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ALL = {"user": "AllUsers", "application": "AllApplications"}


def _service(admin: AdminPage) -> CrossTenantPolicyService:
    return CrossTenantPolicyService(admin.sessions, admin.principal)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()][:500]


def _direction_values(setting: dict[str, Any] | None) -> dict[str, str]:
    """One B2B collaboration setting as form values (``mode`` "inherit" when a partner has none of its own)."""
    if setting is None:
        return {"mode": "inherit", "users": "all", "user_ids": "", "group_ids": "", "apps": "all", "app_ids": ""}
    people = setting.get("usersAndGroups") or {}
    apps = setting.get("applications") or {}
    targets = people.get("targets") or []
    app_targets = [t["target"] for t in apps.get("targets") or [] if t["target"] != _ALL["application"]]
    listed = [t for t in targets if t["target"] != _ALL["user"]]
    return {
        "mode": people.get("accessType") or apps.get("accessType") or "allowed",
        "users": "listed" if listed else "all",
        "user_ids": "\n".join(t["target"] for t in listed if t["targetType"] == "user"),
        "group_ids": "\n".join(t["target"] for t in listed if t["targetType"] == "group"),
        "apps": "listed" if app_targets else "all",
        "app_ids": "\n".join(app_targets),
    }


def _posted_direction(form: Form, key: str) -> dict[str, str]:
    return {
        "mode": form.get(f"{key}_mode"),
        "users": "listed" if form.get(f"{key}_users") == "listed" else "all",
        "user_ids": form.get(f"{key}_user_ids")[:40_000],
        "group_ids": form.get(f"{key}_group_ids")[:40_000],
        "apps": "listed" if form.get(f"{key}_apps") == "listed" else "all",
        "app_ids": form.get(f"{key}_app_ids")[:40_000],
    }


def _setting(values: dict[str, str], key: str, errors: dict[str, str], admin: AdminPage) -> dict[str, Any] | None:
    """The Graph B2B setting for posted ``values`` (None: inherit); object ids must be GUIDs."""
    if values["mode"] == "inherit":
        return None
    if values["mode"] not in ("allowed", "blocked"):
        errors[key] = admin._("Choose allow or block.")
        return None
    people: list[dict[str, str]] = [{"target": _ALL["user"], "targetType": "user"}]
    if values["users"] == "listed":
        people = [{"target": i, "targetType": "user"} for i in _lines(values["user_ids"])]
        people += [{"target": i, "targetType": "group"} for i in _lines(values["group_ids"])]
    apps: list[dict[str, str]] = [{"target": _ALL["application"], "targetType": "application"}]
    if values["apps"] == "listed":
        apps = [{"target": i, "targetType": "application"} for i in _lines(values["app_ids"])]
    wrong = [t["target"] for t in people + apps if not t["target"].startswith("All") and not _GUID.match(t["target"])]
    if wrong:
        errors[key] = admin._("“%(text)s” is not an object id.") % {"text": wrong[0]}
    elif len(people) == 0 or len(apps) == 0:
        errors[key] = admin._("List at least one id, or choose all.")
    return {
        "usersAndGroups": {"accessType": values["mode"], "targets": people},
        "applications": {"accessType": values["mode"], "targets": apps},
    }


def _trust_values(trust: dict[str, Any] | None) -> dict[str, str]:
    if trust is None:
        return {"mode": "inherit", **{flag: "" for flag in TRUST_FLAGS}}
    return {"mode": "custom", **{flag: "on" if trust.get(flag) else "" for flag in TRUST_FLAGS}}


def _settings_page(admin: AdminPage, status: int = 200, **context: Any) -> Response:
    service = _service(admin)
    default = service.default_configuration()
    values = context.pop("values", None) or {
        **{key: _direction_values(default.get(name)) for key, name in DIRECTIONS.items()},
        "trust": _trust_values(default.get("inboundTrust")),
    }
    done = admin.page.request.query_params.get("done", "")
    notices = {"saved": admin._("Settings saved."), "deleted": admin._("The organization was removed.")}
    return admin.render(
        "portal/cross_tenant.html",
        status,
        default=default,
        values=values,
        partners=service.partners(),
        trust_flags=TRUST_FLAGS,
        notice=notices.get(done),
        errors=context.pop("errors", {}),
        tenant_id=context.pop("tenant_id", ""),
        **context,
    )


@router.get("/{tenant}/admin/settings/cross-tenant")
def settings_page(admin: CrossTenantDep) -> Response:
    return _settings_page(admin)


def _posted(admin: AdminPage, form: Form, errors: dict[str, str], *, partner: bool) -> tuple[dict[str, Any], Any]:
    values: dict[str, Any] = {key: _posted_direction(form, key) for key in DIRECTIONS}
    trust_mode = form.get("trust_mode") if partner else "custom"
    values["trust"] = {"mode": trust_mode, **{flag: "on" if form.flag(flag) else "" for flag in TRUST_FLAGS}}
    body: dict[str, Any] = {name: _setting(values[key], key, errors, admin) for key, name in DIRECTIONS.items()}
    if not partner:
        body = {k: v for k, v in body.items() if v is not None}
    body["inboundTrust"] = (
        None if trust_mode == "inherit" else {flag: bool(values["trust"][flag]) for flag in TRUST_FLAGS}
    )
    return values, body


@router.post("/{tenant}/admin/settings/cross-tenant")
async def save_default(admin: CrossTenantDep) -> Response:
    form = await admin.form()
    errors: dict[str, str] = {}
    values, body = _posted(admin, form, errors, partner=False)
    if errors:
        return _settings_page(admin, 400, values=values, errors=errors)
    try:
        _service(admin).update_default(body)
    except DomainError as exc:
        return _settings_page(admin, 400, values=values, errors={"_form": admin.plain(exc)})
    return admin.redirect(BASE, done="saved")


@router.post("/{tenant}/admin/settings/cross-tenant/partners")
async def add_partner(admin: CrossTenantDep) -> Response:
    form = await admin.form()
    tenant_id = form.get("tenant_id").strip()[:64]
    try:
        created = _service(admin).create_partner({"tenantId": tenant_id})
    except DomainError as exc:
        return _settings_page(admin, 400, errors={"tenant_id": admin.plain(exc)}, tenant_id=tenant_id)
    return admin.redirect(f"{BASE}/partners/{created['tenantId']}")


def _partner(admin: AdminPage, tenant_id: str) -> dict[str, Any]:
    if not _GUID.match(tenant_id):
        raise PageExit(admin.not_found())
    try:
        return _service(admin).partner(tenant_id.lower())
    except NotFoundError:
        raise PageExit(admin.not_found()) from None


def _sync_allowed(admin: AdminPage, tenant_id: str) -> bool:
    try:
        return bool(_service(admin).sync_policy(tenant_id)["userSyncInbound"]["isSyncAllowed"])
    except NotFoundError:
        return False


def _partner_page(
    admin: AdminPage, partner: dict[str, Any], status: int = 200, values: dict[str, Any] | None = None, **context: Any
) -> Response:
    consent = partner["automaticUserConsentSettings"]
    values = values or {
        **{key: _direction_values(partner.get(name)) for key, name in DIRECTIONS.items()},
        "trust": _trust_values(partner.get("inboundTrust")),
        "auto_inbound": "on" if consent.get("inboundAllowed") else "",
        "auto_outbound": "on" if consent.get("outboundAllowed") else "",
        "sync_inbound": "on" if _sync_allowed(admin, partner["tenantId"]) else "",
    }
    saved = admin.page.request.query_params.get("done") == "saved"
    return admin.render(
        "portal/cross_tenant_partner.html",
        status,
        partner=partner,
        values=values,
        default=_service(admin).default_configuration(),
        trust_flags=TRUST_FLAGS,
        notice=admin._("Settings saved.") if saved else None,
        errors=context.pop("errors", {}),
        **context,
    )


@router.get("/{tenant}/admin/settings/cross-tenant/partners/{tenant_id}")
def partner_page(admin: CrossTenantDep, tenant_id: str) -> Response:
    return _partner_page(admin, _partner(admin, tenant_id))


@router.post("/{tenant}/admin/settings/cross-tenant/partners/{tenant_id}")
async def save_partner(admin: CrossTenantDep, tenant_id: str) -> Response:
    partner = _partner(admin, tenant_id)
    form = await admin.form()
    errors: dict[str, str] = {}
    values, body = _posted(admin, form, errors, partner=True)
    values.update(
        auto_inbound="on" if form.flag("auto_inbound") else "",
        auto_outbound="on" if form.flag("auto_outbound") else "",
        sync_inbound="on" if form.flag("sync_inbound") else "",
    )
    if errors:
        return _partner_page(admin, partner, 400, values, errors=errors)
    body["automaticUserConsentSettings"] = {
        "inboundAllowed": bool(values["auto_inbound"]),
        "outboundAllowed": bool(values["auto_outbound"]),
    }
    service = _service(admin)
    try:
        service.update_partner(partner["tenantId"], body)
        if values["sync_inbound"] or _sync_allowed(admin, partner["tenantId"]):
            service.put_sync_policy(
                partner["tenantId"], {"userSyncInbound": {"isSyncAllowed": bool(values["sync_inbound"])}}
            )
    except DomainError as exc:
        return _partner_page(admin, partner, 400, values, errors={"_form": admin.plain(exc)})
    return admin.redirect(f"{BASE}/partners/{partner['tenantId']}", done="saved")


@router.get("/{tenant}/admin/settings/cross-tenant/partners/{tenant_id}/delete")
def confirm_remove(admin: CrossTenantDep, tenant_id: str) -> Response:
    partner = _partner(admin, tenant_id)
    _ = admin._
    return confirm_page(
        admin,
        _("Remove this organization?"),
        partner["tenantId"],
        _("Its users then follow the default settings. Users it synchronized into this organization stay."),
        f"{BASE}/partners/{partner['tenantId']}",
        (BASE, _("Cross-tenant access settings")),
    )


@router.post("/{tenant}/admin/settings/cross-tenant/partners/{tenant_id}/delete")
async def remove_partner(admin: CrossTenantDep, tenant_id: str) -> Response:
    form = await admin.form()
    partner = _partner(admin, tenant_id)
    if form.get("confirm") != "yes":
        return admin.redirect(f"{BASE}/partners/{partner['tenantId']}/delete")
    try:
        _service(admin).delete_partner(partner["tenantId"])
    except NotFoundError:
        return admin.not_found()
    return admin.redirect(BASE, done="deleted")
