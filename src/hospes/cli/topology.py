"""``hospes topology plan|apply FILE``: cross-tenant synchronization between the tenants of this deployment,
declared in one file: TOML (``.toml``, read by the standard library's ``tomllib``) or JSON (``.json``); no YAML,
which would add a dependency (docs/cross-tenant-sync.md, "Topologies").

``plan`` prints every partner setting, configuration app and job that ``apply`` would create, change or remove,
and writes nothing; ``apply`` makes them so (idempotent: a second apply changes nothing). Both use the planner of
``domain/topology.py`` and the services Graph uses.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from hospes.auth.crypto import secret_box
from hospes.cli.common import ConfigOpt, console, fail, load, open_database
from hospes.domain import topology as topo
from hospes.domain.errors import DomainError

if TYPE_CHECKING:  # the provisioning package is imported by the commands that run (see cli/sync.py)
    from hospes.provisioning.topology import Topologies

topology_app = typer.Typer(help="Cross-tenant synchronization topologies (mesh, single resource tenant).")
FileArg = Annotated[Path, typer.Argument(help="The topology file (.toml or .json).")]
MAX_FILE_BYTES = 1 << 20
_COLOURS = {"create": "green", "change": "yellow", "remove": "red"}


def read_file(path: Path) -> topo.Declaration:
    """The declaration in ``path``; the format follows the file's extension."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise fail(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    suffix = path.suffix.lower()
    try:
        data: Any
        if suffix == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        elif suffix == ".json":
            data = json.loads(raw)
        else:
            raise fail(f"{path}: a topology file is .toml or .json")
    except (ValueError, UnicodeDecodeError) as exc:
        raise fail(f"{path} is not valid {suffix[1:].upper()}: {exc}") from None
    try:
        return topo.parse(data)
    except topo.TopologyError as exc:
        raise fail(f"{path}: {exc.message}") from None


def _topologies(config: str | None) -> Topologies:
    from hospes.provisioning.service import ProvisioningService
    from hospes.provisioning.topology import Topologies

    settings = load(config)
    sessions = open_database(settings).sessions
    box = secret_box(settings.secret_key, settings.data_dir)
    return Topologies(sessions, ProvisioningService(sessions, settings, box))


def _table(changes: list[topo.Change], names: dict[str, str]) -> Table:
    table = Table(title="Changes")
    for column in ("", "what", "in tenant", "for", "detail"):
        table.add_column(column)
    for change in changes:
        colour = _COLOURS[change.verb]
        table.add_row(
            f"[{colour}]{change.verb}[/{colour}]",
            change.kind,
            names.get(change.tenant, change.tenant),
            change.subject,
            change.detail,
        )
    return table


def _plan(file: Path, config: str | None) -> tuple[Topologies, topo.Declaration, list[topo.Change], topo.Current]:
    declaration = read_file(file)
    topologies = _topologies(config)
    try:
        changes, current = topologies.plan(declaration)
    except DomainError as exc:
        raise fail(exc.message) from None
    return topologies, declaration, changes, current


def _summary(changes: list[topo.Change]) -> str:
    counts = {verb: sum(1 for c in changes if c.verb == verb) for verb in ("create", "change", "remove")}
    return ", ".join(f"{n} to {verb}" for verb, n in counts.items())


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the changes as JSON (an empty list: no change).")]


def _json(changes: list[topo.Change], names: dict[str, str]) -> str:
    return json.dumps(
        [
            {
                "action": c.verb,
                "kind": c.kind,
                "tenantId": c.tenant,
                "tenant": names.get(c.tenant, c.tenant),
                "subject": c.subject,
                "detail": c.detail,
            }
            for c in changes
        ],
        indent=2,
        ensure_ascii=False,
    )


@topology_app.command("plan")
def plan(file: FileArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Print what apply would create, change or remove; write nothing."""
    _, declaration, changes, current = _plan(file, config)
    if as_json:
        typer.echo(_json(changes, current.names))
        return
    if not changes:
        console.print(f"Topology [bold]{declaration.name}[/bold]: no change.")
        return
    console.print(_table(changes, current.names))
    console.print(f"Topology [bold]{declaration.name}[/bold]: {_summary(changes)}.")


@topology_app.command("apply")
def apply(file: FileArg, config: ConfigOpt = None) -> None:
    """Make the deployment what the file declares (partner settings, configuration apps, jobs)."""
    topologies, declaration, changes, current = _plan(file, config)
    if not changes:
        console.print(f"Topology [bold]{declaration.name}[/bold]: no change.")
        return
    console.print(_table(changes, current.names))

    def done(change: topo.Change) -> None:
        if change.op != "none":
            console.print(f"  done: {change.verb} {change.kind} in {current.names.get(change.tenant, change.tenant)}")

    try:
        topologies.apply(declaration.name, changes, current, done)
    except DomainError as exc:
        raise fail(f"{exc.message} (run apply again once fixed: it goes on from there)") from None
    console.print(f"Topology [bold]{declaration.name}[/bold]: applied ({_summary(changes)}).")
