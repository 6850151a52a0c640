"""Issue 23, point 7: pool workers die with the command (kill -9 included); SIGTERM stops a sweep
cleanly, and --resume completes it to the tables of an uninterrupted run.

Real processes: the command runs in a subprocess, as a user starts it. On main, the workers of a
killed command ran on, and SIGTERM left them running too.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="reads the process tree from /proc"),
]

SWEEP = """\
firms: [{name: A, strategy: clasp}, {name: B, strategy: zipper}]
simulation: {customers: 3000, periods: 36, seed: 5, replications: 40}
"""


def start(scenario: Path, out: Path, *extra: str) -> subprocess.Popen:
    """``run.py run SCENARIO --out OUT --workers 2 -q EXTRA`` in a new subprocess."""
    return subprocess.Popen(
        [sys.executable, "run.py", "run", scenario, "--out", out, "--workers", "2", "-q", *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def children(pid: int) -> set[int]:
    """Every living descendant of ``pid`` (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def finished_runs(out: Path) -> int:
    runs = out / "parts" / "runs"
    return len(list(runs.glob("*.parquet"))) if runs.is_dir() else 0


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def mid_sweep(tmp_path: Path, name: str) -> tuple[subprocess.Popen, Path, Path, set[int]]:
    """Start the sweep; return it once two runs are done, with its worker processes."""
    scenario = tmp_path / "sweep.yaml"
    scenario.write_text(SWEEP, encoding="utf-8")
    out = tmp_path / name
    command = start(scenario, out, "--no-report")
    wait_for(lambda: finished_runs(out) >= 2 or command.poll() is not None, 300, "two runs")
    assert command.poll() is None, command.communicate()
    workers = children(command.pid)
    assert len(workers) >= 2, workers  # the pool's workers (and the helpers of the pool)
    return command, scenario, out, workers


def end_leftovers(pids: set[int]) -> None:
    """Kill whatever of ``pids`` a failing test left running (by id, never by name)."""
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_kill_9_of_the_command_leaves_no_process_within_5_s(tmp_path):
    command, _, out, workers = mid_sweep(tmp_path, "killed")
    try:
        os.kill(command.pid, signal.SIGKILL)
        command.wait()
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if alive(pid)], "workers outlived their command"
        assert finished_runs(out) < 40  # it was killed mid-sweep
    finally:
        end_leftovers(workers)


def test_sigterm_stops_cleanly_and_resume_gives_the_uninterrupted_tables(tmp_path):
    command, scenario, out, workers = mid_sweep(tmp_path, "stopped")
    try:
        command.send_signal(signal.SIGTERM)
        _, err = command.communicate(timeout=60)
        assert command.returncode == 130, err
        assert "Traceback" not in err
        assert "--resume" in err.strip().splitlines()[-1]
        wait_for(lambda: not any(alive(pid) for pid in workers), 5, "the workers to end")
    finally:
        end_leftovers(workers)
    assert 2 <= finished_runs(out) < 40
    assert not (out / "runs.parquet").exists()  # the tables come only with the last run
    assert not list(out.rglob("*.tmp"))

    resumed = start(scenario, out, "--no-report", "--resume")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    whole = start(scenario, tmp_path / "whole", "--no-report")
    _, err = whole.communicate(timeout=600)
    assert whole.returncode == 0, err
    for table in ("runs", "timeseries", "cohorts", "customers"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / f"{table}.parquet"),
            pd.read_parquet(tmp_path / "whole" / f"{table}.parquet"),
        )
