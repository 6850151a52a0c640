"""The architecture holds: import-linter's contracts, and no private names across modules.

The contracts are ``[tool.importlinter]`` in pyproject.toml: the layers (cli
on top, then dashboard | benchmarks, experiments, analysis, store, sim), sim
importing none of the rest, analysis never importing experiments (the runner,
the sweep: it never runs a model), store knowing no scenario, and no import
cycles inside any package. ``lint-imports`` checks them here, so CI does.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "store", "analysis", "experiments", "cli", "dashboard", "benchmarks")


def test_import_contracts_are_kept(tmp_path):
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.exists():
        pytest.fail(f"{lint_imports} is missing: pip install -e '.[test]' installs import-linter")
    done = subprocess.run(
        [str(lint_imports), "--cache-dir", str(tmp_path / "cache")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"lint-imports found broken contracts (exit {done.returncode}):\n"
        f"{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    )
    assert "0 broken" in done.stdout


def private_imports(path: Path) -> list[str]:
    """``from <project module> import _name`` statements in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        ours = node.level > 0 or module.split(".")[0] in PACKAGES
        for alias in node.names:
            if ours and alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append(
                    f"{path.relative_to(REPO)}:{node.lineno}: from "
                    f"{'.' * node.level}{module} import {alias.name}"
                )
    return found


def test_no_module_imports_another_modules_private_names():
    """Shared helpers are public functions of one module (e.g. experiments.schema)."""
    files = [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]
    assert files
    found = [line for path in files for line in private_imports(path)]
    assert not found, "private names imported across modules:\n" + "\n".join(found)
