"""``hospes sync status|start|pause|restart|logs``: the provisioning jobs of a tenant from the terminal.

Every command names the tenant (id or domain) and the app (service principal id, or the app's display name);
``--job`` is needed only when the app has more than one job. The commands call the same facade as the Graph
synchronization API (``hospes.provisioning.service.ProvisioningService``), so they see and do exactly what the
API and the admin portal do. ``status --watch`` follows a running cycle with a live progress bar.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.cli.common import ConfigOpt, console, deployment_box, err, fail, load, open_database, resolve_tenant_id
from hospes.digits import ascii_int
from hospes.domain.errors import DomainError
from hospes.domain.provisioning import RUNNING_CODES, SENT_ACTIONS, Status
from hospes.storage.tables import ServicePrincipal

# The provisioning package is imported by the commands that run, not at the top: it brings in httpx, the SCIM models
# and the expression compiler, about 0.5 s of CPU that every other ``hospes`` command would pay at start-up.
if TYPE_CHECKING:
    from hospes.provisioning.service import ProvisioningService

sync_app = typer.Typer(help="Provisioning jobs (SCIM sync to apps).", no_args_is_help=True)

TenantArg = Annotated[str, typer.Argument(help="Tenant id or verified domain.")]
AppArg = Annotated[str, typer.Argument(help="Service principal id or the app's display name.")]
JobOpt = Annotated[str | None, typer.Option("--job", help="Job id (needed only when the app has several jobs).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@dataclass
class Target:
    service: ProvisioningService
    tenant_id: str
    sp_id: str
    job_id: str
    app_name: str


def _service(config: str | None) -> tuple[ProvisioningService, sessionmaker[Session]]:
    from hospes.provisioning.service import ProvisioningService

    settings = load(config)
    sessions = open_database(settings).sessions
    return ProvisioningService(sessions, settings, deployment_box(settings, sessions)), sessions


def _app(sessions: sessionmaker[Session], tenant_id: str, key: str) -> tuple[str, str]:
    """(service principal id, display name) by id, or by display name (case-insensitive, must be unique)."""
    with sessions() as session:
        by_id = session.scalar(
            select(ServicePrincipal).where(ServicePrincipal.tenant_id == tenant_id, ServicePrincipal.id == key)
        )
        if by_id is not None:
            return by_id.id, by_id.display_name
        found = list(
            session.scalars(
                select(ServicePrincipal).where(
                    ServicePrincipal.tenant_id == tenant_id,
                    func.lower(ServicePrincipal.display_name) == key.lower(),
                )
            )
        )
    if not found:
        raise fail(f"no app '{key}' in this tenant (give its service principal id or display name)")
    if len(found) > 1:
        ids = ", ".join(sp.id for sp in found)
        raise fail(f"several apps are named '{key}'; give the service principal id ({ids})")
    return found[0].id, found[0].display_name


def _target(tenant: str, app: str, job: str | None, config: str | None) -> Target:
    service, sessions = _service(config)
    try:
        tenant_id = resolve_tenant_id(sessions, tenant)
        sp_id, name = _app(sessions, tenant_id, app)
        jobs = [j["id"] for j in service.list_jobs(tenant_id, sp_id)]
    except DomainError as exc:
        raise fail(exc.message) from None
    if job is None:
        if not jobs:
            raise fail(f"'{name}' has no provisioning job (create one with templateId 'scim')")
        if len(jobs) > 1:
            raise fail(f"'{name}' has several jobs; choose one with --job ({', '.join(jobs)})")
        job = jobs[0]
    elif job not in jobs:
        raise fail(f"'{name}' has no job '{job}'")
    return Target(service, tenant_id, sp_id, job, name)


def _when(value: str | None) -> str:
    if not value or value.startswith("0001-"):
        return "-"
    return value.replace("T", " ").replace("Z", " UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def status_table(status: dict[str, Any]) -> Table:
    table = Table(show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("status", status.get("code", "?"))
    quarantine = status.get("quarantine")
    if quarantine:
        error = quarantine.get("error") or {}
        table.add_row(
            "quarantine",
            f"[red]{quarantine.get('reason')}[/red] since {_when(quarantine.get('currentBegan'))}; "
            f"next attempt {_when(quarantine.get('nextAttempt'))}"
            + (f"\n{error.get('message')}" if error.get("message") else ""),
        )
    for progress in status.get("progress") or []:
        done, total = progress.get("completedUnits", 0), progress.get("totalUnits", 0)
        table.add_row(
            "progress",
            f"{done}/{total} {str(progress.get('units', 'objects')).lower()} ({progress.get('cycleKind') or 'cycle'})"
            f", {progress.get('ratePerSecond', 0)}/s, ETA {_duration(progress.get('estimatedSecondsLeft'))}",
        )
    last = status.get("lastExecution")
    if last:
        table.add_row(
            "last cycle",
            f"{last.get('state')} · began {_when(last.get('timeBegan'))} · ended {_when(last.get('timeEnded'))}",
        )
        counts = ", ".join(
            f"{label} {last.get(key)}"
            for label, key in (
                ("imported", "countImported"),
                ("exported", "countExported"),
                ("escrowed", "countEscrowed"),
            )
            if last.get(key) is not None
        )
        if counts:
            table.add_row("last cycle counts", counts)
        if (last.get("error") or {}).get("message"):
            table.add_row("last error", str(last["error"]["message"]))
    by_type = {pair["key"]: pair["value"] for pair in status.get("synchronizedEntryCountByType") or []}
    table.add_row("synchronized", ", ".join(f"{k} {v}" for k, v in by_type.items()) or "0")
    table.add_row("escrowed now", str(status.get("countEscrowed", 0)))
    table.add_row("steady state", _when(status.get("steadyStateLastAchievedTime")))
    return table


def _watch(target: Target, interval: float, timeout: float | None) -> bool:
    """Follow the running cycle until it ends; False when ``timeout`` passed first.

    A cycle is running while its id differs from the last execution's ``activityIdentifier`` (the engine writes
    that when the cycle ends, succeeded or failed); done/total alone cannot tell, as both are 0 while it counts.
    """
    started = time.monotonic()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}/s  ETA {task.fields[eta]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("waiting for a cycle", total=None, rate="0", eta="unknown")
        seen_running = False
        while True:
            status = target.service.status(target.tenant_id, target.sp_id, target.job_id)
            progress = target.service.progress(target.tenant_id, target.sp_id, target.job_id)
            ended = (status.get("lastExecution") or {}).get("activityIdentifier")
            running = progress.cycle_id is not None and progress.cycle_id != ended
            if running:
                seen_running = True
                bar.update(
                    task,
                    description=f"{progress.kind or 'cycle'} {progress.cycle_id}",
                    total=progress.total or None,  # unknown while the cycle counts its objects
                    completed=progress.done,
                    rate=f"{progress.rate:.1f}",
                    eta=_duration(progress.eta_seconds),
                )
            elif seen_running or progress.cycle_id is not None:
                bar.update(
                    task,
                    description=f"{progress.kind or 'cycle'} {progress.cycle_id} ended",
                    total=progress.total,
                    completed=progress.done,
                    rate=f"{progress.rate:.1f}",
                    eta="0:00",
                )
                return True
            elif status["code"] not in RUNNING_CODES:
                bar.update(task, description=f"no cycle: the job is {status['code']}")
                return True  # nothing will run until the job is started
            if timeout is not None and time.monotonic() - started > timeout:
                return False
            time.sleep(interval)


@sync_app.command("status")
def status(
    tenant: TenantArg,
    app: AppArg,
    job: JobOpt = None,
    watch: Annotated[bool, typer.Option("--watch", help="Follow a running cycle with a live progress bar.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes with --watch.")] = 1.0,
    timeout: Annotated[float | None, typer.Option(help="Stop watching after this many seconds.")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """The job's status: code, quarantine, progress of the running cycle, last cycle and counts."""
    target = _target(tenant, app, job, config)
    if watch and not _watch(target, interval, timeout):
        err.print("[yellow]still running when --timeout passed[/yellow]")
    current = target.service.status(target.tenant_id, target.sp_id, target.job_id)
    if as_json:
        typer.echo(json.dumps(current))
        return
    console.print(f"[bold]{target.app_name}[/bold] · {target.job_id}", soft_wrap=True)
    console.print(status_table(current))


def _act(action: str, tenant: str, app: str, job: str | None, config: str | None, **kw: Any) -> None:
    target = _target(tenant, app, job, config)
    try:
        getattr(target.service, action)(target.tenant_id, target.sp_id, target.job_id, **kw)
    except DomainError as exc:
        raise fail(exc.message) from None
    code = target.service.status(target.tenant_id, target.sp_id, target.job_id)["code"]
    console.print(f"{target.app_name} ({target.job_id}): {action} done, status {code}")


@sync_app.command("start")
def start(tenant: TenantArg, app: AppArg, job: JobOpt = None, config: ConfigOpt = None) -> None:
    """Turn provisioning on: the initial cycle, then changes within seconds."""
    _act("start", tenant, app, job, config)


@sync_app.command("pause")
def pause(tenant: TenantArg, app: AppArg, job: JobOpt = None, config: ConfigOpt = None) -> None:
    """Stop after the objects in flight; start resumes where it stopped."""
    _act("pause", tenant, app, job, config)


@sync_app.command("restart")
def restart(
    tenant: TenantArg,
    app: AppArg,
    job: JobOpt = None,
    reset_scope: Annotated[
        str | None,
        typer.Option(
            "--reset-scope",
            help="Comma-separated: Watermark, Escrows, QuarantineState, ConnectorDataStore, ForceDeletes, Full. "
            "Default: Watermark, Escrows, QuarantineState.",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Restart the job (a full re-evaluation by default); ForceDeletes lets held deletions through."""
    _act("restart", tenant, app, job, config, reset_scope=reset_scope)


def _since(value: str) -> dt.datetime:
    """``2026-12-01``, an ISO timestamp, or a relative ``15m`` / ``2h`` / ``3d``."""
    units = {"m": 60, "h": 3600, "d": 86400}
    count = ascii_int(value[:-1])
    if value[-1:] in units and count is not None:
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=count * units[value[-1]])
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter("use 2026-12-01, 2026-12-01T10:00:00Z or 15m / 2h / 3d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


_STATUS_STYLE: dict[str, str] = {
    Status.SUCCESS: "green",
    Status.FAILURE: "red",
    Status.SKIPPED: "dim",
    Status.WARNING: "yellow",
}


@sync_app.command("logs")
def logs(
    tenant: TenantArg,
    app: AppArg,
    job: JobOpt = None,
    status_: Annotated[str | None, typer.Option("--status", help="success, failure, skipped or warning.")] = None,
    action: Annotated[str | None, typer.Option(help="create, update, disable, delete or other.")] = None,
    since: Annotated[str | None, typer.Option(help="2026-12-01, an ISO time, or 15m / 2h / 3d ago.")] = None,
    cycle: Annotated[str | None, typer.Option(help="Only this cycle id.")] = None,
    identity: Annotated[
        str | None, typer.Option(help="Source or target object id, or part of the display name.")
    ] = None,
    top: Annotated[int, typer.Option(help="How many entries (newest first).")] = 50,
    details: Annotated[bool, typer.Option(help="Show the steps and the error of each entry.")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Provisioning log entries of the job, newest first, with filters."""
    from hospes.provisioning.logs import LogQuery

    if status_ is not None and status_ not in _STATUS_STYLE:
        raise typer.BadParameter("success, failure, skipped or warning", param_hint="--status")
    target = _target(tenant, app, job, config)
    query = LogQuery(
        job_id=target.job_id,
        sp_id=target.sp_id,
        status=status_,
        action=action,
        since=_since(since) if since else None,
        cycle_id=cycle,
        top=max(1, min(top, 1000)),
    )
    if identity:
        # An id matches either side; anything else is a display-name search.
        if "-" in identity and " " not in identity and len(identity) >= 32:
            query.identity_id = identity
        else:
            query.identity_name = identity
    try:
        page = target.service.logs(target.tenant_id, query)
    except DomainError as exc:
        raise fail(exc.message) from None
    if as_json:
        typer.echo(json.dumps(page.items))
        return
    console.print(f"[bold]Provisioning logs[/bold] · {target.app_name} · {target.job_id}", soft_wrap=True)
    table = Table(show_lines=details)
    for column in ("time", "action", "status", "type", "object", "target id", "details" if details else "error"):
        table.add_column(column)
    for item in page.items:
        info = item.get("provisioningStatusInfo") or {}
        state = str(info.get("status"))
        error = info.get("errorInformation") or {}
        source = item.get("sourceIdentity") or {}
        if details:
            steps = "\n".join(
                f"{s.get('provisioningStepType')}: {s.get('status')} · {s.get('description')}"
                for s in item.get("provisioningSteps") or []
            )
            changed = ", ".join(str(p.get("displayName")) for p in item.get("modifiedProperties") or [])
            extra = steps + (f"\nchanged: {changed}" if changed else "")
            if error.get("reason"):
                extra += f"\n[red]{error.get('errorCode')}: {error.get('reason')}[/red]"
        else:
            extra = f"{error.get('errorCode') or ''} {error.get('reason') or ''}".strip()
        table.add_row(
            _when(item.get("activityDateTime")),
            str(item.get("provisioningAction")),
            f"[{_STATUS_STYLE.get(state, 'white')}]{state}[/]",
            str(source.get("identityType")),
            f"{source.get('displayName') or ''}\n{source.get('id')}",
            str((item.get("targetIdentity") or {}).get("id") or "-"),
            extra,
        )
    console.print(table)
    if page.next:
        console.print(f"[dim]more entries: raise --top or narrow with --since/--status ({len(page.items)} shown)[/dim]")


@sync_app.command("dry-run")
def dry_run(
    tenant: TenantArg,
    app: AppArg,
    job: JobOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """What a full cycle would create, update, disable and delete now, without a request to the target."""
    target = _target(tenant, app, job, config)
    try:
        plan = target.service.dry_run(target.tenant_id, target.sp_id, target.job_id)
    except DomainError as exc:
        raise fail(exc.message) from None
    if as_json:
        typer.echo(json.dumps(plan))
        return
    summary = plan["summary"]
    console.print(
        f"[bold]{target.app_name}[/bold]: {plan['evaluated']} objects evaluated; "
        + ", ".join(f"{summary.get(a, 0)} to {a}" for a in SENT_ACTIONS),
        soft_wrap=True,
    )
    if plan.get("wouldExceedDeletionThreshold"):
        console.print(
            f"[red]the deletion threshold ({plan['deletionThreshold']}) would stop this cycle[/red]: "
            "restart with --reset-scope ForceDeletes to let the deletions through"
        )
    table = Table()
    for column in ("action", "type", "object", "changes"):
        table.add_column(column)
    for action in plan["actions"]:
        changes = ", ".join(
            f"{p['displayName']}: {p.get('oldValue')!s} → {p.get('newValue')!s}" for p in action["modifiedProperties"]
        )
        table.add_row(
            action["action"],
            action["objectType"],
            f"{action.get('displayName') or ''}\n{action['sourceId']}",
            changes or str(action.get("reason") or ""),
        )
    console.print(table)
