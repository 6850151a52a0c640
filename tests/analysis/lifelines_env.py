"""lifelines as its users install it: a Python that has it, to fit Kaplan-Meier curves in.

lifelines requires pandas < 3 and crm-sim's own environment has pandas 3, so the
two do not share one environment: a user fits lifelines in their own. The tests
do the same: the tables crm-sim writes (Parquet) are read by a Python where
``pip install lifelines pyarrow`` was run, in a subprocess. That Python is this
one if lifelines imports here, else a virtual environment the tests build once
(about a minute) in the user's cache folder. CI builds it (a build failure
fails the tests there); elsewhere a failed build skips them, saying why.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REQUIREMENTS = ("lifelines", "pyarrow")

FIT = r"""
import json, sys
import pandas as pd
from lifelines import KaplanMeierFitter

table = pd.read_parquet(sys.argv[1])
tenures = json.loads(sys.argv[2])
late = "entry" in table.columns
out = {}
for group, rows in table.groupby("group", sort=True):
    fitter = KaplanMeierFitter().fit(
        rows["duration"], rows["event"], entry=rows["entry"] + 0.5 if late else None
    )
    at = tenures[str(group)]
    band = fitter.confidence_interval_survival_function_
    band = band.reindex(band.index.union(at)).ffill().loc[at]
    out[str(group)] = {
        "survival": fitter.survival_function_at_times(at).tolist(),
        "lower": band.min(axis=1).tolist(),
        "upper": band.max(axis=1).tolist(),
    }
print(json.dumps(out))
"""
"""Kaplan-Meier per ``group`` at the given tenures: survival and the 95% band (ffilled)."""


def _has_lifelines(python: str) -> bool:
    probe = [python, "-c", "import lifelines, pyarrow"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def _cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    return Path(base) / "crm-sim" / "test-envs" / f"lifelines-{version}"


def _build(folder: Path) -> str:
    """The Python of a virtual environment with lifelines at ``folder``, built if missing."""
    python = folder / "bin" / "python"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:  # one builder at a time
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and _has_lifelines(str(python)):
            return str(python)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *REQUIREMENTS],
            check=True,
            capture_output=True,
            text=True,
        )
    return str(python)


def lifelines_python() -> str:
    """A Python that imports lifelines; skips (fails under CI=true) if none can be had."""
    if _has_lifelines(sys.executable):
        return sys.executable
    try:
        return _build(_cache())
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        message = f"cannot build a Python with lifelines at {_cache()}: {detail.strip()[-400:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def kaplan_meier_fits(python: str, table, tenures: dict, folder: Path) -> dict:
    """lifelines' fits of ``table`` (group, duration, event[, entry]) at ``tenures`` per group."""
    path = folder / "lifelines-input.parquet"
    table.to_parquet(path)
    at = {str(g): [int(t) for t in ts] for g, ts in tenures.items()}
    done = subprocess.run(
        [python, "-c", FIT, str(path), json.dumps(at)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
