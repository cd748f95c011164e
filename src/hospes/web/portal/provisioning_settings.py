"""The Provisioning screen of an enterprise application, on top of the provisioning facade
(``Runtime.provisioning``, ``hospes.provisioning.service``). Global Administrators.

- credentials (tenant URL, secret token) with Test connection, notification email and "send an email on
  failure", scope (assigned only / all), accidental-deletion prevention: one ``put_secrets`` per save;
- status on/off (start, pause), restart, allow deletes after the deletion threshold stopped a cycle, the current
  cycle's progress bar (polled by ``portal.js`` when scripts run, a refresh link otherwise), last cycle statistics,
  the quarantine banner;
- provision on demand with its steps; dry run.

The mapping editor is ``provisioning_mappings.py``, the logs ``provisioning_logs.py``; both use the helpers here.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from hospes.digits import ascii_int
from hospes.domain.errors import DomainError
from hospes.provisioning.schema import CROSS_TENANT_TEMPLATE
from hospes.provisioning.service import ProvisioningService
from hospes.services.admin_access import Access
from hospes.services.directory_views import AppDetail
from hospes.web.portal.access import AdminPage, Form, field_errors
from hospes.web.portal.deps import AppsDep
from hospes.web.portal.results import gone, show_later, take
from hospes.web.portal.wording import Wording

router = APIRouter(include_in_schema=False)


def global_admin(access: Access) -> bool:
    return bool(access.is_global_admin)


def service(admin: AdminPage) -> ProvisioningService:
    return admin.runtime.provisioning


def _wake(admin: AdminPage) -> None:
    runner = admin.runtime.workers.provisioning
    if runner is not None:
        runner.wake()


def current_job(admin: AdminPage, detail: AppDetail) -> dict[str, Any] | None:
    jobs = service(admin).list_jobs(admin.page.tenant.id, detail.sp.id)
    return jobs[0] if jobs else None


def _is_cross_tenant(admin: AdminPage, detail: AppDetail) -> bool:
    job = current_job(admin, detail)
    return bool(job and job.get("templateId") == CROSS_TENANT_TEMPLATE)


def _settings_values(admin: AdminPage, detail: AppDetail) -> dict[str, Any]:
    """What the credentials form shows: never the token or client secret, only whether one is saved. A
    cross-tenant synchronization job (``Azure2Azure``) has its own credentials: the target tenant and, when that
    tenant is in another deployment, the deployment's address and the client credentials of its app."""
    saved = service(admin).saved_secrets(admin.page.tenant.id, detail.sp.id)
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
        "cts": _is_cross_tenant(admin, detail),
        "target_tenant": saved.get("CompanyId", ""),
        "client_id": saved.get("ClientIdentifier", ""),
        "client_secret_saved": bool(saved.get("ClientSecret")),
    }


def _overview(
    admin: AdminPage, detail: AppDetail, status: int = 200, *, errors: dict[str, str] | None = None, **extra: Any
) -> Response:
    job = current_job(admin, detail)
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
def provisioning(admin: AppsDep, sp_id: str) -> Response:
    return _overview(admin, admin.app(sp_id))


@router.get("/{tenant}/admin/apps/{sp_id}/provisioning/progress.json")
def progress(admin: AppsDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    job = current_job(admin, detail)
    if job is None:
        return JSONResponse({"running": False}, headers={"Cache-Control": "no-store"})
    found = service(admin).progress(admin.page.tenant.id, detail.sp.id, job["id"])
    last = job["status"].get("lastExecution") or {}
    body = {
        "running": found.running,
        "done": found.done,
        "total": found.total,
        "rate": round(found.rate, 1),
        "eta": None if found.eta_seconds is None else round(found.eta_seconds),
        "code": job["status"]["code"],
        # The page reloads itself when these differ from what it shows: a cycle ended, or the job changed state.
        "lastEnded": last.get("timeEnded") or "",
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post("/{tenant}/admin/apps/{sp_id}/provisioning/create")
async def create_job(admin: AppsDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    await admin.form()
    if current_job(admin, detail) is None:
        try:
            service(admin).create_job(admin.page.tenant.id, detail.sp.id, actor=admin.principal)
        except DomainError as exc:
            return _overview(admin, detail, 400, errors={"_form": exc.message})
    return admin.redirect(f"/apps/{detail.sp.id}/provisioning", done="created")


@router.post("/{tenant}/admin/apps/{sp_id}/provisioning/credentials")
async def save_credentials(admin: AppsDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    form = await admin.form()
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
        "cts": current["cts"],
    }
    token = form.get("secret_token")
    # Echoed back only into this same response's password field (after a test or an error), never from storage,
    # so the admin does not have to type it again before saving.
    values["typed_token"] = token
    errors: dict[str, str] = {}
    saved = service(admin).saved_secrets(admin.page.tenant.id, detail.sp.id)
    if current["cts"]:
        secrets, needed = _cross_tenant_secrets(admin, form, values, current, saved, errors)
    else:
        secrets, needed = _scim_secrets(admin, token, values, saved, errors)
    emails = [e.strip() for e in values["notification_email"].replace(",", ";").split(";") if e.strip()]
    if any("@" not in e or len(e) > 254 or any(c.isspace() for c in e) for e in emails):
        errors["notification_email"] = _("Enter email addresses separated by semicolons.")
    if values["notify"] and not emails:
        errors["notification_email"] = _("Enter the address that gets the failure emails.")
    if not 1 <= (ascii_int(values["delete_threshold"]) or 0) <= 100_000:
        errors["delete_threshold"] = _("Enter a number from 1 to 100000.")
    if form.get("action") == "test":
        blocking = {k: v for k, v in errors.items() if k in needed}
        if blocking:
            return _overview(admin, detail, 400, errors=blocking, values=values)
        try:
            service(admin).validate_credentials(
                admin.page.tenant.id, detail.sp.id, credentials=secrets, use_saved=False
            )
        except DomainError as exc:
            said = exc.message
            if exc.code.startswith(("SystemForCrossDomainIdentityManagement", "AzureActiveDirectory")):
                said = Wording(admin._).connector_error(exc.code, said.removeprefix("Test connection failed: "))
            return _overview(admin, detail, 400, errors={"test": said}, values=values)
        return _overview(admin, detail, values=values, tested=True)
    if errors:
        return _overview(admin, detail, 400, errors=errors, values=values)
    notice = {
        "Enabled": values["notify"],
        "Recipients": ";".join(emails),
        "DeleteThresholdEnabled": values["prevent_deletes"],
        "DeleteThresholdValue": int(values["delete_threshold"]),
    }
    carried = {k: v for k, v in saved.items() if k not in (*_CREDENTIAL_KEYS, *secrets)}
    if secrets.get("BaseAddress", "") != saved.get("BaseAddress", ""):
        # Another target: none of the old one's credentials (an OAuth client secret set over Graph, say) follow.
        carried = {k: v for k, v in carried.items() if k in _SETTING_KEYS}
    pairs = {
        **carried,
        **{k: v for k, v in secrets.items() if v},
        "SyncAll": "true" if values["scope"] == "all" else "false",
        "SyncNotificationSettings": json.dumps(notice),
    }
    try:
        service(admin).put_secrets(admin.page.tenant.id, detail.sp.id, pairs, actor=admin.principal)
    except DomainError as exc:
        errors = field_errors(exc, {"BaseAddress": "tenant_url"}, "_form")
        return _overview(admin, detail, 400, errors=errors, values=values)
    return admin.redirect(f"/apps/{detail.sp.id}/provisioning", done="saved")


_CREDENTIAL_KEYS = ("BaseAddress", "SecretToken", "CompanyId", "ClientIdentifier", "ClientSecret")
# Saved keys that configure the job rather than authenticate to its target.
_SETTING_KEYS = frozenset(
    {
        "SyncAll",
        "SyncNotificationSettings",
        "SkipOutOfScopeDeletions",
        "SynchronizationSchedule",
        "UpdateKeyOnSoftDelete",
    }
)


def _scim_secrets(
    admin: AdminPage, token: str, values: dict[str, Any], saved: dict[str, str], errors: dict[str, str]
) -> tuple[dict[str, str], tuple[str, ...]]:
    _ = admin._
    if not values["tenant_url"]:
        errors["tenant_url"] = _("Enter the tenant URL of the target (its SCIM base address).")
    elif not values["tenant_url"].startswith(("https://", "http://")) or len(values["tenant_url"]) > 2048:
        errors["tenant_url"] = _("Enter an http or https URL.")
    if not token and not saved.get("SecretToken"):
        errors["secret_token"] = _("Enter the secret token.")
    elif not token and values["tenant_url"] != saved.get("BaseAddress", ""):
        # A saved token goes only to the address it was typed for: otherwise changing the URL would send it elsewhere.
        errors["secret_token"] = _("Enter the secret token again for the new tenant URL.")
    secrets = {"BaseAddress": values["tenant_url"], "SecretToken": token or saved.get("SecretToken", "")}
    return secrets, ("tenant_url", "secret_token")


def _cross_tenant_secrets(
    admin: AdminPage,
    form: Form,
    values: dict[str, Any],
    current: dict[str, Any],
    saved: dict[str, str],
    errors: dict[str, str],
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The target tenant; for another deployment also its address and the client credentials of its app."""
    _ = admin._
    secret = form.get("client_secret")
    values.update(
        cts=True,
        target_tenant=form.get("target_tenant").strip()[:64],
        client_id=form.get("client_id").strip()[:256],
        client_secret_saved=current["client_secret_saved"],
        typed_secret=secret,
    )
    if not values["target_tenant"]:
        errors["target_tenant"] = _("Enter the target tenant's ID.")
    remote = bool(values["tenant_url"])
    if remote and (not values["tenant_url"].startswith(("https://", "http://")) or len(values["tenant_url"]) > 2048):
        errors["tenant_url"] = _("Enter an http or https URL.")
    if remote and not values["client_id"]:
        errors["client_id"] = _("Enter the client ID of the target tenant's app.")
    if remote and not secret and not saved.get("ClientSecret"):
        errors["client_secret"] = _("Enter the client secret.")
    elif (
        remote
        and not secret
        and any(
            saved.get(key, "") != value
            for key, value in (
                ("BaseAddress", values["tenant_url"]),
                ("ClientIdentifier", values["client_id"]),
                ("CompanyId", values["target_tenant"]),
            )
        )
    ):
        # A saved secret goes only where it was typed for: otherwise changing the address would send it elsewhere.
        errors["client_secret"] = _("Enter the client secret again for the new address, tenant or app.")
    secrets = {"AuthenticationType": "SyncPolicy", "CompanyId": values["target_tenant"]}
    if remote:
        secrets |= {
            "BaseAddress": values["tenant_url"],
            "ClientIdentifier": values["client_id"],
            "ClientSecret": secret or saved.get("ClientSecret", ""),
        }
    return secrets, ("target_tenant", "tenant_url", "client_id", "client_secret")


@router.post("/{tenant}/admin/apps/{sp_id}/provisioning/{action}")
async def lifecycle(admin: AppsDep, sp_id: str, action: str) -> Response:
    if action not in ("start", "pause", "restart", "allow-deletes", "reset-mappings"):
        return admin.not_found()
    detail = admin.app(sp_id)
    await admin.form()
    job = current_job(admin, detail)
    if job is None:
        return admin.not_found()
    prov, tid, actor = service(admin), admin.page.tenant.id, admin.principal
    try:
        if action == "start":
            prov.start(tid, detail.sp.id, job["id"], actor=actor)
        elif action == "pause":
            prov.pause(tid, detail.sp.id, job["id"], actor=actor)
        elif action == "restart":
            prov.restart(tid, detail.sp.id, job["id"], "Full", actor=actor)
        elif action == "allow-deletes":
            prov.restart(tid, detail.sp.id, job["id"], "ForceDeletes", actor=actor)
        else:
            prov.reset_schema(tid, detail.sp.id, job["id"], actor=actor)
    except DomainError as exc:
        return _overview(admin, detail, 400, errors={"_form": exc.message})
    _wake(admin)
    done = {"start": "started", "pause": "paused", "restart": "restarted", "allow-deletes": "deletes"}
    return admin.redirect(f"/apps/{detail.sp.id}/provisioning", done=done.get(action, "reset"))


@router.post("/{tenant}/admin/apps/{sp_id}/provisioning-run/{kind}")
async def run_now(admin: AppsDep, sp_id: str, kind: str) -> Response:
    """Provision on demand (one user or group, its steps shown) or a dry run (what a full cycle would do)."""
    if kind not in ("on-demand", "dry-run"):
        return admin.not_found()
    detail = admin.app(sp_id)
    form = await admin.form()
    _ = admin._
    job = current_job(admin, detail)
    if job is None:
        return admin.not_found()
    prov, tid = service(admin), admin.page.tenant.id
    try:
        if kind == "dry-run":
            result = prov.dry_run(tid, detail.sp.id, job["id"])
            return admin.render("portal/provisioning_run.html", d=detail, dry=result, results=None)
        key = form.get("subject").strip()[:256]
        user = admin.queries.find_user(key)
        group = None if user is not None else admin.queries.find_group(key)
        if user is None and group is None:
            return _overview(admin, detail, 400, errors={"subject": _("No user or group matches.")}, subject=key)
        subject = (user.id, "User") if user is not None else (group.id, "Group")  # type: ignore[union-attr]
        results = prov.provision_on_demand(tid, detail.sp.id, job["id"], [subject])
    except DomainError as exc:
        field = "subject" if kind == "on-demand" else "_form"
        return _overview(admin, detail, 400, errors={field: exc.message})
    # Provisioning on demand writes to the target: its steps are shown by a GET, so a reload does not run it again.
    return show_later(admin, "on-demand", f"/apps/{detail.sp.id}/provisioning-run/on-demand", {"results": results})


@router.get("/{tenant}/admin/apps/{sp_id}/provisioning-run/on-demand")
def on_demand_result(admin: AppsDep, sp_id: str) -> Response:
    detail = admin.app(sp_id)
    outcome = take(admin, "on-demand")
    if outcome is None:
        return gone(admin)
    return admin.render("portal/provisioning_run.html", d=detail, dry=None, results=outcome["results"])
