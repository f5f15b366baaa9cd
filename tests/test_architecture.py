"""The layers of docs/architecture.md hold: import-linter's contracts pass and cover every module."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT / "scheduler"

# Modules at the HTTP edge: they may import aiohttp; everything else at the top level is domain.
HTTP_EDGE = {"__main__", "app", "http", "http_errors", "jobs", "keys", "ops_access", "ratelimit",
             "security_headers"}
ADAPTER_PACKAGES = {"channels", "api", "staff"}
INFRASTRUCTURE_PACKAGES = {"notify"}  # the outbox worker and providers: domain may call them, they may use aiohttp


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _top_level() -> set[str]:
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    return modules | packages


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=PROJECT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_top_level_module_is_placed_in_a_layer() -> None:
    domain = {m.removeprefix("scheduler.") for m in _contracts()["domain-without-web"]["source_modules"]}
    placed = domain | HTTP_EDGE | ADAPTER_PACKAGES | INFRASTRUCTURE_PACKAGES | {"kiosk", "demo", "locale"}
    unplaced = _top_level() - placed
    assert not unplaced, f"add these to a contract in pyproject.toml or to HTTP_EDGE here: {sorted(unplaced)}"
    assert not domain & HTTP_EDGE


def test_the_policy_contract_forbids_every_other_module() -> None:
    forbidden = {m.removeprefix("scheduler.") for m in _contracts()["policy-is-pure"]["forbidden_modules"]}
    others = _top_level() - {"policy", "kiosk", "demo", "locale"}
    assert others <= forbidden, f"missing from policy-is-pure: {sorted(others - forbidden)}"


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(PROJECT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long
