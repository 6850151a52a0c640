"""Issue 23, acceptance: a full disk mid-sweep fails in one line, leaves no partial Parquet file,
and ``--resume`` completes the run once there is room again.

The disk fills up in a subprocess: there, Parquet writes fail with ENOSPC after a few files,
having written half a file first (as a full disk does). On main this was a traceback.
"""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hostile_helpers import one_line_error

ROOT = Path(__file__).resolve().parents[2]

SWEEP = """\
firms: [{name: A, strategy: clasp}, {name: B, strategy: zipper}]
simulation: {customers: 200, periods: 12, seed: 9, replications: 6}
"""

FULL_DISK = """\
import errno, runpy, sys
import pyarrow.parquet as pq

real, writes, room = pq.write_table, 0, int(sys.argv[1])

def write_table(table, where, *args, **kwargs):
    global writes
    writes += 1
    if writes > room:
        with open(where, "wb") as half:
            half.write(b"PAR1 and then no more room")
        raise OSError(errno.ENOSPC, "No space left on device", str(where))
    return real(table, where, *args, **kwargs)

pq.write_table = write_table
sys.argv = ["run.py", *sys.argv[2:]]
runpy.run_path("run.py", run_name="__main__")
"""


def command(*args, full_after: int | None = None) -> subprocess.CompletedProcess:
    prefix = ["-c", FULL_DISK, str(full_after)] if full_after is not None else ["run.py"]
    return subprocess.run(
        [sys.executable, *prefix, *map(str, args)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_full_disk_fails_in_one_line_and_resume_completes(tmp_path):
    scenario = tmp_path / "sweep.yaml"
    scenario.write_text(SWEEP, encoding="utf-8")
    out = tmp_path / "out"
    run = ("run", scenario, "--out", out, "--workers", "1", "-q", "--no-report")
    full = command(*run, full_after=7)
    assert full.returncode == 2, full.stderr
    line = one_line_error(full.stderr)
    assert f"results folder {out}: cannot write: No space left on device" in line
    assert line.endswith("--resume")
    assert not list(out.rglob("*.tmp"))  # no half-written file, under any name
    for path in out.rglob("*.parquet"):
        pq.read_table(path)  # each Parquet file there is whole
    assert not (out / "runs.parquet").exists()
    finished = len(list((out / "parts" / "runs").glob("*.parquet")))
    assert 1 <= finished < 6

    resumed = command(*run, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    whole = command("run", scenario, "--out", tmp_path / "whole", "--workers", "1", "-q")
    assert whole.returncode == 0, whole.stderr
    for table in ("runs", "timeseries", "cohorts", "customers"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / f"{table}.parquet"),
            pd.read_parquet(tmp_path / "whole" / f"{table}.parquet"),
        )
