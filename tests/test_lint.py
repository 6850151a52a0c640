"""ruff finds nothing and the code is ruff-formatted: CI lints as pre-commit does.

The test extra pins ruff (pyproject.toml) and ``.pre-commit-config.yaml``
pins the same version, so a commit checked by pre-commit passes here and a
new ruff release brings no findings unannounced. Settings: ``[tool.ruff]``
in pyproject.toml.
"""

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def ruff(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments, "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ruff_check_finds_nothing():
    done = ruff("check")
    assert done.returncode == 0, f"ruff check .:\n{done.stdout[-8000:]}\n{done.stderr[-2000:]}"


def test_the_code_is_ruff_formatted():
    done = ruff("format", "--check")
    assert done.returncode == 0, f"ruff format --check .:\n{done.stdout[-4000:]}"


def test_pre_commit_runs_the_ruff_the_tests_pin():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (hooks,) = [r for r in config["repos"] if r["repo"].endswith("/ruff-pre-commit")]
    assert {"ruff-check", "ruff-format"} <= {hook["id"] for hook in hooks["hooks"]}
    installed = importlib.metadata.version("ruff")
    assert hooks["rev"] == f"v{installed}"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    extra = pyproject["project"]["optional-dependencies"]["test"]
    assert f"ruff=={installed}" in extra
