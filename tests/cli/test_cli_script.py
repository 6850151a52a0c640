"""The ``crm-sim`` command is ``python run.py``: one entry function, the same help, one version.

pyproject's ``[project.scripts]`` must name ``crm-sim`` (the test fails, not
skips, when it does not), and the function it names must be the one run.py
calls. Their help is compared as printed by processes of their own: run.py,
and the entry point run the way pip's script runs it; the installed script
itself too where it is installed (``pip install -e '.[test]'`` puts it next
to the interpreter; an older install skips that part and says so). The
version comes from pyproject alone, read through the installed metadata.
"""

import ast
import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGES = PYPROJECT["tool"]["setuptools"]["packages"]


def entry_point() -> tuple[str, str]:
    """The module and function ``crm-sim`` runs, from pyproject's ``[project.scripts]``."""
    scripts = PYPROJECT["project"].get("scripts", {})
    assert "crm-sim" in scripts, "pyproject.toml has no crm-sim in [project.scripts]"
    module, _, function = scripts["crm-sim"].partition(":")
    assert module and function, scripts["crm-sim"]
    return module, function


def output(command: list[str]) -> str:
    """What ``command`` prints, run from the checkout with the checkout's packages first."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path, "COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def run_py(*arguments: str) -> str:
    return output([sys.executable, "run.py", *arguments])


def script(*arguments: str) -> str:
    """The entry point, called as pip's ``crm-sim`` script calls it."""
    module, function = entry_point()
    code = (
        f"import sys; from {module} import {function}; sys.argv[0] = 'crm-sim'; "
        f"sys.exit({function}())"
    )
    return output([sys.executable, "-c", code, *arguments])


def test_the_script_runs_the_function_run_py_runs():
    module, function = entry_point()
    spec = importlib.util.spec_from_file_location("run_py_script", REPO / "run.py")
    run_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_module)  # not as __main__: it only imports
    assert getattr(importlib.import_module(module), function) is run_module.main


def test_the_script_s_package_is_installed_with_the_project():
    module, _ = entry_point()
    assert module.split(".")[0] in PACKAGES


def test_crm_sim_help_is_run_py_help():
    assert script("--help") == run_py("--help")
    assert script("run", "--help") == run_py("run", "--help")
    assert script("bench", "--help") == run_py("bench", "--help")


def test_the_installed_crm_sim_prints_run_py_help():
    installed = Path(sys.executable).parent / "crm-sim"
    if not installed.exists():
        pytest.skip(f"{installed} is not installed yet: pip install -e '.[test]' installs it")
    assert output([str(installed), "--help"]) == run_py("--help")
    assert output([str(installed), "--version"]) == run_py("--version")


def test_the_version_is_pyproject_s():
    installed = importlib.metadata.version("crm-sim")
    assert installed == PYPROJECT["project"]["version"], (
        "the installed metadata is older than pyproject.toml: pip install -e '.[test]'"
    )
    assert run_py("--version") == script("--version") == f"crm-sim {installed}\n"


def test_no_package_keeps_a_version_of_its_own():
    """One source: pyproject's ``version``; code reads it with importlib.metadata."""
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                targets = node.targets if isinstance(node, ast.Assign) else []
                found += [
                    f"{path.relative_to(REPO)}:{node.lineno}"
                    for target in targets
                    if isinstance(target, ast.Name) and target.id == "__version__"
                ]
    assert not found, found


def test_every_package_the_command_line_imports_is_installed():
    """A wheel holds only pyproject's packages: each top-level import of the code must be one
    of them or a dependency (benchmarks, which ``bench`` imports, was once left out)."""
    ours = {path.parent.name for path in REPO.glob("*/__init__.py")}
    imported = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
                elif isinstance(node, ast.Import):
                    imported.update(alias.name.split(".")[0] for alias in node.names)
    assert imported & ours <= set(PACKAGES), sorted((imported & ours) - set(PACKAGES))
