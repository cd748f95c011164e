"""docs/ARCHITECTURE.md's layer table states the import-linter contracts of pyproject.toml (which `make test` runs
with `lint-imports`): the same layers, in the same order, with the same packages, and every package of `hospes` in
exactly one layer, so that a new package cannot escape the rules."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def _contract_layers() -> list[set[str]]:
    layers = _contracts()["layers"]["layers"]
    assert isinstance(layers, list)
    return [{name.strip().removeprefix("hospes.") for name in re.split(r"[|:]", layer)} for layer in layers]


def _documented_layers() -> list[set[str]]:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")][1:]
    layers = []
    for row in rows:
        packages = row.split("|")[2]
        layers.append(
            {name.rstrip("/").removesuffix(".py") for name in re.findall(r"`([a-z_]+/?(?:\.py)?)`", packages)}
        )
    return layers


def test_architecture_table_states_the_layers_contract() -> None:
    assert _documented_layers() == _contract_layers()


def test_every_package_and_module_of_hospes_is_in_a_layer() -> None:
    package = ROOT / "src" / "hospes"
    names = {p.name.removesuffix(".py") for p in package.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    names -= {"__init__", "__main__"}
    layered = set().union(*_contract_layers())
    assert names == layered


def test_surfaces_are_independent_and_the_core_has_no_web_framework() -> None:
    contracts = _contracts()
    assert set(contracts["surfaces"]["modules"]) == {"hospes.graph", "hospes.web", "hospes.oauth", "hospes.cli"}
    framework = contracts["framework"]
    assert {"fastapi", "starlette"} <= set(framework["forbidden_modules"])
    assert {"hospes.domain", "hospes.services", "hospes.provisioning", "hospes.expressions", "hospes.storage"} <= set(
        framework["source_modules"]
    )


def test_no_module_is_over_500_lines() -> None:
    """A module past 500 lines is split along a seam (a cohesive group into a module named for what it is)."""
    too_long = {
        str(path.relative_to(ROOT)): count
        for path in sorted((ROOT / "src" / "hospes").rglob("*.py"))
        if (count := len(path.read_text().splitlines())) > 500
    }
    assert too_long == {}
