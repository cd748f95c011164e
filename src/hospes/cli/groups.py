"""``hospes group rule validate|set|pause|resume|process|status``: dynamic groups' membership rules from the
terminal, through the same services as Graph and the portal (``services/dynamic_groups.py``, the group write
path, the processor of ``workers.py``)."""

from __future__ import annotations

import json
import os
import socket
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.cli.common import ConfigOpt, console, fail, load, open_database, resolve_tenant_id
from hospes.domain.errors import DomainError
from hospes.domain.principals import system_principal
from hospes.membership_rules import RuleError, compile_rule
from hospes.services.dynamic_groups import DynamicGroupService
from hospes.services.groups import GroupService
from hospes.storage.tables import Group, GroupMember

group_app = typer.Typer(help="Groups.", no_args_is_help=True)
rule_app = typer.Typer(help="Dynamic groups' membership rules.", no_args_is_help=True)
group_app.add_typer(rule_app, name="rule")

TenantArg = Annotated[str, typer.Argument(help="Tenant id or verified domain.")]
GroupArg = Annotated[str, typer.Argument(help="Group id or display name.")]


def _open(config: str | None, tenant: str) -> tuple[sessionmaker[Session], str]:
    sessions = open_database(load(config)).sessions
    try:
        return sessions, resolve_tenant_id(sessions, tenant)
    except DomainError as exc:
        raise fail(exc.message) from None


def _group(sessions: sessionmaker[Session], tenant_id: str, key: str) -> Group:
    with sessions() as session:
        live = [Group.tenant_id == tenant_id, Group.deleted_at.is_(None)]
        found = session.scalar(select(Group).where(*live, Group.id == key))
        if found is not None:
            return found
        named = list(session.scalars(select(Group).where(*live, func.lower(Group.display_name) == key.lower())))
    if len(named) != 1:
        raise fail(f"no single group '{key}' in this tenant (give its id or its unique display name)")
    return named[0]


def _user_ids(sessions: sessionmaker[Session], tenant_id: str, keys: list[str]) -> list[str]:
    ids, missing = DynamicGroupService(sessions, system_principal(tenant_id)).resolve_users(keys)
    if missing:
        raise fail(f"no user '{missing[0]}' in this tenant")
    return ids


def _run(action: str, call: object) -> None:
    try:
        if callable(call):
            call()
    except DomainError as exc:
        raise fail(exc.message) from None
    console.print(action)


@rule_app.command("validate")
def validate(
    rule: Annotated[str, typer.Argument(help="The rule, e.g. 'user.department -eq \"Sales\"'.")],
    tenant: Annotated[str | None, typer.Option("--tenant", help="Check it against users of this tenant.")] = None,
    user: Annotated[list[str] | None, typer.Option("--user", help="User id or UPN (repeatable, up to 20).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Check RULE (exit 1 with the error and its position); with --tenant and --user, say who matches and why."""
    try:
        compiled = compile_rule(rule)
    except RuleError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        typer.echo(rule.replace("\n", " "), err=True)
        typer.echo(" " * (exc.position - 1) + "^", err=True)
        raise typer.Exit(1) from None
    if not (tenant and user):
        console.print("valid; reads: " + (", ".join(sorted(compiled.reads)) or "nothing Hospes stores"))
        for name in compiled.unstored:
            console.print(f"note: Hospes keeps no value for user.{name}: it is always null", markup=False)
        return
    sessions, tenant_id = _open(config, tenant)
    service = DynamicGroupService(sessions, system_principal(tenant_id))
    try:
        _, results = service.evaluate(rule, None, _user_ids(sessions, tenant_id, user))
    except DomainError as exc:
        raise fail(exc.message) from None
    if as_json:
        out = [{"id": r.user.id, "userPrincipalName": r.user.user_principal_name, "member": r.result} for r in results]
        typer.echo(json.dumps(out))
        return
    table = Table("user", "member", "why")
    for r in results:
        why = r.error or "; ".join(
            f"{d.expression} → {d.result} ({d.property_name}={d.property_value!r})"
            for d in (r.detail.children or (r.detail,) if r.detail else ())
        )
        table.add_row(r.user.user_principal_name, {True: "yes", False: "no", None: "unknown"}[r.result], why)
    console.print(table)


@rule_app.command("set")
def set_rule(
    tenant: TenantArg,
    group: GroupArg,
    rule: Annotated[str, typer.Argument(help="The membership rule.")],
    paused: Annotated[bool, typer.Option("--paused", help="Save it with processing paused.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Make GROUP dynamic with RULE (or change its rule): its members then follow the rule."""
    sessions, tenant_id = _open(config, tenant)
    found = _group(sessions, tenant_id, group)
    types = sorted({*(found.group_types or []), "DynamicMembership"})
    values = {
        "group_types": types,
        "membership_rule": rule,
        "membership_rule_processing_state": "Paused" if paused else "On",
    }
    groups = GroupService(sessions, system_principal(tenant_id))
    _run(f"rule saved on {found.display_name}", lambda: groups.update(found.id, values, []))


def _state(config: str | None, tenant: str, group: str, state: str) -> None:
    sessions, tenant_id = _open(config, tenant)
    found = _group(sessions, tenant_id, group)
    groups = GroupService(sessions, system_principal(tenant_id))
    values = {"membership_rule_processing_state": state}
    _run(f"{found.display_name}: processing {state}", lambda: groups.update(found.id, values, []))


@rule_app.command("pause")
def pause(tenant: TenantArg, group: GroupArg, config: ConfigOpt = None) -> None:
    """Freeze GROUP's membership (its rule is kept)."""
    _state(config, tenant, group, "Paused")


@rule_app.command("resume")
def resume(tenant: TenantArg, group: GroupArg, config: ConfigOpt = None) -> None:
    """Process GROUP's rule again (a full pass catches up with what changed meanwhile)."""
    _state(config, tenant, group, "On")


@rule_app.command("process")
def process(tenant: TenantArg, group: GroupArg, config: ConfigOpt = None) -> None:
    """Process GROUP's rule now: here, unless a running server holds the tenant (then it does, within a second)."""
    from hospes.services.dynamic_processing import MembershipProcessor

    sessions, tenant_id = _open(config, tenant)
    found = _group(sessions, tenant_id, group)
    service = DynamicGroupService(sessions, system_principal(tenant_id))
    _run(f"{found.display_name}: processing requested", lambda: service.process_now(found.id))
    processor = MembershipProcessor(sessions, f"cli:{socket.gethostname()}:{os.getpid()}")
    if not processor.claim(tenant_id):
        console.print("a running server processes this tenant; it picks the request up")
        return
    try:
        while processor.run_tenant(tenant_id):
            pass
    finally:
        processor.release()
    _print_status(sessions, tenant_id, found)


@rule_app.command("status")
def status(tenant: TenantArg, group: GroupArg, config: ConfigOpt = None) -> None:
    """GROUP's rule, processing state and status, last membership change and member count."""
    sessions, tenant_id = _open(config, tenant)
    _print_status(sessions, tenant_id, _group(sessions, tenant_id, group))


def _print_status(sessions: sessionmaker[Session], tenant_id: str, group: Group) -> None:
    found = DynamicGroupService(sessions, system_principal(tenant_id)).statuses([group.id]).get(group.id)
    with sessions() as session:
        fresh = session.get(Group, group.id)
        count = session.scalar(
            select(func.count())
            .select_from(GroupMember)
            .where(GroupMember.group_id == group.id, GroupMember.relation == "member")
        )
    table = Table(show_header=False)
    table.add_row("group", f"{group.display_name} ({group.id})")
    table.add_row("rule", (fresh.membership_rule if fresh else None) or "-")
    table.add_row("processing", (fresh.membership_rule_processing_state if fresh else None) or "-")
    table.add_row("status", found.status if found else "-")
    table.add_row("pending", "yes" if found and found.pending else "no")
    when = found.last_membership_updated if found else None
    table.add_row("last membership change", when.isoformat(timespec="seconds") if when else "-")
    table.add_row("error", (found.error if found else None) or "-")
    table.add_row("member count", str(count or 0))
    console.print(table)
