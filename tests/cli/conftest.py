"""Shared helpers of the command-line tests: tiny scenarios and a subprocess runner."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_PY = REPO / "run.py"

TINY = """\
name: tiny
market:
  setting: traditional
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
  - {name: C, strategy: velcro}
simulation:
  customers: 300
  periods: 12
  seed: 5
  replications: 3
sweep:
  grid:
    market.setting: [traditional, ecommerce]
"""
"""2 points x 3 replications of a 300-customer, 12-period market: 6 runs, well under a second."""


@pytest.fixture(scope="session")
def tiny_text() -> str:
    """The text of the tiny scenario."""
    return TINY


@pytest.fixture(scope="session")
def run_py() -> Path:
    """The command-line script."""
    return RUN_PY


@pytest.fixture
def write_scenario(tmp_path):
    """Write YAML text (dedented) to ``tmp_path/<name>`` and return the path."""

    def write(text: str = TINY, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_cli(tmp_path):
    """Run ``python run.py ARGS...`` in ``tmp_path``; return the CompletedProcess."""

    def run(*args, timeout: float = 180, cwd: Path | None = None):
        return subprocess.run(
            [sys.executable, str(RUN_PY), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or tmp_path,
        )

    return run


@pytest.fixture
def snapshot():
    """``snapshot(folder)``: every path under it with size and mtime (to prove it untouched)."""

    def take(folder: Path) -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))
        }

    return take
